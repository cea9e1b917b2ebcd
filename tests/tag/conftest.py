"""Fixtures that write real media files (WAV/FLAC/OGG/MP3 via soundfile, MP4/MKV/WEBM/AAC via
PyAV) from a synthetic signal, plus broken variants of them, for the audio decoding tests."""
from __future__ import annotations

import struct
from functools import partial
from pathlib import Path

import numpy as np
import pytest

SECONDS = 4.0


def chord_signal(sr: int, seconds: float, channels: int) -> np.ndarray:
    """(n, channels) float32: an A-minor chord with a decaying envelope per beat plus noise
    bursts; every channel has its own gain and burst pattern so downmixing is observable."""
    t = np.arange(int(round(sr * seconds))) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    envelope = 0.4 + 0.6 * np.exp(-4 * (t % 0.5))
    rng = np.random.default_rng(sr + channels)
    out = np.empty((len(t), channels), dtype=np.float32)
    for c in range(channels):
        bursts = ((t + 0.1 * c) % 1.0 < 0.08) * rng.standard_normal(len(t)) * 0.2
        out[:, c] = (0.5 + 0.05 * c) * chord * envelope + bursts
    return np.clip(out, -0.95, 0.95)


def write_soundfile(path: Path, sr: int, channels: int, fmt: str, subtype: str,
                    seconds: float = SECONDS) -> np.ndarray:
    import soundfile as sf
    if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"libsndfile in this soundfile build cannot write {fmt}/{subtype}")
    data = chord_signal(sr, seconds, channels)
    sf.write(str(path), data, sr, format=fmt, subtype=subtype)
    return data


def _require_encoder(name: str) -> None:
    import av
    try:
        av.codec.Codec(name, "w")
    except Exception:  # av.codec.codec.UnknownCodecError
        pytest.skip(f"the FFmpeg bundled with PyAV has no {name!r} encoder")


def write_pyav(path: Path, fmt: str, audio_codec: str | None, sr: int = 48000,
               layout: str = "stereo", video_codec: str | None = None, seconds: float = SECONDS,
               options: dict | None = None) -> None:
    """Encode the chord (and an optional moving-gray video) into any FFmpeg container."""
    import av
    for codec in (audio_codec, video_codec):
        if codec:
            _require_encoder(codec)
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        audio = out.add_stream(audio_codec, rate=sr, layout=layout) if audio_codec else None
        if video_codec:
            video = out.add_stream(video_codec, rate=25)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            for i in range(int(seconds * 25)):
                image = np.full((48, 64, 3), (i * 7) % 256, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                out.mux(video.encode(frame))
            out.mux(video.encode())
        if audio is not None:
            data = chord_signal(sr, seconds, av.AudioLayout(layout).nb_channels).T
            for start in range(0, data.shape[1], 1024):
                block = np.ascontiguousarray(data[:, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = sr, start
                out.mux(audio.encode(frame))
            out.mux(audio.encode())


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def cut_before(src: Path, dst: Path, marker: bytes) -> Path:
    """Cut exactly at a frame/page boundary (the first ``marker`` after the middle)."""
    data = src.read_bytes()
    dst.write_bytes(data[:data.index(marker, len(data) // 2)])
    return dst


def garble_middle(src: Path, dst: Path, n_bytes: int = 3000) -> Path:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n_bytes] = np.random.default_rng(7).integers(0, 256, n_bytes, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def set_wav_data_size(src: Path, dst: Path, size: int) -> Path:
    """Overwrite the RIFF and data chunk sizes, like a streaming encoder's placeholders."""
    data = bytearray(src.read_bytes())
    at = data.index(b"data")
    data[4:8] = struct.pack("<I", size)
    data[at + 4:at + 8] = struct.pack("<I", size)
    dst.write_bytes(bytes(data))
    return dst


def strip_xing(src: Path, dst: Path) -> Path:
    """Hide the Xing/Info header so the MP3 frame count must be guessed from the bitrate."""
    data = src.read_bytes()
    for tag in (b"Xing", b"Info"):
        data = data.replace(tag, b"XXXX", 1)
    dst.write_bytes(data)
    return dst


class MediaSet(dict):
    """name -> entry; a file this FFmpeg/libsndfile build could not write skips only the tests
    that ask for it, with the reason."""

    def __init__(self):
        super().__init__()
        self.skipped: dict = {}

    def add(self, name: str, make) -> None:
        try:
            self[name] = make()
        except pytest.skip.Exception as e:
            self.skipped[name] = str(e)

    def __missing__(self, name):
        pytest.skip(self.skipped.get(name, f"no test file {name!r}"))


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> MediaSet:
    """name -> dict(path, sr, channels, seconds, written, decoder) for every good file."""
    d = tmp_path_factory.mktemp("media")
    files = MediaSet()

    def sf_file(name, sr, ch, fmt, subtype):
        def make():
            data = write_soundfile(d / name, sr, ch, fmt, subtype)
            return dict(path=d / name, sr=sr, channels=ch, seconds=SECONDS, written=data,
                        decoder="soundfile")
        files.add(name, make)

    def av_file(name, fmt, codec, sr, layout, channels, video=None, **kw):
        def make():
            write_pyav(d / name, fmt, codec, sr, layout, video, **kw)
            return dict(path=d / name, sr=sr, channels=channels, seconds=SECONDS, written=None,
                        decoder="pyav")
        files.add(name, make)

    sf_file("s16_stereo_44k.wav", 44100, 2, "WAV", "PCM_16")
    sf_file("float_mono_22k.wav", 22050, 1, "WAV", "FLOAT")
    sf_file("u8_mono_8k.wav", 8000, 1, "WAV", "PCM_U8")
    sf_file("s24_5.1_48k.wav", 48000, 6, "WAV", "PCM_24")
    sf_file("float_stereo_44k.wav", 44100, 2, "WAV", "FLOAT")
    sf_file("stereo_48k.flac", 48000, 2, "FLAC", "PCM_16")
    sf_file("stereo_44k.ogg", 44100, 2, "OGG", "VORBIS")
    sf_file("stereo_48k.opus", 48000, 2, "OGG", "OPUS")
    sf_file("stereo_44k.mp3", 44100, 2, "MP3", "MPEG_LAYER_III")  # libsndfile >= 1.1 writes MP3
    sf_file("mono_22k.mp3", 22050, 1, "MP3", "MPEG_LAYER_III")
    av_file("cbr_noxing_44k.mp3", "mp3", "libmp3lame", 44100, "stereo", 2,
            options={"write_xing": "0"})
    av_file("aac_h264.mp4", "mp4", "aac", 48000, "stereo", 2, video="libx264")
    av_file("aac51_h264_faststart.mp4", "mp4", "aac", 48000, "5.1", 6, video="libx264",
            options={"movflags": "faststart"})
    av_file("aac_44k.m4a", "mp4", "aac", 44100, "stereo", 2)
    av_file("aac_h264.mkv", "matroska", "aac", 44100, "stereo", 2, video="libx264")
    av_file("opus_mono.webm", "webm", "libopus", 48000, "mono", 1)
    av_file("mono_22k.aac", "adts", "aac", 22050, "mono", 1)
    def video_only():
        write_pyav(d / "video_only.mp4", "mp4", None, video_codec="libx264")
        return dict(path=d / "video_only.mp4")
    files.add("video_only.mp4", video_only)
    return files


@pytest.fixture(scope="session")
def bad_media(media, tmp_path_factory) -> MediaSet:
    """name -> path of broken files derived from the good ones."""
    d = tmp_path_factory.mktemp("bad_media")
    bad = MediaSet()
    recipes = [
        ("half.wav", truncate, "s16_stereo_44k.wav"),
        ("half_u8.wav", truncate, "u8_mono_8k.wav"),
        ("half_float.wav", truncate, "float_mono_22k.wav"),
        ("garbled_float.wav", garble_middle, "float_stereo_44k.wav"),
        ("half.flac", truncate, "stereo_48k.flac"),
        ("frame_cut.flac", lambda s, t: cut_before(s, t, b"\xff\xf8"), "stereo_48k.flac"),
        ("garbled.flac", garble_middle, "stereo_48k.flac"),
        ("half.ogg", truncate, "stereo_44k.ogg"),
        ("page_cut.ogg", lambda s, t: cut_before(s, t, b"OggS"), "stereo_44k.ogg"),
        ("garbled.ogg", garble_middle, "stereo_44k.ogg"),
        ("half.opus", truncate, "stereo_48k.opus"),
        ("half.mp3", truncate, "stereo_44k.mp3"),
        ("garbled.mp3", garble_middle, "stereo_44k.mp3"),
        ("garbled_noxing.mp3", garble_middle, "cbr_noxing_44k.mp3"),
        ("half_moov_at_end.mp4", truncate, "aac_h264.mp4"),
        ("half_faststart.mp4", truncate, "aac51_h264_faststart.mp4"),
        ("garbled.mp4", garble_middle, "aac_h264.mp4"),
        ("half.m4a", truncate, "aac_44k.m4a"),
        ("half.mkv", truncate, "aac_h264.mkv"),
        ("half.webm", truncate, "opus_mono.webm"),
        ("half.aac", truncate, "mono_22k.aac"),
    ]
    for name, mangle, source in recipes:
        if source in media:
            bad.add(name, partial(mangle, media[source]["path"], d / name))
        else:
            bad.skipped[name] = media.skipped.get(source, f"no source file {source}")
    return bad


@pytest.fixture
def chord():
    """The synthetic signal generator, for comparing decoded lossy audio with what was encoded."""
    return chord_signal


@pytest.fixture
def media_tools():
    """The file writers/manglers above, for tests that build their own variants."""
    import types
    return types.SimpleNamespace(write_soundfile=write_soundfile, write_pyav=write_pyav,
                                 truncate=truncate, garble_middle=garble_middle,
                                 set_wav_data_size=set_wav_data_size, strip_xing=strip_xing)


@pytest.fixture
def make_wav(tmp_path):
    """Write an arbitrary float signal (n,) or (n, ch) to a float WAV and return its path."""
    import soundfile as sf
    counter = iter(range(10_000))

    def make(data: np.ndarray, sr: int = 16000, subtype: str = "FLOAT") -> Path:
        path = tmp_path / f"signal_{next(counter)}.wav"
        sf.write(str(path), np.asarray(data, dtype=np.float32), sr, format="WAV", subtype=subtype)
        return path
    return make
