"""The whole features pipeline (FnApiRunner): the data contract, errors with reasons, counts that add
up, the "" row, reruns that replace instead of duplicating, and the CLI."""
import argparse
import glob
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.features.encoders import music_encoder, text_encoder, video_encoder
from pipelines.features.manifests import read_video_manifest
from pipelines.features.pipeline import FeaturesJob, NothingProduced, run
from pipelines.features.schemas import FORMAT, MUSIC_SCHEMA, TEXT_SCHEMA, VIDEO_SCHEMA
from pipelines.io.manifest import read_manifest
from pipelines.io.schemas import ERRORS_SCHEMA, TRIPLETS_SCHEMA

TEXTS = ["rock with loud guitars", "a calm piano piece", "rock with loud guitars", None, "happy pop"]


@pytest.fixture(scope="module")
def inputs(media, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("features_inputs")
    (d / "videos.csv").write_text(
        "video_id,video_path,start_s,end_s\n"
        f"seg,{media['clip']},1,4\n"
        f"silent,{media['silent_video']},,\n"
        f"gone,{d / 'gone.mp4'},,\n"
        f"text,{media['text']},,\n"
        f"sound,{media['wav']},,\n"
        f"late,{media['clip']},10,20\n"
        f"backwards,{media['clip']},5,2\n"
        f"seg,{media['clip']},0,1\n")
    (d / "music.csv").write_text(
        "music_id,audio_path,start_s,end_s\n"
        f"m_clip,{media['clip']},0,6\n"
        f"m_tone,{media['wav']},,\n"
        f"m_silent,{media['silent_video']},,\n"
        f"m_gone,{d / 'gone.wav'},,\n")
    rows = [{"video_id": "seg", "music_id": "m_clip", "method": "tags", "sample": i, "text": t, "tags": [],
             "metadata": None} for i, t in enumerate(TEXTS)]
    for shard in (0, 1):  # two shards; the duplicate text is in both
        pq.write_table(pa.Table.from_pylist(rows[shard::2] + rows[:1], schema=TRIPLETS_SCHEMA),
                       d / f"triplets-0000{shard}-of-00002.parquet")
    return d


def _job(inputs: Path, out: Path, **kw) -> FeaturesJob:
    defaults = dict(videos=read_video_manifest(str(inputs / "videos.csv")),
                    music=read_manifest(str(inputs / "music.csv")),
                    triplets=str(inputs / "triplets-*.parquet"), video_encoder=video_encoder(fps=1.0),
                    music_encoder=music_encoder(), text_encoder=text_encoder(), batch_frames=4)
    defaults.update(kw)
    return FeaturesJob(out_dir=str(out), **defaults)


def _rows(out: Path, prefix: str) -> list[dict]:
    files = sorted(glob.glob(str(out / f"{prefix}-*.parquet")))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _errors(out: Path, modality: str) -> dict[str, tuple[str, str]]:
    return {r["id"]: (r["stage"], r["error_type"]) for r in _rows(out, f"errors-{modality}")}


@pytest.fixture(scope="module")
def default_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("features_out") / "features"
    return out, run(_job(inputs, out))


def test_writes_the_data_contract(default_run):
    out, _ = default_run
    for prefix, schema in (("video", VIDEO_SCHEMA), ("music", MUSIC_SCHEMA), ("text", TEXT_SCHEMA),
                           ("errors-video", ERRORS_SCHEMA), ("errors-music", ERRORS_SCHEMA),
                           ("errors-text", ERRORS_SCHEMA)):
        files = glob.glob(str(out / f"{prefix}-*.parquet"))
        assert files, prefix
        assert all(pq.read_schema(f).remove_metadata().equals(schema) for f in files), prefix
    assert not list(out.glob(".staging-*"))

    videos = {r["video_id"]: r for r in _rows(out, "video")}
    assert set(videos) == {"seg", "silent"}
    assert np.asarray(videos["seg"]["features"]).shape == (3, 1280)  # 1..4 s at 1 fps
    assert videos["seg"]["timestamps"] == [1.5, 2.5, 3.5] and videos["seg"]["n_frames"] == 3
    assert np.asarray(videos["silent"]["features"]).shape == (3, 1280)  # the whole 3 s video
    assert (videos["silent"]["start_s"], videos["silent"]["end_s"]) == (0.0, 3.0)
    music = {r["music_id"]: r for r in _rows(out, "music")}
    assert set(music) == {"m_clip", "m_tone"}
    assert np.asarray(music["m_clip"]["features"]).shape == (2, 200)  # 6 s -> two 3 s patches
    assert np.asarray(music["m_tone"]["features"]).shape == (1, 200)
    texts = {r["text"]: np.asarray(r["features"]) for r in _rows(out, "text")}
    assert set(texts) == {"", "rock with loud guitars", "a calm piano piece", "happy pop"}  # "" = dropout NULL
    assert all(v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-4 for v in texts.values())


def test_features_equal_the_encoders_applied_directly(default_run, media):
    from pipelines.features.manifests import VideoRequest

    out, _ = default_run
    enc = video_encoder(fps=1.0)
    prepared = enc.prepare(VideoRequest("seg", str(media["clip"]), 1.0, 4.0))
    direct = enc.encode(enc.load(), prepared.units)
    written = np.asarray({r["video_id"]: r for r in _rows(out, "video")}["seg"]["features"], dtype=np.float32)
    np.testing.assert_allclose(written, direct, rtol=1e-4, atol=1e-4)
    texts = {r["text"]: np.asarray(r["features"], dtype=np.float32) for r in _rows(out, "text")}
    t = text_encoder()
    np.testing.assert_allclose(np.stack([texts[""], texts["happy pop"]]), t.encode(t.load(), ["", "happy pop"]),
                               atol=1e-5)


def test_bad_inputs_are_in_errors_with_reasons(default_run):
    out, summary = default_run
    assert _errors(out, "video") == {
        "gone": ("prepare_video", "missing_file"), "text": ("prepare_video", "not_video"),
        "sound": ("prepare_video", "no_video_stream"), "late": ("prepare_video", "bad_segment"),
        "backwards": ("manifest", "malformed_row"), "seg": ("manifest", "duplicate_id")}
    assert _errors(out, "music") == {"m_silent": ("prepare_music", "not_audio"),
                                     "m_gone": ("prepare_music", "missing_file")}
    assert _errors(out, "text") == {}
    ref = json.loads([r for r in _rows(out, "errors-video") if r["id"] == "gone"][0]["input_ref"])
    assert ref["row"] == 3 and ref["video_path"].endswith("gone.mp4")


def test_summary_counts_add_up_and_encoders_are_described(default_run):
    out, summary = default_run
    assert summary == {k: v for k, v in json.loads((out / "summary.json").read_text()).items() if k != "_commit"}
    v, m, t = (summary["modalities"][k] for k in ("video", "music", "text"))
    assert (v["inputs"], v["encoded"], v["failed"], v["frames"]) == (8, 2, 6, 6)
    assert (m["inputs"], m["encoded"], m["failed"], m["segments"]) == (4, 2, 2, 3)
    assert (t["inputs"], t["encoded"], t["failed"], t["triplet_rows"]) == (4, 4, 0, 7)
    assert t["null_text_row"] is True and t["null_texts_skipped"] == 1
    assert all(s["adds_up"] for s in (v, m, t))
    assert v["errors_by_type"] == {"bad_segment": 1, "duplicate_id": 1, "malformed_row": 1, "missing_file": 1,
                                   "no_video_stream": 1, "not_video": 1}
    encoders = json.loads((out / "encoders.json").read_text())
    assert encoders["format"] == FORMAT
    video = encoders["video"]
    assert (video["name"], video["dim"], video["fps"]) == ("efficientnet-lite0", 1280, 1.0)
    assert encoders["video"]["geometry"] == {"crop": 224, "resize": 256, "mode": "center", "fill": [127, 127, 127]}
    assert len(encoders["video"]["weights_sha256"]) == 64
    assert (encoders["music"]["name"], encoders["music"]["dim"]) == ("musicnn:MSD_musicnn:penultimate", 200)
    assert (encoders["text"]["name"], encoders["text"]["dim"], encoders["text"]["rows"]) == ("minilm", 384, 4)


def test_text_only_rerun_replaces_texts_and_keeps_the_other_modalities(default_run, inputs, tiny_clip):
    out, _ = default_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")
              if not p.name.startswith(("text", "errors-text"))}
    for _ in range(2):  # twice: a rerun must not duplicate rows
        summary = run(_job(inputs, out, videos=None, music=None, text_encoder=text_encoder(f"clip:{tiny_clip}")))
    texts = _rows(out, "text")
    assert len(texts) == 4 and {len(r["features"]) for r in texts} == {8}
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")
             if not p.name.startswith(("text", "errors-text"))}
    assert after == before  # video and music files untouched
    encoders = json.loads((out / "encoders.json").read_text())
    assert encoders["text"]["name"] == f"clip:{tiny_clip}" and encoders["text"]["dim"] == 8
    assert encoders["video"]["name"] == "efficientnet-lite0" and encoders["music"]["dim"] == 200
    assert set(summary["modalities"]) == {"video", "music", "text"}
    assert summary["modalities"]["text"]["encoder"] == f"clip:{tiny_clip}"
    assert summary["modalities"]["video"]["encoded"] == 2  # from the first run


def test_clip_frames_and_transformers_audio_through_the_pipeline(inputs, tmp_path, tiny_clip, tiny_audio_model):
    job = _job(inputs, tmp_path / "f", triplets=None,
               video_encoder=video_encoder(f"clip:{tiny_clip}", fps=2.0, crop="pad"),
               music_encoder=music_encoder(f"hf:{tiny_audio_model}", segment_s=2.0))
    summary = run(job)
    videos = {r["video_id"]: np.asarray(r["features"]) for r in _rows(tmp_path / "f", "video")}
    assert videos["seg"].shape == (6, 8) and videos["silent"].shape == (6, 8)
    music = {r["music_id"]: np.asarray(r["features"]) for r in _rows(tmp_path / "f", "music")}
    assert music["m_clip"].shape == (3, 16) and music["m_tone"].shape == (2, 16)
    assert summary["modalities"]["video"]["frames"] == 6 + 6
    assert not (tmp_path / "f" / "text-00000-of-00001.parquet").exists()


def test_a_modality_whose_inputs_all_fail_is_reported(tmp_path, media):
    (tmp_path / "v.csv").write_text(f"video_id,video_path\na,{tmp_path / 'nope.mp4'}\nb,{media['text']}\n")
    job = FeaturesJob(out_dir=str(tmp_path / "out"), videos=read_video_manifest(str(tmp_path / "v.csv")),
                      video_encoder=video_encoder())
    with pytest.raises(NothingProduced, match="video") as failure:
        run(job)
    # nothing is committed (there was nothing to keep either); the report is in failed-run/ and on stderr
    assert "1 x missing_file: e.g." in str(failure.value) and not (tmp_path / "out" / "summary.json").exists()
    summary = json.loads((tmp_path / "out" / "failed-run" / "summary.json").read_text())
    assert summary["modalities"]["video"]["failed"] == 2 and summary["modalities"]["video"]["adds_up"]


# ------------------------------------------------------------------------------------------------ CLI

def _parse(argv):
    from pipelines.features.cli import add_features_parser

    parser = argparse.ArgumentParser(prog="viml-synth")
    add_features_parser(parser.add_subparsers(dest="command"))
    return parser.parse_known_args(["features", *argv])


def test_cli_options_and_bad_inputs(inputs, tmp_path):
    args, extra = _parse(["--triplets", str(inputs / "triplets-*.parquet"), "--out", str(tmp_path / "o"),
                          "--text-encoder", "minilm", "--fps", "2", "--batch-texts", "8"])
    assert (args.fps, args.batch_texts, args.video_encoder, args.music_encoder, args.frame_crop) == \
        (2.0, 8, "efficientnet-lite0", "musicnn", "center")
    bad = [[], ["--out", str(tmp_path)],
           ["--out", str(tmp_path), "--triplets", str(tmp_path / "none-*.parquet")],
           ["--out", str(tmp_path), "--triplets", str(inputs / "videos.csv")],
           ["--out", str(tmp_path), "--videos", str(inputs / "nope.csv")],
           ["--out", str(tmp_path), "--videos", str(inputs / "music.csv")],
           ["--out", str(tmp_path), "--videos", str(inputs / "videos.csv"), "--video-encoder", "vgg"],
           ["--out", str(tmp_path), "--videos", str(inputs / "videos.csv"), "--frame-crop", "center", "--fps", "0"],
           ["--out", str(tmp_path), "--triplets", str(inputs / "triplets-*.parquet"), "--text-encoder",
            f"clip:{tmp_path / 'no-model'}"],
           ["--out", str(tmp_path), "--music", str(inputs / "music.csv"), "--batch-patches", "0"]]
    for argv in bad:
        args, extra = _parse(argv)
        with pytest.raises(ValueError):
            args.func(args, extra)


def test_cli_runs_text_only(inputs, tmp_path, tiny_clip, capsys):
    args, extra = _parse(["--triplets", str(inputs / "triplets-*.parquet"), "--out", str(tmp_path / "o"),
                          "--text-encoder", f"clip:{tiny_clip}", "--log-level", "WARNING"])
    assert args.func(args, extra) == 0
    assert "text: 4 of 4 encoded" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["options"]["text_encoder"] == f"clip:{tiny_clip}"


def test_a_rerun_whose_video_inputs_all_fail_keeps_the_previous_video_features(tmp_path, media, inputs):
    """Issue 8, defect 3 per modality: the music features are replaced, the video ones are kept."""
    from pipelines.io.outputs import committed_files

    out = tmp_path / "out"
    run(_job(inputs, out, triplets=None))
    videos_before = committed_files(str(out), "video")
    (tmp_path / "bad.csv").write_text(f"video_id,video_path\nx,{tmp_path / 'nope.mp4'}\n")
    with pytest.raises(NothingProduced, match="no video features") as failure:
        run(_job(inputs, out, triplets=None, videos=read_video_manifest(str(tmp_path / "bad.csv"))))
    assert "were kept" in str(failure.value) and "1 x missing_file" in str(failure.value)
    assert committed_files(str(out), "video") == videos_before and all(Path(f).exists() for f in videos_before)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modalities"]["video"]["encoded"] == 2  # the section of the run whose files are kept
    assert glob.glob(str(out / "failed-run" / "errors-video-*.parquet"))
