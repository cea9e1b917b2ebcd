"""The synthesize pipeline with tags and data2text: inputs, selection, samples, seeds, errors, reruns."""
import glob
import json

import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_BAD_INPUT, EXIT_NOTHING_DONE, EXIT_OK, main
from pipelines.io.schemas import TRIPLETS_SCHEMA

TAGGED = [  # as `viml-synth tag` writes them: every tag with a confidence
    {"music_id": "m1", "video_id": "v1", "tags": [
        {"tag": "metal", "category": "genre", "confidence": 0.75},
        {"tag": "rock", "category": "genre", "confidence": 0.64},
        {"tag": "pop", "category": "genre", "confidence": 0.02},
        {"tag": "powerful", "category": "mood", "confidence": 0.5},
        {"tag": "electric guitar", "category": "instrument", "confidence": 0.4}]},
    {"music_id": "m2", "video_id": None, "tags": [
        {"tag": "jazz", "category": "genre", "confidence": 0.05},
        {"tag": "piano", "category": "instrument", "confidence": 0.04},
        {"tag": "calm", "category": "mood", "confidence": 0.03},
        {"tag": "sad", "category": "mood", "confidence": 0.01}]},
]


@pytest.fixture
def inputs(tmp_path):
    import pyarrow as pa

    from pipelines.io.schemas import TAG_STRUCT

    table = pa.table({"music_id": [r["music_id"] for r in TAGGED], "video_id": [r["video_id"] for r in TAGGED],
                      "tags": pa.array([r["tags"] for r in TAGGED], pa.list_(TAG_STRUCT))})
    pq.write_table(table, tmp_path / "tags-00000-of-00001.parquet")
    user = tmp_path / "user.csv"
    user.write_text('music_id,video_id,tags\n'
                    'u1,vid,"[\'low quality\', \'mellow piano melody\', \'slow tempo\']"\n'
                    'u2,,"rock, jazz"\n'
                    ',,"rock"\n'                                   # no music_id
                    'u4,,"[{""tag"": ""rock"", ""confidence"": 7}]"\n')  # bad confidence
    return tmp_path


def _rows(out, prefix="triplets"):
    return [r for f in sorted(glob.glob(f"{out}/{prefix}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def _run(*argv):
    return main(["synthesize", "--log-level", "WARNING", *argv])


def test_from_tag_output_with_samples_and_selection(inputs, tmp_path):
    out = tmp_path / "out"
    assert _run("--input", str(inputs / "tags-*.parquet"), "--out", str(out), "--samples-per-track", "3") == EXIT_OK
    rows = _rows(out)
    assert pq.read_schema(glob.glob(f"{out}/triplets-*.parquet")[0]).equals(TRIPLETS_SCHEMA)
    assert len(rows) == 2 * 2 * 3
    m1 = [r for r in rows if r["music_id"] == "m1"]
    assert {t["tag"] for t in m1[0]["tags"]} == {"metal", "rock", "powerful", "electric guitar"}  # pop < threshold
    assert all(r["video_id"] == "v1" for r in m1)
    m2 = [r for r in rows if r["music_id"] == "m2"]
    assert all(r["metadata"]["selection_fallback"] for r in m2)  # nothing passed 0.1: the top 3 were used
    assert {t["tag"] for t in m2[0]["tags"]} == {"jazz", "piano", "calm"}
    tags_texts = {r["text"] for r in m1 if r["method"] == "tags"}
    assert len(tags_texts) == 3  # each sample shuffles with its own seed
    for r in rows:
        assert r["metadata"]["fidelity"]["coverage"] == 1.0 and r["metadata"]["seed"] is not None
    d2t = [r for r in rows if r["method"] == "data2text"]
    assert all(r["metadata"]["template_version"] and r["metadata"]["template_ids"] for r in d2t)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["texts"] == 12 and summary["counts"]["adds_up"]
    assert (out / "README.md").read_text().startswith("---\nconfigs:")


def test_deterministic_and_rerun_replaces(inputs, tmp_path):
    args = ["--input", str(inputs / "tags-*.parquet"), "--seed", "3"]
    assert _run(*args, "--out", str(tmp_path / "a")) == EXIT_OK
    assert _run(*args, "--out", str(tmp_path / "a")) == EXIT_OK  # rerun into the same folder
    assert _run(*args, "--out", str(tmp_path / "b")) == EXIT_OK
    key = lambda r: (r["music_id"], r["method"], r["sample"])  # noqa: E731
    a, b = sorted(_rows(tmp_path / "a"), key=key), sorted(_rows(tmp_path / "b"), key=key)
    assert len(a) == 4 and [r["text"] for r in a] == [r["text"] for r in b]
    assert _run(*args[:2], "--seed", "4", "--out", str(tmp_path / "c")) == EXIT_OK
    assert [r["text"] for r in sorted(_rows(tmp_path / "c"), key=key)] != [r["text"] for r in a]


def test_user_file_with_bad_rows(inputs, tmp_path):
    out = tmp_path / "out"
    assert _run("--input", str(inputs / "user.csv"), "--out", str(out), "--methods", "data2text") == EXIT_OK
    rows = {r["music_id"]: r for r in _rows(out)}
    assert set(rows) == {"u1", "u2"}
    text = rows["u1"]["text"].lower()
    assert "low quality" in text and "mellow piano melody" in text and "slow tempo" in text
    assert rows["u1"]["video_id"] == "vid" and rows["u2"]["video_id"] is None
    errors = {(e["id"], e["stage"], e["error_type"]) for e in _rows(out, "errors")}
    assert errors == {(f"{inputs / 'user.csv'}:3", "input", "malformed_row"), ("u4", "input", "bad_tags")}
    counts = json.loads((out / "summary.json").read_text())["counts"]
    assert (counts["input_rows"], counts["bad_input_rows"], counts["texts"]) == (4, 2, 2)


def test_loads_with_datasets(inputs, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "out"
    assert _run("--input", str(inputs / "tags-*.parquet"), "--out", str(out)) == EXIT_OK
    ds = datasets.load_dataset("parquet", data_files=str(out / "triplets-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == 4
    assert set(ds.column_names) == {"video_id", "music_id", "method", "sample", "text", "tags", "metadata"}
    assert ds[0]["metadata"]["fidelity"]["coverage"] == 1.0


@pytest.mark.parametrize("argv,message", [
    (["--methods", "tags,poetry"], "unknown ['poetry']"),
    (["--methods", "prompt2text"], "needs --llm-base-url"),
    (["--top-k", "genre:3"], "--top-k expects category=N"),
    (["--samples-per-track", "0"], "--samples-per-track must be within [1, inf)"),
])
def test_bad_options_exit_2(inputs, tmp_path, capsys, argv, message):
    assert _run("--input", str(inputs / "user.csv"), "--out", str(tmp_path / "o"), *argv) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_broken_user_template_names_file_and_line(inputs, tmp_path, capsys):
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "genre.j2").write_text("{% template sentence.mine %}\nThis is {{ tags | join_and }\n{% endtemplate %}\n")
    assert _run("--input", str(inputs / "user.csv"), "--out", str(tmp_path / "o"), "--templates", str(folder)) \
        == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "genre.j2" in err and "line 2" in err


def test_nothing_written_exits_1(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"music_id": "x"}\n')
    assert _run("--input", str(path), "--out", str(tmp_path / "o")) == EXIT_NOTHING_DONE


def test_run_config_chains_stages(tmp_path, capsys):
    tags = tmp_path / "tags.jsonl"
    tags.write_text(json.dumps({"music_id": "a", "tags": ["rock", "piano"]}) + "\n")
    config = tmp_path / "run.yaml"
    config.write_text(f"out: {tmp_path / 'run'}\nseed: 5\ntag:\n  tagger: precomputed:{tags}\n"
                      "synthesize:\n  methods: tags,data2text,prompt2text\n  samples_per_track: 2\n")
    assert main(["run", "--config", str(config), "--log-level", "WARNING"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "skipping prompt2text: no LLM endpoint configured" in out
    record = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert set(record["stages"]) == {"tag", "synthesize"} and "prompt2text" in record["skipped"]
    assert (tmp_path / "run" / "config.yaml").read_text() == config.read_text()
    summary = json.loads((tmp_path / "run" / "triplets" / "summary.json").read_text())
    assert summary["seed"] == 5 and summary["counts"]["texts"] == 4


def test_run_config_rejects_unknown_keys(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("out: x\nsynthesize:\n  methodz: tags\n")
    assert main(["run", "--config", str(config)]) == EXIT_BAD_INPUT
    assert "unknown option(s) for 'synthesize': methodz" in capsys.readouterr().err
