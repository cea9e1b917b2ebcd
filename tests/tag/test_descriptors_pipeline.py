"""The tag pipeline writes a `descriptors` struct per clip, measured on the audio the tagger decoded."""
import glob
import json

import pyarrow.parquet as pq
import pytest
import soundfile as sf

from pipelines.io.manifest import read_manifest
from pipelines.io.schemas import TAGS_SCHEMA
from pipelines.tag.backends import from_spec
from pipelines.tag.descriptors_synth import synth_clip
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.vocabulary import Vocabulary


def _rows(out):
    return {r["music_id"]: r for f in sorted(glob.glob(f"{out}/tags-*.parquet")) for r in pq.read_table(f).to_pylist()}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, demo_dir):
    folder = tmp_path_factory.mktemp("descriptors")
    # written at 44.1 kHz: the pipeline decodes it to musicnn's 16 kHz, and descriptors see that audio
    sf.write(folder / "known.wav", synth_clip(120, 9, "minor", seconds=10, sr=44100, seed=4), 44100)
    (folder / "m.csv").write_text("music_id,audio_path\n"
                                  f"known,{folder / 'known.wav'}\n"
                                  f"demo,{demo_dir / 'audio' / 'wesnoth_battle-epic.ogg'}\n"
                                  "missing,nowhere.ogg\n")
    return str(folder / "m.csv")


def test_descriptors_beside_the_tags(manifest, tmp_path):
    summary = run(TagJob(read_manifest(manifest), from_spec("musicnn"), str(tmp_path / "out"), Vocabulary.load()))
    assert summary["counts"]["tagged"] == 2 and summary["counts"]["failed"] == 1
    assert summary["descriptors"] == {"groups": ["tempo", "key", "loudness", "danceability", "dynamics", "onsets"],
                                      "failed": {}}
    assert pq.read_schema(glob.glob(f"{tmp_path}/out/tags-*.parquet")[0]).equals(TAGS_SCHEMA)
    rows = _rows(tmp_path / "out")
    known = rows["known"]["descriptors"]
    assert known["bpm"] == pytest.approx(120, rel=0.04) and known["key"] == "A minor"
    assert known["errors"] == [] and known["loudness_lufs"] < 0 and known["danceability"] > 0
    assert rows["demo"]["descriptors"]["key"] and rows["demo"]["descriptors"]["bpm"] > 0
    assert len(rows["known"]["tags"]) == 89  # tagging unchanged

    from pipelines.tag.show import top_tags_table

    table = top_tags_table(str(tmp_path / "out"))
    assert "-- measured from the audio --" in table
    known_line = next(line for line in table.splitlines()[table.splitlines().index("-- measured from the audio --"):]
                      if line.startswith("known"))
    assert f"{known['bpm']:.0f} BPM, A minor," in known_line


def test_descriptors_none_and_a_subset(manifest, tmp_path):
    run(TagJob(read_manifest(manifest), from_spec("musicnn"), str(tmp_path / "none"), Vocabulary.load(),
               descriptors=()))
    assert all(r["descriptors"] is None for r in _rows(tmp_path / "none").values())
    from pipelines.tag.show import top_tags_table

    assert "measured from the audio" not in top_tags_table(str(tmp_path / "none"))
    run(TagJob(read_manifest(manifest), from_spec("musicnn"), str(tmp_path / "key"), Vocabulary.load(),
               descriptors=("key",)))
    known = _rows(tmp_path / "key")["known"]["descriptors"]
    assert known["key"] == "A minor" and known["bpm"] is None
    summary = json.loads((tmp_path / "key" / "summary.json").read_text())
    assert summary["descriptors"]["groups"] == ["key"]


def test_cli_descriptors_option(manifest, tmp_path, capsys):
    from pipelines.cli import main

    assert main(["tag", "--manifest", manifest, "--out", str(tmp_path / "cli"), "--descriptors", "tempo",
                 "--log-level", "WARNING"]) == 0
    assert _rows(tmp_path / "cli")["known"]["descriptors"]["bpm"] == pytest.approx(120, rel=0.04)
    assert main(["tag", "--manifest", manifest, "--out", str(tmp_path / "bad"), "--descriptors", "bpm",
                 "--log-level", "WARNING"]) == 2
    assert "unknown descriptor" in capsys.readouterr().err
