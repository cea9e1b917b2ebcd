"""Long files stream through the tag pipeline in blocks: the patches, scores and durations are those of
the whole-file path, a file found corrupt after some of its blocks left gives one error and no tags,
and --max-duration-s tags only the first N seconds."""
import glob

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from pipelines.io.manifest import ClipRequest, read_manifest
from pipelines.tag.audio import decode_audio
from pipelines.tag.backends import from_spec
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.steps import limit_duration
from pipelines.tag.vocabulary import Vocabulary

LONG_S = 40


@pytest.fixture(scope="module")
def long_files(demo_dir, tmp_path_factory):
    """A 40 s FLAC made of demo music, and a copy cut at 70 % (libsndfile fails near its end)."""
    folder = tmp_path_factory.mktemp("long")
    clip = decode_audio(str(demo_dir / "audio" / "singularity_nebula.ogg"), 22050).samples
    signal = np.tile(clip, LONG_S // 10 + 1)[: LONG_S * 22050]
    sf.write(folder / "long.flac", signal, 22050)
    data = (folder / "long.flac").read_bytes()
    (folder / "cut.flac").write_bytes(data[: int(len(data) * 0.7)])
    return folder


def test_blocks_are_the_whole_file_prepare(long_files):
    backend = from_spec("musicnn")
    clip = ClipRequest("long", str(long_files / "long.flac"))
    whole = backend.prepare(clip)
    blocks = list(backend.prepare_blocks(clip, max_units=3))
    assert [b.n_patches for b in blocks] == [3, 3, 3, 3, 1] and sum(b.n_patches for b in blocks) == whole.n_patches
    assert [(b.block, b.last) for b in blocks] == [(0, False), (1, False), (2, False), (3, False), (4, True)]
    np.testing.assert_array_equal(np.concatenate([b.features for b in blocks]), whole.features)
    assert sum(b.duration_s for b in blocks) == pytest.approx(whole.duration_s, abs=1e-9)
    excerpt = blocks[0].audio
    assert excerpt.sample_rate == 16000 and all(b.audio is None for b in blocks[1:])
    full = decode_audio(clip.audio_path, 16000).samples
    np.testing.assert_array_equal(excerpt.samples, full[: len(excerpt.samples)])
    assert len(excerpt.samples) >= 3 * 3 * 16000  # at least what block 0 covers


def _manifest(folder, rows):
    path = folder / "manifest.csv"
    path.write_text("music_id,audio_path\n" + "".join(f"{i},{p}\n" for i, p in rows))
    return read_manifest(str(path))


def _tags(out):
    return {r["music_id"]: r for f in glob.glob(f"{out}/tags-*.parquet") for r in pq.read_table(f).to_pylist()}


def _errors(out):
    return [r for f in glob.glob(f"{out}/errors-*.parquet") for r in pq.read_table(f).to_pylist()]


def test_long_file_in_blocks_tags_like_one_block_and_a_late_corruption_is_one_error(long_files, demo_dir, tmp_path):
    manifest = _manifest(long_files, [("long", long_files / "long.flac"), ("cut", long_files / "cut.flac"),
                                      ("short", demo_dir / "audio" / "wesnoth_elvish-theme.ogg")])
    backend, vocab = from_spec("musicnn"), Vocabulary.load()
    blocked = run(TagJob(manifest, backend, str(tmp_path / "blocks"), vocab, batch_clips=1))  # 3-patch blocks
    whole = run(TagJob(manifest, backend, str(tmp_path / "whole"), vocab, batch_clips=16))  # one block each
    for summary in (blocked, whole):
        assert (summary["counts"]["tagged"], summary["counts"]["failed"]) == (2, 1)
    a, b = _tags(tmp_path / "blocks"), _tags(tmp_path / "whole")
    assert a["long"]["n_patches"] == b["long"]["n_patches"] == 13
    assert a["long"]["duration_s"] == pytest.approx(b["long"]["duration_s"], abs=1e-9)
    assert a["long"]["duration_s"] == pytest.approx(LONG_S, abs=0.01)
    for music_id in ("long", "short"):
        got = [s["score"] for s in a[music_id]["tagger_scores"]]
        assert got == pytest.approx([s["score"] for s in b[music_id]["tagger_scores"]], abs=2e-6)
    errors = _errors(tmp_path / "blocks")
    assert [(e["id"], e["stage"], e["error_type"]) for e in errors] == [("cut", "prepare", "corrupt")]
    assert blocked["inference"]["elements"] > whole["inference"]["elements"]  # the blocks were separate elements


def test_max_duration_tags_only_the_first_seconds(long_files, tmp_path):
    manifest = _manifest(long_files, [("long", long_files / "long.flac")])
    summary = run(TagJob(manifest, from_spec("musicnn"), str(tmp_path / "o"), Vocabulary.load(), max_duration_s=7))
    row = _tags(tmp_path / "o")["long"]
    assert (row["n_patches"], row["end_s"]) == (2, 7.0) and row["duration_s"] == pytest.approx(7.0, abs=0.01)
    assert summary["counts"]["tagged"] == 1
    with pytest.raises(ValueError, match="max-duration-s"):
        run(TagJob(manifest, from_spec("musicnn"), str(tmp_path / "p"), Vocabulary.load(), max_duration_s=0))


def test_limit_duration_keeps_a_shorter_segment():
    clip = ClipRequest("x", "x.ogg", start_s=5.0, end_s=8.0)
    assert limit_duration(clip, 10) is clip and limit_duration(clip, None) is clip
    assert limit_duration(clip, 2).end_s == 7.0 and limit_duration(ClipRequest("y", "y.ogg"), 30).end_s == 30.0


def test_cli_max_duration(long_files, tmp_path, capsys):
    from pipelines.cli import main

    manifest = tmp_path / "m.csv"
    manifest.write_text(f"music_id,audio_path\nlong,{long_files / 'long.flac'}\n")
    assert main(["tag", "--manifest", str(manifest), "--out", str(tmp_path / "bad"), "--max-duration-s", "0"]) == 2
    assert "--max-duration-s must be > 0" in capsys.readouterr().err
    assert main(["tag", "--manifest", str(manifest), "--out", str(tmp_path / "o"), "--max-duration-s", "4"]) == 0
    row = _tags(tmp_path / "o")["long"]
    assert (row["n_patches"], row["end_s"]) == (1, 4.0)
