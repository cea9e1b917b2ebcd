"""Frame sampling: how many frames, which ones, geometry, and the reasons bad videos are rejected."""
import math

import numpy as np
import pytest

from pipelines.features.video import FrameGeometry, VideoDecodeError, sample_frames, sample_times

RAW = FrameGeometry(crop=64, resize=64, mode="pad")  # the 64x36 test frames, unscaled


@pytest.mark.parametrize("fps,start,end", [(1.0, None, None), (2.0, None, None), (1.0, 1.0, 4.0),
                                           (0.5, 2.0, 6.0), (3.0, 2.5, 3.5), (1.0, 2.2, 2.7)])
def test_count_is_duration_times_fps_and_frames_come_from_the_segment(media, video_facts, fps, start, end):
    RATE, SECONDS, frame_index = video_facts.rate, video_facts.seconds, video_facts.frame_index
    s = sample_frames(str(media["clip"]), fps, start, end, RAW)
    duration = (end or SECONDS) - (start or 0.0)
    assert len(s.frames) == len(s.timestamps) == max(1, math.floor(duration * fps))
    np.testing.assert_allclose(s.timestamps, (start or 0.0) + (np.arange(len(s.frames)) + 0.5) / fps, atol=1e-6)
    # the frame on screen at each sampling time (frame k is shown from k / RATE on)
    assert [frame_index(f) for f in s.frames] == [math.floor(t * RATE + 1e-6) for t in s.timestamps]
    assert (s.start_s, s.end_s) == (start or 0.0, end or SECONDS)
    assert s.source["width"] == 64 and s.source["fps"] == RATE


def test_end_past_the_video_is_clamped_and_max_frames_spreads_samples(media, video_facts):
    SECONDS, frame_index = video_facts.seconds, video_facts.frame_index
    s = sample_frames(str(media["clip"]), 1.0, 4.0, 60.0, RAW)
    assert s.end_s == SECONDS and len(s.frames) == 2
    capped = sample_frames(str(media["clip"]), 10.0, None, None, RAW, max_frames=3)
    np.testing.assert_allclose(capped.timestamps, [1.0, 3.0, 5.0])
    assert [frame_index(f) for f in capped.frames] == [10, 30, 50]


def test_sample_times():
    np.testing.assert_allclose(sample_times(10.0, 20.0, 1.0), np.arange(10) + 10.5)
    assert len(sample_times(0.0, 0.2, 1.0)) == 1  # shorter than a slot: one frame in the middle
    assert len(sample_times(0.0, 10.0, 2.5)) == 25


def test_geometry_for_wide_frames(media):
    center = sample_frames(str(media["clip"]), 1.0, geometry=FrameGeometry(crop=24, resize=30, mode="center"))
    assert center.frames.shape[1:] == (24, 24, 3)
    assert FrameGeometry(224, 256).scaled_size(1280, 720) == (455, 256)  # short side 256, then centre crop 224
    assert FrameGeometry(224, 256, "pad").scaled_size(1280, 720) == (224, 126)
    padded = sample_frames(str(media["clip"]), 1.0, 3.0, 4.0,
                           FrameGeometry(crop=32, resize=32, mode="pad", fill=(7, 7, 7)))
    frame = padded.frames[0]  # 64x36 -> 32x18 picture, 7 rows of fill above and below
    assert frame.shape == (32, 32, 3)
    assert (frame[:7] == 7).all() and (frame[-7:] == 7).all()
    assert abs(int(frame[16, 16, 0]) - 4 * 35) <= 2
    with pytest.raises(ValueError):
        FrameGeometry(mode="stretch")


@pytest.mark.parametrize("name,reason", [("empty", "empty_file"), ("text", "not_video"), ("wav", "no_video_stream"),
                                         ("truncated", "corrupt")])
def test_bad_videos_have_reasons(media, name, reason):
    with pytest.raises(VideoDecodeError) as err:
        sample_frames(str(media[name]), 1.0)
    assert err.value.reason == reason and str(media[name]) in str(err.value)


def test_missing_file_and_bad_segments(media, tmp_path):
    cases = [(str(tmp_path / "nope.mp4"), None, None, "missing_file"),
             (str(tmp_path), None, None, "missing_file"),
             (str(media["clip"]), 7.0, None, "bad_segment"),  # starts after the 6 s video
             (str(media["clip"]), 3.0, 2.0, "bad_segment"),
             (str(media["clip"]), -1.0, None, "bad_segment")]
    for path, start, end, reason in cases:
        with pytest.raises(VideoDecodeError) as err:
            sample_frames(path, 1.0, start, end)
        assert err.value.reason == reason, (path, start, end, err.value)


def test_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(VideoDecodeError("corrupt", "broken", "x.mp4")))
    assert (err.reason, str(err), err.uri) == ("corrupt", "broken", "x.mp4")


def test_cut_or_damaged_video_with_index_at_the_front_is_corrupt(tmp_path):
    import av

    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for i in range(60):  # noise: every frame costs bytes, so a cut loses frames
            image = np.random.default_rng(i).integers(0, 255, (36, 64, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = path.read_bytes()
    assert len(sample_frames(str(path), 1.0).frames) == 6
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    garbled = bytearray(data)
    garbled[len(data) // 2:len(data) // 2 + 3000] = np.random.default_rng(7).integers(0, 256, 3000, np.uint8).tobytes()
    (tmp_path / "garbled.mp4").write_bytes(bytes(garbled))
    for name in ("cut.mp4", "garbled.mp4"):
        with pytest.raises(VideoDecodeError) as err:
            sample_frames(str(tmp_path / name), 1.0)
        assert err.value.reason == "corrupt"
    # a segment before the damage is still usable
    assert len(sample_frames(str(tmp_path / "cut.mp4"), 1.0, 0.0, 2.0).frames) == 2
