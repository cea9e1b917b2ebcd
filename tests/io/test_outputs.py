"""Output folders: a rerun that produces nothing keeps the previous outputs (issue 8, defect 3); leftovers
of killed runs and folders written before commit markers are handled (defect 4)."""
import glob
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_BAD_INPUT, EXIT_NOTHING_DONE, EXIT_OK, main
from pipelines.io import outputs


def _snapshot(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _good_tags(tmp_path):
    path = tmp_path / "good.jsonl"
    path.write_text("\n".join(json.dumps({"music_id": f"m{i}", "tags": ["rock", "piano"]}) for i in range(3)) + "\n")
    return path


def _tag(tags, out):
    return main(["tag", "--tagger", f"precomputed:{tags}", "--out", str(out), "--log-level", "ERROR"])


def _synthesize(inp, out, *extra):
    return main(["synthesize", "--methods", "tags", "--input", str(inp), "--out", str(out),
                 "--log-level", "ERROR", *extra])


def test_tag_rerun_where_every_row_fails_keeps_the_previous_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert _tag(_good_tags(tmp_path), out) == EXIT_OK
    before = _snapshot(out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"music_id": "x", "tags": [{"tag": "rock", "confidence": 3}]}) + "\n")
    assert _tag(bad, out) == EXIT_NOTHING_DONE
    err = capsys.readouterr().err
    assert f"the previous outputs in {out} were kept" in err and "1 x bad_precomputed_tags" in err
    assert _snapshot(out) == before  # byte for byte
    failed = json.loads((out / "failed-run" / "summary.json").read_text())
    assert failed["counts"]["failed"] == 1

    assert _tag(_good_tags(tmp_path), out) == EXIT_OK  # the next good run clears the failure report
    assert not (out / "failed-run").exists()


@pytest.mark.parametrize("content,exit_code", [
    ("", EXIT_BAD_INPUT),  # an empty file: refused before anything runs
    ("music_id,tags\n", EXIT_NOTHING_DONE),  # a header and no row: the run finds nothing to do
])
def test_synthesize_rerun_on_empty_input_keeps_the_previous_outputs(tmp_path, capsys, content, exit_code):
    out = tmp_path / "out"
    assert _synthesize(_good_tags(tmp_path), out) == EXIT_OK
    before = _snapshot(out)
    empty = tmp_path / "empty.csv"
    empty.write_text(content)
    assert _synthesize(empty, out) == exit_code
    assert _snapshot(out) == before
    if exit_code == EXIT_NOTHING_DONE:
        err = capsys.readouterr().err
        assert "there was no input row" in err and "were kept" in err


def test_synthesize_rerun_with_the_llm_down_keeps_the_texts(tmp_path, capsys):
    """The case that lost 300 texts: prompt2text with the server unreachable."""
    import socket

    out = tmp_path / "out"
    tags = _good_tags(tmp_path)
    assert _synthesize(tags, out) == EXIT_OK
    before = _snapshot(out)
    with socket.socket() as s:  # a loopback port nobody listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["synthesize", "--methods", "prompt2text", "--input", str(tags), "--out", str(out),
                 "--llm-base-url", f"http://127.0.0.1:{port}/v1", "--llm-model", "m", "--max-attempts", "1",
                 "--no-cache", "--log-level", "ERROR"]) == EXIT_NOTHING_DONE
    err = capsys.readouterr().err
    assert "3 x prompt2text/" in err and "were kept" in err
    assert _snapshot(out) == before


def test_folder_from_before_markers_is_adopted_then_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    legacy = out / "tags-00000-of-00001.parquet"
    pq.write_table(pa.table({"music_id": ["legacy"]}), legacy)
    (out / "summary.json").write_text(json.dumps({"stage": "tag"}))
    assert outputs.committed_files(str(out), "tags") == [str(legacy)]
    assert _tag(_good_tags(tmp_path), out) == EXIT_OK
    assert not legacy.exists()
    ids = {r["music_id"] for f in outputs.committed_files(str(out), "tags") for r in pq.read_table(f).to_pylist()}
    assert ids == {"m0", "m1", "m2"}


def test_next_run_removes_what_a_killed_run_left(tmp_path):
    out = tmp_path / "out"
    assert _tag(_good_tags(tmp_path), out) == EXIT_OK
    committed = outputs.committed_files(str(out), "tags")
    (out / ".staging-20260101T000000-deadbeef" / "beam-temp-x").mkdir(parents=True)
    (out / ".staging-20260101T000000-deadbeef" / "beam-temp-x" / "part").write_text("half")
    stray = out / "tags-00000-of-00001.run-20260101T000000-deadbeef.parquet"
    shutil.copy(committed[0], stray)  # moved in by a run killed before its switch
    (out / "summary.json.tmp-0badc0de").write_text("{")
    assert outputs.resolve_inputs(str(out / "tags-*.parquet")) == committed  # readers skip the stray file
    assert _tag(_good_tags(tmp_path), out) == EXIT_OK
    assert not stray.exists() and not list(out.glob(".staging-*")) and not list(out.glob("*.tmp-*"))
    assert sorted(glob.glob(str(out / "tags-*.parquet"))) == outputs.committed_files(str(out), "tags")


def test_features_rerun_of_one_modality_keeps_the_others_committed(tmp_path):
    """Marker sections merge: committing `text` keeps the `video` files and their summary section."""
    out = tmp_path / "out"
    out.mkdir()
    for prefixes, ids in ((["video", "errors-video"], ["v"]), (["text", "errors-text"], ["t"])):
        staging = out / f".staging-{prefixes[0]}"
        staging.mkdir()
        pq.write_table(pa.table({"id": ids}), staging / f"{prefixes[0]}-00000-of-00001.parquet")
        pq.write_table(pa.table({"id": pa.array([], pa.string())}), staging / f"{prefixes[1]}-00000-of-00001.parquet")
        run = outputs.StagedRun(str(out), str(staging), f"r{prefixes[0]}", prefixes,
                                staged={p: outputs.stage_files(str(staging), p) for p in prefixes})
        outputs.commit(run, prefixes, {"stage": "features", "last": prefixes[0]}, {"encoders.json": {"x": prefixes[0]}})
    assert [p.rsplit("/", 1)[-1] for p in outputs.committed_files(str(out), "video")] == \
        ["video-00000-of-00001.run-rvideo.parquet"]
    assert len(outputs.committed_files(str(out), "text")) == 1
    assert json.loads((out / "encoders.json").read_text()) == {"x": "text"}
    assert sorted(outputs.read_marker(str(out))["files"]) == ["errors-text", "errors-video", "text", "video"]
