"""Inputs read, validated and de-duplicated inside the pipeline, with every row accounted for (issue 9 §1,
issue 8 defects 5, 8 and 11), at a few thousand rows."""
import glob
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_BAD_INPUT, EXIT_NOTHING_DONE, EXIT_OK, main

N = 3000


def _rows(out, prefix):
    from pipelines.io.outputs import committed_files

    return [r for f in committed_files(str(out), prefix) for r in pq.read_table(f).to_pylist()]


def _synthesize(*argv):
    return main(["synthesize", "--log-level", "WARNING", "--methods", "tags", *argv])


@pytest.fixture
def big_jsonl(tmp_path):
    """N rows: every 10th repeats an earlier music_id with other tags, every 50th is broken JSON, every
    75th has no music_id."""
    lines = []
    for i in range(N):
        if i % 50 == 49:
            lines.append("{broken")
        elif i % 75 == 74:
            lines.append(json.dumps({"tags": ["rock"]}))
        elif i % 10 == 9:
            lines.append(json.dumps({"music_id": f"m{i - 9}", "tags": ["jazz", "second"]}))
        else:
            lines.append(json.dumps({"music_id": f"m{i}", "tags": ["rock", "first"]}))
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected = {"broken": sum(1 for i in range(N) if i % 50 == 49),
                "no_id": sum(1 for i in range(N) if i % 50 != 49 and i % 75 == 74),
                "dup": sum(1 for i in range(N) if i % 50 != 49 and i % 75 != 74 and i % 10 == 9
                           and (i - 9) % 50 != 49 and (i - 9) % 75 != 74)}
    return path, expected


def test_synthesize_duplicates_first_wins_and_rows_add_up(big_jsonl, tmp_path):
    path, expected = big_jsonl
    out = tmp_path / "out"
    assert _synthesize("--input", str(path), "--out", str(out)) == EXIT_OK
    triplets, errors = _rows(out, "triplets"), _rows(out, "errors")
    keys = [(r["music_id"], r["method"], r["sample"]) for r in triplets]
    assert len(keys) == len(set(keys))  # defect 5: one text per (music_id, method, sample)
    assert all("first" in r["text"] for r in triplets)  # the first occurrence won, never the later one
    kinds = {}
    for e in errors:
        kinds[e["error_type"]] = kinds.get(e["error_type"], 0) + 1
    assert kinds["duplicate_id"] == expected["dup"]
    assert kinds["malformed_row"] == expected["broken"] + expected["no_id"]
    dup = next(e for e in errors if e["error_type"] == "duplicate_id")
    assert "was already used by row" in dup["message"] and dup["stage"] == "input"
    summary = json.loads((out / "summary.json").read_text())
    c = summary["counts"]
    assert c["input_rows"] == N  # from Beam's metrics, not a count the launcher made
    assert c["input_rows"] == len(triplets) + len(errors) and c["adds_up"]


def test_synthesize_nan_music_id_is_an_error_row(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"music_id": [1.0, float("nan"), 3.0], "tags": [["rock"], ["jazz"], ["pop"]]}), path)
    out = tmp_path / "out"
    assert _synthesize("--input", str(path), "--out", str(out)) == EXIT_OK
    assert sorted(r["music_id"] for r in _rows(out, "triplets")) == ["1.0", "3.0"]  # never "nan"
    (error,) = _rows(out, "errors")
    assert error["error_type"] == "malformed_row" and "music_id is nan" in error["message"]


def test_synthesize_duplicates_across_files_keep_the_first_file(tmp_path):
    for n, tag in ((0, "first"), (1, "second")):
        (tmp_path / f"part-{n}.jsonl").write_text(json.dumps({"music_id": "same", "tags": ["rock", tag]}) + "\n")
    out = tmp_path / "out"
    assert _synthesize("--input", str(tmp_path / "part-*.jsonl"), "--out", str(out)) == EXIT_OK
    (text,) = _rows(out, "triplets")
    assert "first" in text["text"]
    (error,) = _rows(out, "errors")
    assert error["error_type"] == "duplicate_id" and "part-0.jsonl" in error["message"]


@pytest.mark.parametrize("name,content,message", [
    ("fake.parquet", b"PAR1 this is not parquet", "fake.parquet is not a readable Parquet file"),
    ("latin.csv", "music_id,tags\nx,caf\u00e9\n".encode("latin-1"), "latin.csv is not UTF-8 text"),
    ("cols.csv", b"music_id,labels\nx,rock\n", r"cols.csv needs the column(s) tags"),
    ("first.jsonl", b'{"id": "x", "tags": ["rock"]}\n', "first.jsonl needs the column(s) music_id"),
])
def test_synthesize_unusable_input_exits_2_naming_the_file(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    assert _synthesize("--input", str(path), "--out", str(tmp_path / "o")) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # checked before the pipeline started


def test_tag_missing_required_column_exits_2(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("music_id,path\na,a.ogg\n")
    assert main(["tag", "--manifest", str(manifest), "--out", str(tmp_path / "o"), "--log-level", "ERROR"]) \
        == EXIT_BAD_INPUT
    assert "m.csv needs the column(s) audio_path" in capsys.readouterr().err


def test_tag_thousands_of_rows_add_up(tmp_path):
    """Precomputed tags (no audio) for N rows with duplicates and bad rows: tags + errors == inputs."""
    lines = []
    for i in range(N):
        if i % 40 == 39:
            lines.append(json.dumps({"music_id": f"t{i - 1}", "tags": ["jazz"]}))  # duplicate
        elif i % 60 == 59:
            lines.append(json.dumps({"music_id": f"t{i}", "tags": [{"tag": "rock", "confidence": 5}]}))  # bad tags
        else:
            lines.append(json.dumps({"music_id": f"t{i}", "tags": ["rock"]}))
    path = tmp_path / "tags.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["tag", "--tagger", f"precomputed:{path}", "--out", str(out), "--log-level", "ERROR"]) == EXIT_OK
    tags, errors = _rows(out, "tags"), _rows(out, "errors")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["inputs"] == N == len(tags) + len(errors)
    assert len({r["music_id"] for r in tags}) == len(tags)
    by_type = summary["counts"]["errors_by_type"]
    assert by_type["duplicate_id"] == sum(1 for i in range(N) if i % 40 == 39 and (i - 1) % 60 != 59)


def test_nothing_succeeded_stderr_has_counts_and_an_example_per_type(tmp_path, capsys):
    """Defect 8: not only "see errors-*.parquet"."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"music_id": "a", "tags": [{"tag": "rock", "confidence": 9}]}\n{broken\n'
                    '{"music_id": "b", "tags": []}\n')
    assert _synthesize("--input", str(path), "--out", str(tmp_path / "o")) == EXIT_NOTHING_DONE
    err = capsys.readouterr().err
    assert "all 3 inputs failed" in err
    assert "2 x input/" in err and "1 x input/malformed_row: e.g." in err and "invalid JSON" in err
    assert "confidence of 'rock' must be within [0, 1]" in err

    tags = tmp_path / "tags.jsonl"
    tags.write_text('{"music_id": "a", "tags": [{"tag": "rock", "confidence": 9}]}\n{"music_id": "a"}\n')
    assert main(["tag", "--tagger", f"precomputed:{tags}", "--out", str(tmp_path / "t"),
                 "--log-level", "ERROR"]) == EXIT_NOTHING_DONE
    err = capsys.readouterr().err
    assert "all 2 inputs failed" in err and "1 x duplicate_id: e.g." in err and "1 x bad_precomputed_tags: e.g." in err
    assert glob.glob(str(tmp_path / "t" / "failed-run" / "errors-*.parquet"))


def _read(source, tmp_path, name, chunk_rows=None) -> tuple[list[str], list[str], list[int]]:
    """(items, error records, list sizes) of ReadInput, each as sorted JSON lines."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from pipelines.io.read_rows import ERRORS, ReadInput

    with beam.Pipeline(runner=FnApiRunner()) as p:
        rows = p | ReadInput(source, "input", "used", spread=False, chunk_rows=chunk_rows)
        ok = rows["ok"] | "sizes" >> beam.Map(lambda chunk: [len(chunk)] + chunk) if chunk_rows else rows["ok"]
        ok | "items" >> beam.Map(json.dumps, sort_keys=True) | "write items" >> beam.io.WriteToText(
            str(tmp_path / f"{name}-items"))
        rows[ERRORS] | "errors" >> beam.Map(json.dumps, sort_keys=True) | "write errors" >> beam.io.WriteToText(
            str(tmp_path / f"{name}-errors"))

    def lines(kind):
        return [line for f in sorted(tmp_path.glob(f"{name}-{kind}*")) for line in f.read_text().splitlines()]

    items, sizes = [], []
    for line in lines("items"):
        value = json.loads(line)
        if chunk_rows:
            sizes.append(value[0])
            items += [json.dumps(pair, sort_keys=True) for pair in value[1:]]
        else:
            items.append(line)
    return sorted(items), sorted(lines("errors")), sizes


def test_rows_read_in_lists_give_the_same_items_and_errors_as_one_by_one(big_jsonl, tmp_path):
    """ReadInput(chunk_rows=...) only groups rows: lists that split duplicates and bad rows across their
    boundaries give the same items and the same error records."""
    from pipelines.io.read_rows import check_input

    path, expected = big_jsonl
    source = check_input(str(path), None, ("music_id", "tags"), "music_id", "input")
    items, errors, _ = _read(source, tmp_path, "single")
    listed_items, listed_errors, sizes = _read(source, tmp_path, "listed", chunk_rows=7)
    assert len(errors) == sum(expected.values()) and len(items) + len(errors) == N
    assert listed_items == items and listed_errors == errors
    assert max(sizes) == 7 and len(sizes) > N // 7


def test_ids_grouped_by_bucket_find_the_same_later_occurrences():
    """Chunks group their ids by bucket (crc32, the same on every worker): later occurrences are found
    across chunks and buckets as grouping by id finds them, odd ids included."""
    from pipelines.io.read_rows import ID_BUCKETS, _ids_by_bucket, _later_in_bucket, _later_occurrences

    ids = [f"m{i % 700}" for i in range(2000)] + ["\ud800lone", "é", "\ud800lone", "", "é"]
    rows = [(order, {"source": "f", "row": order}, {"music_id": rid}) for order, rid in enumerate(ids)]
    chunks = [rows[i:i + 97] for i in range(0, len(rows), 97)]
    grouped: dict[int, list] = {}
    for chunk in chunks:
        for bucket, pairs in _ids_by_bucket(chunk, None, "music_id"):
            assert 0 <= bucket < ID_BUCKETS
            grouped.setdefault(bucket, []).append(pairs)
    by_bucket = sorted(x for group in grouped.items() for x in _later_in_bucket(group))
    by_id: dict[str, list[int]] = {}
    for order, rid in enumerate(ids):
        if rid:
            by_id.setdefault(rid, []).append(order)
    expected = sorted(x for group in by_id.items() for x in _later_occurrences(group))
    assert by_bucket == expected and len(expected) == 2000 - 700 + 2
    assert len(grouped) > ID_BUCKETS // 2  # the ids spread over the buckets


def test_two_worker_processes_write_what_one_writes(big_jsonl, tmp_path):
    """With --workers 2 the lists of rows and the record batches cross between processes (their own
    coders): the same texts, errors and counts as one worker."""
    path, _ = big_jsonl
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        assert _synthesize("--input", str(path), "--out", str(out), "--workers", workers) == EXIT_OK
        texts = sorted((r["music_id"], r["text"], json.dumps(r["metadata"], sort_keys=True))
                       for r in _rows(out, "triplets"))
        errors = sorted((e["id"], e["error_type"], e["message"]) for e in _rows(out, "errors"))
        counts = json.loads((out / "summary.json").read_text())["counts"]
        runs[workers] = (texts, errors, counts)
    assert runs["1"] == runs["2"] and len(runs["1"][0]) > 2000
