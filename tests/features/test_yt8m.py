"""YT8M loaders: MusicTextClips annotations and MusicVideo-style lists -> manifests + triplets, with
missing media reported (ids decay) instead of failing."""
import csv
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.features.manifests import read_video_manifest
from pipelines.io.manifest import read_manifest
from pipelines.io.schemas import TRIPLETS_SCHEMA
from pipelines.io.yt8m import clip_id, load_musictextclips, load_musicvideo, main

SHARED_CSV = (Path(os.environ.get("VIML_SYNTH_SHARED", Path(__file__).resolve().parents[3] / "shared"))
              / "data" / "yt8m_musictextclips_train.csv")


@pytest.fixture
def clips_csv(tmp_path) -> Path:
    """Five annotation rows: two texts for one clip, a second clip of the same video, a bad row."""
    (tmp_path / "yt8m_musictextclips_LICENSE_adobe_research.txt").write_text("ADOBE RESEARCH LICENSE (test copy)\n")
    path = tmp_path / "clips.csv"
    path.write_text("video_id,start,end,text\n"
                    "AAAAAAAAAAA,78,88,A groovy soul song with soothing vocals.\n"
                    "AAAAAAAAAAA,78,88,\"Soul, RnB and a swinging beat.\"\n"
                    "AAAAAAAAAAA,100.5,110.5,Now only drums.\n"
                    "BBBBBBBBBBB,0,10,Heavy metal with screaming vocals.\n"
                    "CCCCCCCCCCC,20,10,End before start.\n")
    return path


def test_musictextclips_reports_missing_media_and_writes_triplets(clips_csv, media, tmp_path):
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    shutil.copy(media["clip"], media_dir / "AAAAAAAAAAA.mp4")
    (media_dir / "BBBBBBBBBBB.webm").write_bytes(b"")  # an empty download counts as missing
    loaded = load_musictextclips(str(clips_csv), str(media_dir))
    a1, a2 = clip_id("AAAAAAAAAAA", 78, 88), clip_id("AAAAAAAAAAA", 100.5, 110.5)
    assert (a1, a2) == ("AAAAAAAAAAA_78_88", "AAAAAAAAAAA_100.5_110.5")
    assert [v["video_id"] for v in loaded.videos] == [a1, a2] == [m["music_id"] for m in loaded.music]
    assert loaded.videos[0]["video_path"] == str(media_dir / "AAAAAAAAAAA.mp4") == loaded.music[0]["audio_path"]
    assert (loaded.videos[1]["start_s"], loaded.videos[1]["end_s"]) == (100.5, 110.5)
    assert [(m["id"], m["reason"]) for m in loaded.missing] == [("BBBBBBBBBBB_0_10", "empty file BBBBBBBBBBB.webm")]
    assert [i["row"] for i in loaded.invalid] == [5] and "after" in loaded.invalid[0]["reason"]
    assert loaded.counts() == {"rows": 5, "usable": 3, "missing_media": 1, "invalid_rows": 1, "adds_up": True,
                               "clips": 2, "clips_missing": 1, "triplets": 3}
    assert [(t["video_id"], t["sample"]) for t in loaded.triplets] == [(a1, 0), (a1, 1), (a2, 0)]

    out = tmp_path / "out"
    report = loaded.write(str(out))
    table = pq.read_table(out / "triplets-00000-of-00001.parquet")
    assert table.schema.remove_metadata().equals(TRIPLETS_SCHEMA)
    row = table.to_pylist()[1]
    assert (row["method"], row["text"], row["tags"]) == ("human", "Soul, RnB and a swinging beat.", [])
    details = json.loads(row["metadata"]["details"])
    assert (details["youtube_id"], details["row"], details["start_s"]) == ("AAAAAAAAAAA", 2, 78.0)
    assert (out / "yt8m_musictextclips_LICENSE_adobe_research.txt").is_file()  # the licence travels with the data
    assert json.loads((out / "report.json").read_text())["counts"] == report["counts"]
    missing = list(csv.DictReader(open(out / "missing.csv")))
    assert [m["youtube_id"] for m in missing] == ["BBBBBBBBBBB"]
    # the manifests are what `features` and `tag` read
    videos = read_video_manifest(str(out / "videos.csv"))
    music = read_manifest(str(out / "music.csv"))
    assert [v.video_id for v in videos.clips] == [a1, a2] and not videos.errors
    assert [(m.music_id, m.video_id, m.start_s) for m in music.clips] == [(a1, a1, 78.0), (a2, a2, 100.5)]
    assert videos.clips[0].extra == {"youtube_id": "AAAAAAAAAAA"}


def test_musictextclips_can_keep_texts_of_missing_clips(clips_csv, tmp_path):
    loaded = load_musictextclips(str(clips_csv), str(tmp_path), keep_missing_triplets=True)  # no media at all
    assert loaded.counts()["usable"] == 0 and loaded.counts()["missing_media"] == 4 and loaded.counts()["adds_up"]
    assert len(loaded.triplets) == 4 and not loaded.videos
    assert json.loads(loaded.triplets[0]["metadata"]["details"])["media_missing"] is True


def test_the_real_musictextclips_csv_without_media(tmp_path):
    if not SHARED_CSV.is_file():
        pytest.skip(f"{SHARED_CSV} not available")
    (tmp_path / "media").mkdir()
    loaded = load_musictextclips(str(SHARED_CSV), str(tmp_path / "media"))
    c = loaded.counts()
    assert (c["rows"], c["missing_media"], c["usable"], c["invalid_rows"], c["adds_up"]) == (1000, 1000, 0, 0, True)
    assert loaded.license_file and loaded.license_file.endswith("yt8m_musictextclips_LICENSE_adobe_research.txt")


def test_musicvideo_list(media, tmp_path):
    media_dir, audio_dir = tmp_path / "videos", tmp_path / "audio"
    media_dir.mkdir()
    audio_dir.mkdir()
    shutil.copy(media["clip"], media_dir / "vid1.mp4")
    shutil.copy(media["clip"], media_dir / "vid2.mkv")
    shutil.copy(media["wav"], audio_dir / "vid2.wav")
    shutil.copy(media["clip"], tmp_path / "own.mp4")
    listing = tmp_path / "musicvideo.csv"
    listing.write_text("video_id,video_path,start_s,end_s\nvid1,,,\nvid2,,5,15\nvid3,,,\nown,own.mp4,,\n"
                       "vid1,,,\n,x.mp4,,\nvid4,,abc,\n")
    loaded = load_musicvideo(str(listing), str(media_dir))
    assert [v["video_id"] for v in loaded.videos] == ["vid1", "vid2", "own"]
    assert loaded.music[1] == {"music_id": "vid2", "audio_path": str(media_dir / "vid2.mkv"), "start_s": 5.0,
                               "end_s": 15.0, "video_id": "vid2", "youtube_id": "vid2"}
    assert loaded.videos[2]["video_path"] == str(tmp_path / "own.mp4")
    assert [m["id"] for m in loaded.missing] == ["vid3"]
    assert [i["row"] for i in loaded.invalid] == [5, 6, 7]  # duplicate, no id, bad number
    assert loaded.counts()["adds_up"] and loaded.counts()["usable"] == 3
    separate = load_musicvideo(str(listing), str(media_dir), str(audio_dir))  # soundtracks in their own folder
    assert [m["audio_path"] for m in separate.music] == [str(audio_dir / "vid2.wav")]
    assert {m["id"]: m["reason"].split(":")[0] for m in separate.missing} == {
        "vid1": "audio", "vid3": "no vid3.{mp4,webm,mkv,mov,m4v,avi,flv} in " + str(media_dir), "own": "audio"}


def test_command_line(clips_csv, tmp_path, capsys):
    assert main(["musictextclips", str(clips_csv), "--media-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert "5 rows: 0 usable, 4 with missing media, 1 invalid" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["musicvideo", str(clips_csv), "--media-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
