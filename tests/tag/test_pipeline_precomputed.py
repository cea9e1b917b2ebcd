"""The tag pipeline end to end with the precomputed backend (no audio, fast)."""
import glob
import json

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.shared import Shared

from pipelines.io.manifest import read_manifest
from pipelines.io.schemas import TAGS_SCHEMA
from pipelines.tag.backends.precomputed import PrecomputedBackend
from pipelines.tag.pipeline import NothingTagged, TagJob, run
from pipelines.tag.steps import TagClips, ToTagRecord
from pipelines.tag.vocabulary import Vocabulary

ROWS = [
    {"music_id": "a", "video_id": "v1", "tags": ["rock", "Electric Guitar", "mellow piano melody"]},
    {"music_id": "b", "tags": [{"tag": "jazz", "confidence": 0.8}, {"tag": "piano", "confidence": 0.6}]},
    {"music_id": "c", "tags": [{"tag": "jazz", "confidence": 1.8}]},
    {"music_id": "a", "tags": ["pop"]},
]


@pytest.fixture
def tags_file(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\nnot json\n")
    return str(path)


def _job(path, out, **kw):
    backend = PrecomputedBackend(path)
    return TagJob(read_manifest(path, require_audio=False), backend, str(out), Vocabulary.load(), **kw)


def test_steps_with_test_pipeline(tags_file):
    backend, shared, vocab = PrecomputedBackend(tags_file), Shared(), Vocabulary.load()
    clips = read_manifest(tags_file, require_audio=False).clips
    with TestPipeline(runner=FnApiRunner()) as p:
        tagged = p | beam.Create(clips) | TagClips(backend, shared, max_units=2)
        records = tagged.tagged | beam.ParDo(ToTagRecord(backend.name, backend.label_mapping(vocab)))
        assert_that(records | "top" >> beam.Map(lambda r: (r["music_id"], r["tags"][0]["tag"], len(r["tags"]))),
                    equal_to([("a", "rock", 89), ("b", "jazz", 89)]), label="records")
        assert_that(tagged.errors | beam.Map(lambda e: (e["id"], e["stage"], e["error_type"])),
                    equal_to([("c", "prepare", "bad_precomputed_tags")]), label="errors")


def test_run_writes_outputs_summary_and_reruns_without_duplicates(tags_file, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first one's files
        summary = run(_job(tags_file, out))
    names = sorted(p.rsplit("/", 1)[-1] for p in glob.glob(f"{out}/*"))
    run_tag = f".run-{summary['run_id']}.parquet"  # only this run's files are left
    assert names == [f"errors-{step}-00000-of-00001{run_tag}" for step in ("manifest", "map", "tag")] \
        + ["summary.json", f"tags-00000-of-00001{run_tag}"]
    counts = json.loads((out / "summary.json").read_text())["counts"]
    assert counts == summary["counts"]
    assert (counts["inputs"], counts["tagged"], counts["failed"]) == (5, 2, 3)
    assert counts["errors_by_type"] == {"bad_precomputed_tags": 1, "duplicate_id": 1, "malformed_row": 1}

    tags = pq.read_table(glob.glob(f"{out}/tags-*.parquet")[0])
    assert tags.schema.equals(TAGS_SCHEMA)
    a = next(r for r in tags.to_pylist() if r["music_id"] == "a")
    assert a["video_id"] == "v1" and a["tagger"] == "precomputed:tags.jsonl"
    assert {t["tag"] for t in a["tags"] if t["confidence"] == 1.0} == {"rock", "electric guitar"}
    assert {s["label"] for s in a["tagger_scores"]} == {"rock", "Electric Guitar", "mellow piano melody"}
    errors = pq.read_table(glob.glob(f"{out}/errors-*.parquet")[0]).to_pylist()
    assert all(e["message"] and e["input_ref"] for e in errors)
    assert not glob.glob(f"{out}/.staging-*")


def test_output_loads_with_datasets(tags_file, tmp_path):
    datasets = pytest.importorskip("datasets")
    run(_job(tags_file, tmp_path / "out"))
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "out" / "tags-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert sorted(ds["music_id"]) == ["a", "b"] and len(ds[0]["tags"]) == 89


def test_nothing_tagged_is_an_error_but_still_writes_errors(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"music_id": "x", "tags": [{"tag": "rock", "confidence": 3}]}) + "\n")
    with pytest.raises(NothingTagged, match="all 1 inputs failed"):
        run(_job(str(path), tmp_path / "out"))
    # nothing committed: the run's errors and summary are in failed-run/
    assert json.loads((tmp_path / "out" / "failed-run" / "summary.json").read_text())["counts"]["failed"] == 1
    assert glob.glob(f"{tmp_path}/out/failed-run/errors-*.parquet")
