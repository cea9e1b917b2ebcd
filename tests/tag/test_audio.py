"""Tests for pipelines.tag.audio.decode_audio on real media files written by conftest.py."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from pipelines.tag.audio import REASONS, AudioDecodeError, DecodedAudio, decode_audio

LOSSLESS = ["s16_stereo_44k.wav", "float_mono_22k.wav", "u8_mono_8k.wav", "s24_5.1_48k.wav",
            "float_stereo_44k.wav", "stereo_48k.flac"]
# Lossy file -> samples of codec delay left at the start of the output (measured). 0 means the
# file says how much to trim (Vorbis/Opus granules, LAME tag, MP4 edit list, Matroska).
LOSSY_DELAY = {"stereo_44k.ogg": 0, "stereo_48k.opus": 0, "stereo_44k.mp3": 0, "mono_22k.mp3": 0,
               "cbr_noxing_44k.mp3": 1105,  # no LAME tag: encoder + decoder delay (576 + 529)
               "aac_h264.mp4": 0, "aac51_h264_faststart.mp4": 0, "aac_44k.m4a": 0,
               "aac_h264.mkv": 0, "opus_mono.webm": 0,
               "mono_22k.aac": 1024}  # raw ADTS has no edit list: the AAC priming frame stays


def decode_error(*args, **kwargs) -> AudioDecodeError:
    with pytest.raises(AudioDecodeError) as info:
        decode_audio(*args, **kwargs)
    return info.value


def file_mono(path: Path) -> np.ndarray:
    """librosa.load's view of a lossless file: its samples as float32, averaged over channels."""
    import soundfile as sf
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return np.mean(data.T, axis=0)


def correlation(x: np.ndarray, ref: np.ndarray, lag: int) -> float:
    a = x[lag:]
    n = min(len(a), len(ref))
    return float(np.dot(a[:n], ref[:n]) / (np.linalg.norm(a[:n]) * np.linalg.norm(ref[:n])))


# ------------------------------------------------------------------------------ good files

@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_files_decode_exactly_to_the_channel_mean(media, name):
    info = media[name]
    out = decode_audio(str(info["path"]), None)
    assert isinstance(out, DecodedAudio)
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert (out.sample_rate, out.source_sample_rate) == (info["sr"], info["sr"])
    assert out.source_channels == info["channels"]
    assert out.decoder == "soundfile"
    assert len(out.samples) == int(info["sr"] * info["seconds"])
    assert out.duration_s == pytest.approx(info["seconds"])
    np.testing.assert_array_equal(out.samples, file_mono(info["path"]))
    # ... which is the mean of what was written, up to the sample format's quantization step.
    step = {"u8_mono_8k.wav": 1 / 128, "s24_5.1_48k.wav": 2 ** -23}.get(name, 2 ** -15)
    np.testing.assert_allclose(out.samples, info["written"].mean(axis=1), atol=step)


@pytest.mark.parametrize("name", sorted(LOSSY_DELAY))
def test_lossy_and_video_files_decode_to_the_encoded_signal(media, chord, name):
    info = media[name]
    out = decode_audio(str(info["path"]), None)
    assert out.decoder == info["decoder"]
    assert out.samples.dtype == np.float32 and out.samples.ndim == 1
    assert (out.sample_rate, out.source_sample_rate) == (info["sr"], info["sr"])
    assert out.source_channels == info["channels"]
    # Codecs pad to whole frames (plus any delay left in): a bit more, never less.
    slack = 0.06 + LOSSY_DELAY[name] / info["sr"]
    assert info["seconds"] - 0.001 <= out.duration_s <= info["seconds"] + slack
    encoded = chord(info["sr"], info["seconds"], info["channels"]).mean(axis=1)
    assert correlation(out.samples, encoded, LOSSY_DELAY[name]) > 0.95


def test_mp3_without_xing_header_is_decoded_to_the_end(media_tools, tmp_path):
    """libsndfile guesses such an MP3's length from the first frame's bitrate and stops there
    (here: after 40 % of a VBR file); PyAV decodes until the data ends."""
    import soundfile as sf
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    vbr = tmp_path / "vbr.mp3"
    # Make the VBR bitrate vary a lot: silence first, then loud noise.
    signal = np.concatenate([np.zeros(3 * 44100), 0.5 * np.random.default_rng(0).standard_normal(
        3 * 44100)]).astype(np.float32)
    sf.write(str(vbr), signal, 44100, format="MP3")
    no_xing = media_tools.strip_xing(vbr, tmp_path / "vbr_noxing.mp3")
    with sf.SoundFile(str(no_xing)) as f:
        assert f.frames < 0.8 * len(signal)  # libsndfile's guess is far too short
    out = decode_audio(str(no_xing), None)
    assert out.decoder == "pyav"
    assert out.duration_s == pytest.approx(6.0, abs=0.1)
    assert decode_audio(str(vbr), None).decoder == "soundfile"  # with the header: libsndfile


def test_downmix_is_the_plain_mean_of_channels(make_wav):
    left = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    right = np.full(16000, 0.25, dtype=np.float32)
    out = decode_audio(str(make_wav(np.stack([left, right], axis=1))), None)
    np.testing.assert_array_equal(out.samples, ((left + right) / 2).astype(np.float32))
    assert out.source_channels == 2


@pytest.mark.parametrize("name,target", [("s16_stereo_44k.wav", 16000), ("stereo_48k.flac", 16000),
                                         ("u8_mono_8k.wav", 16000), ("aac_h264.mp4", 22050)])
def test_resampling_happens_after_downmix_with_librosa_length(media, name, target):
    from pipelines.tag.resample import resample_hq
    path = str(media[name]["path"])
    native = decode_audio(path, None)
    out = decode_audio(path, target)
    assert (out.sample_rate, out.source_sample_rate) == (target, native.sample_rate)
    assert len(out.samples) == math.ceil(len(native.samples) * target / native.sample_rate)
    np.testing.assert_array_equal(out.samples, resample_hq(native.samples, native.sample_rate,
                                                           target))
    assert out.duration_s == pytest.approx(len(out.samples) / target)


def test_target_rate_equal_to_source_rate_returns_the_native_samples(media):
    path = str(media["stereo_48k.flac"]["path"])
    np.testing.assert_array_equal(decode_audio(path, 48000).samples,
                                  decode_audio(path, None).samples)


def test_file_uri_prefix_is_a_local_path(media):
    path = media["s16_stereo_44k.wav"]["path"]
    out = decode_audio("file://" + str(path), None)
    np.testing.assert_array_equal(out.samples, file_mono(path))


def test_streaming_wav_size_placeholders_are_not_truncation(media, media_tools, tmp_path):
    set_wav_data_size = media_tools.set_wav_data_size
    src = media["s16_stereo_44k.wav"]["path"]
    unknown = set_wav_data_size(src, tmp_path / "ffff.wav", 0xFFFFFFFF)
    np.testing.assert_array_equal(decode_audio(str(unknown), None).samples, file_mono(src))
    # With 0, libsndfile reports 0 frames; PyAV reads the data to the end of the file.
    zero = set_wav_data_size(src, tmp_path / "zero.wav", 0)
    out = decode_audio(str(zero), None)
    assert out.decoder == "pyav"
    np.testing.assert_allclose(out.samples, file_mono(src), atol=1e-7)


# ------------------------------------------------------------------------------ segments

@pytest.mark.parametrize("name", ["s16_stereo_44k.wav", "stereo_48k.flac", "stereo_44k.ogg",
                                  "stereo_48k.opus", "stereo_44k.mp3"])
def test_soundfile_segment_seeks_to_the_exact_samples(media, name):
    path, sr = str(media[name]["path"]), media[name]["sr"]
    full = decode_audio(path, None).samples
    out = decode_audio(path, None, start_s=1.25, end_s=2.75)
    first = int(1.25 * sr)
    assert len(out.samples) == int(1.5 * sr)
    assert out.duration_s == pytest.approx(1.5)
    np.testing.assert_allclose(out.samples, full[first:first + len(out.samples)], atol=1e-6)


@pytest.mark.parametrize("name,max_shift_ms", [
    ("aac_h264.mp4", 0),              # timestamps in samples (time base 1/48000): exact position
    ("aac51_h264_faststart.mp4", 0),
    ("aac_h264.mkv", 1),              # Matroska stores milliseconds: position within 1 ms
    ("opus_mono.webm", 1),
])
def test_pyav_seeked_segment_matches_the_full_decode(media, name, max_shift_ms):
    """Seek + trim by timestamps. The AAC encoder used perceptual noise substitution, whose
    decoder-side noise differs after a seek, so compare by correlation, not sample by sample."""
    path, sr = str(media[name]["path"]), media[name]["sr"]
    full = decode_audio(path, None).samples
    out = decode_audio(path, None, start_s=2.0, end_s=3.0)
    assert len(out.samples) == sr
    max_shift = max_shift_ms * sr // 1000
    best = max(correlation(full[2 * sr + shift:3 * sr + shift], out.samples, 0)
               for shift in range(-max_shift, max_shift + 1))
    assert best > 0.99


@pytest.mark.parametrize("name", ["mono_22k.aac", "cbr_noxing_44k.mp3"])
def test_pyav_segment_without_index_is_counted_from_the_start(media, name):
    """No trustworthy index (ADTS, MP3 without Xing): decode from the start and count samples."""
    path, sr = str(media[name]["path"]), media[name]["sr"]
    full = decode_audio(path, None).samples
    out = decode_audio(path, None, start_s=2.0, end_s=3.0)
    np.testing.assert_array_equal(out.samples, full[2 * sr:3 * sr])


def test_segment_start_within_preroll_and_open_end(media):
    path = str(media["aac_44k.m4a"]["path"])
    full = decode_audio(path, None).samples
    out = decode_audio(path, None, start_s=0.5)
    np.testing.assert_array_equal(out.samples, full[int(0.5 * 44100):])


@pytest.mark.parametrize("name", ["s16_stereo_44k.wav", "aac_h264.mp4", "mono_22k.aac"])
def test_segment_end_beyond_the_file_is_clamped(media, name):
    path = str(media[name]["path"])
    full = decode_audio(path, None)
    out = decode_audio(path, None, start_s=3.0, end_s=60.0)
    assert out.duration_s == pytest.approx(full.duration_s - 3.0, abs=1e-3)
    assert decode_audio(path, None, end_s=math.inf).duration_s == pytest.approx(full.duration_s)


@pytest.mark.parametrize("start,end,words", [
    (-1.0, None, "start_s=-1.0"), (math.nan, None, "start_s=nan"), (None, -2.0, "end_s=-2.0"),
    (None, math.nan, "end_s=nan"), (2.0, 2.0, "must be after"), (3.0, 1.0, "must be after"),
    (math.inf, None, "finite"),
])
def test_impossible_segments_are_rejected(media, start, end, words):
    err = decode_error(str(media["s16_stereo_44k.wav"]["path"]), None, start_s=start, end_s=end)
    assert err.reason == "bad_segment"
    assert words in str(err)


@pytest.mark.parametrize("name", ["s16_stereo_44k.wav", "stereo_44k.ogg", "stereo_44k.mp3",
                                  "aac_h264.mp4", "aac_h264.mkv", "mono_22k.aac"])
def test_segment_starting_after_the_end_is_rejected(media, name):
    path = str(media[name]["path"])
    err = decode_error(path, None, start_s=4.5, end_s=6.0)
    assert err.reason == "bad_segment"
    assert "beyond the end of the audio" in str(err) and path in str(err)


def test_segment_shorter_than_minimum_is_too_short(media):
    path = str(media["stereo_48k.flac"]["path"])
    err = decode_error(path, 16000, start_s=3.5, min_duration_s=1.0)
    assert err.reason == "too_short"
    assert "0.50 s" in str(err) and "1.00 s" in str(err) and path in str(err)


# ------------------------------------------------------------------------------ bad inputs

def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.wav")
    err = decode_error(path, 16000)
    assert err.reason == "missing_file" and path in str(err) and err.uri == path


def test_directory_is_not_a_file(tmp_path):
    assert decode_error(str(tmp_path), None).reason == "missing_file"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    err = decode_error(str(path), 16000)
    assert err.reason == "empty_file" and str(path) in str(err)


@pytest.mark.parametrize("content", [
    b"artist,title\nsomeone,some song\n" * 20,
    np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8).tobytes(),
])
@pytest.mark.parametrize("suffix", [".txt", ".wav", ".mp3", ".bin"])
def test_text_and_random_bytes_are_not_audio(tmp_path, content, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    err = decode_error(str(path), 16000)
    assert err.reason == "not_audio" and str(path) in str(err)


def test_video_without_audio_stream_is_not_audio(media):
    path = str(media["video_only.mp4"]["path"])
    err = decode_error(path, 16000)
    assert err.reason == "not_audio"
    assert "no audio stream" in str(err) and "video" in str(err) and path in str(err)


@pytest.mark.parametrize("name,words", [
    # libsndfile shrinks the length to the bytes present; the RIFF header gives it away.
    ("half.wav", "WAV header announces 4.00 s of audio but the file holds 2.00 s"),
    ("half_u8.wav", "WAV header announces 4.00 s"),
    ("half_float.wav", "WAV header announces 4.00 s"),
    ("garbled_float.wav", "NaN"),
    # libsndfile raises while reading.
    ("half.flac", "decoder stopped at"),
    ("frame_cut.flac", "decoder stopped at"),
    ("garbled.flac", "lost sync"),
    # libsndfile reads these without complaint; the Ogg pages tell.
    ("half.ogg", "last Ogg page is incomplete"),
    ("page_cut.ogg", "end-of-stream"),
    ("garbled.ogg", "checksum mismatch"),
    ("half.opus", "last Ogg page is incomplete"),
    # fewer frames than the Xing header announced / an mpg123 error / an FFmpeg error
    ("half.mp3", "decoder stopped at"),
    ("garbled.mp3", "decoder failed on audio of 4.00 s: Unspecified internal error"),
    ("garbled_noxing.mp3", "decoder stopped at"),
    # FFmpeg: no moov index -> cannot open; otherwise a decode error or packets stop early.
    ("half_moov_at_end.mp4", "cannot be opened"),
    ("half_faststart.mp4", "of 4.00 s"),
    ("garbled.mp4", "decoder stopped at"),
    ("half.m4a", "cannot be opened"),
    ("half.mkv", "but the header says 4."),
    ("half.webm", "but the header says 4."),
    ("half.aac", "decoder stopped at"),
])
def test_truncated_and_damaged_files_are_corrupt(bad_media, name, words):
    path = str(bad_media[name])
    err = decode_error(path, 16000)
    assert err.reason == "corrupt", str(err)
    assert str(err).startswith(f"audio file is truncated or corrupt: {path} (")
    assert words in str(err)


def test_corrupt_beats_a_segment_inside_the_intact_part(bad_media):
    """Structural damage (missing Ogg end, short WAV data) is reported whatever the segment."""
    for name in ("half.ogg", "half.wav"):
        assert decode_error(str(bad_media[name]), None, start_s=0, end_s=0.5).reason == "corrupt"


def test_all_zero_audio_is_silent(make_wav):
    path = str(make_wav(np.zeros((16000, 2))))
    err = decode_error(path, 16000)
    assert err.reason == "silent" and path in str(err) and "-inf dBFS" in str(err)


def test_silence_threshold_is_on_the_peak_in_dbfs(make_wav):
    quiet = 10 ** (-80 / 20) * np.sin(np.linspace(0, 200 * np.pi, 16000))  # peak -80 dBFS
    path = str(make_wav(quiet))
    err = decode_error(path, None)
    assert err.reason == "silent" and "-80.0 dBFS" in str(err) and "-70.0 dBFS" in str(err)
    assert decode_audio(path, None, silence_dbfs=-90.0).duration_s == pytest.approx(1.0)


def test_silent_segment_of_a_loud_file(make_wav):
    data = np.concatenate([np.zeros(16000), 0.5 * np.ones(16000)])
    path = str(make_wav(data))
    assert decode_error(path, None, end_s=1.0).reason == "silent"
    assert decode_audio(path, None, start_s=1.0).duration_s == pytest.approx(1.0)


def test_too_short_names_both_durations(make_wav):
    path = str(make_wav(0.5 * np.ones(8000)))
    err = decode_error(path, 16000, min_duration_s=3.0)
    assert err.reason == "too_short" and path in str(err)
    assert "0.50 s" in str(err) and "3.00 s" in str(err)
    assert decode_audio(path, 16000, min_duration_s=0.5).duration_s == pytest.approx(0.5)


def test_header_only_wav_has_no_samples(make_wav):
    err = decode_error(str(make_wav(np.zeros((0, 2)))), 16000)
    assert err.reason == "too_short" and "no samples" in str(err)


def test_errors_are_value_errors_that_pickle_with_their_reason(tmp_path):
    err = decode_error(str(tmp_path / "gone.ogg"), 16000)
    assert isinstance(err, ValueError) and err.reason in REASONS
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.reason, str(again), again.uri) == (
        AudioDecodeError, err.reason, str(err), err.uri)


def test_bad_target_rate_is_a_programming_error(media):
    with pytest.raises(ValueError, match="target_sr"):
        decode_audio(str(media["s16_stereo_44k.wav"]["path"]), 0)


# ------------------------------------------------------------------------------ Beam FileSystems

@pytest.mark.parametrize("name", ["stereo_44k.ogg", "aac_h264.mp4"])
def test_non_local_uris_are_read_through_beam_filesystems(memfs, media, name):
    path = media[name]["path"]
    memfs["memtest://bucket/" + name] = path.read_bytes()
    remote = decode_audio("memtest://bucket/" + name, 16000, start_s=1.0, end_s=3.0)
    local = decode_audio(str(path), 16000, start_s=1.0, end_s=3.0)
    assert remote.decoder == local.decoder
    np.testing.assert_array_equal(remote.samples, local.samples)


def test_beam_filesystems_missing_empty_and_corrupt(memfs, bad_media):
    assert decode_error("memtest://bucket/none.wav", 16000).reason == "missing_file"
    memfs["memtest://bucket/empty.wav"] = b""
    err = decode_error("memtest://bucket/empty.wav", 16000)
    assert err.reason == "empty_file" and "memtest://bucket/empty.wav" in str(err)
    memfs["memtest://bucket/half.ogg"] = bad_media["half.ogg"].read_bytes()
    assert decode_error("memtest://bucket/half.ogg", 16000).reason == "corrupt"


def test_unknown_scheme_is_not_swallowed():
    with pytest.raises(ValueError) as info:
        decode_audio("nosuchscheme://bucket/a.wav", 16000)
    assert not isinstance(info.value, AudioDecodeError)


# ------------------------------------------------------------------------------ a real clip

def test_real_clip_decodes_like_librosa_at_16k(shared_audio):
    """A 10 s, 44.1 kHz stereo Vorbis clip from ../shared (the suite skips when it is absent)."""
    clip = str(shared_audio / "wesnoth_elvish-theme.ogg")
    out = decode_audio(clip, 16000)
    assert (out.source_sample_rate, out.source_channels, out.decoder) == (44100, 2, "soundfile")
    assert len(out.samples) == 160000 and out.duration_s == pytest.approx(10.0)
    segment = decode_audio(clip, 16000, start_s=2, end_s=5)
    assert len(segment.samples) == 48000 and segment.duration_s == pytest.approx(3.0)
    assert np.abs(segment.samples).max() > 0.01


# ------------------------------------------------------------------------------ streaming

STREAMED = ["s16_stereo_44k.wav", "stereo_48k.flac", "stereo_44k.ogg", "stereo_44k.mp3", "aac_h264.mp4",
            "aac_h264.mkv", "opus_mono.webm", "u8_mono_8k.wav"]


@pytest.mark.parametrize("name", STREAMED)
def test_stream_blocks_are_exactly_the_whole_decode(media, name):
    """Blocks (libsndfile reads 65536 frames at a time, PyAV's frames are gathered to 4000 samples)
    through soxr's streaming resampler: the same samples as the whole decode, bit for bit."""
    from pipelines.tag.audio import stream_audio

    path = str(media[name]["path"])
    whole = decode_audio(path, 16000, start_s=0.5, end_s=3.5)
    stream = stream_audio(path, 16000, start_s=0.5, end_s=3.5, block_samples=4000)
    blocks = list(stream)
    assert len(blocks) > 1
    np.testing.assert_array_equal(np.concatenate(blocks), whole.samples)
    assert (stream.sample_rate, stream.source_sample_rate, stream.decoder) == \
        (16000, whole.source_sample_rate, whole.decoder)


@pytest.mark.parametrize("block", [1, 999, 4096, 1 << 16])
@pytest.mark.parametrize("rates", [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 22050)])
def test_stream_resampler_matches_the_one_shot_resampler(block, rates):
    from pipelines.tag.resample import StreamResampler, resample_hq

    x = (np.random.default_rng(block).standard_normal(30011) * 0.2).astype(np.float32)
    resampler = StreamResampler(*rates)
    parts = [resampler.feed(x[i:i + block]) for i in range(0, len(x), block)] + [resampler.flush()]
    np.testing.assert_array_equal(np.concatenate(parts), resample_hq(x, *rates))


def test_stream_reports_silence_and_length_after_its_last_block(make_wav):
    """A stream cannot know a file is silent or too short before its end: the error comes then."""
    from pipelines.tag.audio import stream_audio

    path = str(make_wav(np.zeros((44100 * 3, 1), dtype=np.float32), sr=44100))
    stream = stream_audio(path, 16000, block_samples=8192)
    got = []
    with pytest.raises(AudioDecodeError) as info:
        for block in stream:
            got.append(block)
    assert info.value.reason == "silent" and sum(map(len, got)) == 48000


def test_stream_reports_corruption_where_the_decoder_meets_it(bad_media):
    from pipelines.tag.audio import stream_audio

    with pytest.raises(AudioDecodeError) as info:
        list(stream_audio(str(bad_media["half.flac"]), 16000, block_samples=4096))
    assert info.value.reason == "corrupt" and "decoder stopped at" in str(info.value)
