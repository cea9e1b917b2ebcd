"""Decode one audio (or video) file into a mono float32 signal, the way ``librosa.load`` would.

Taggers were trained on ``librosa.load(path, sr=...)`` output, so the happy path matches it:
soundfile (libsndfile) decodes WAV/FLAC/OGG/MP3 to float32, channels are averaged
(``librosa.to_mono``) and then resampled with soxr HQ (:func:`pipelines.tag.resample.resample_hq`).
Whatever libsndfile cannot open (MP4/M4A/MKV/WEBM audio tracks, AAC, ...) goes through PyAV.

Bad inputs raise :class:`AudioDecodeError` with a machine-readable ``reason`` so a pipeline can
route them to a dead-letter output instead of tagging garbage. Neither decoder reports damage
reliably on its own (measured with libsndfile 1.2.2 in soundfile 0.14 and PyAV 18.1):

- WAV cut short: libsndfile silently shrinks the frame count to the bytes present -> we compare
  the ``data`` chunk size in the header with the bytes in the file. Garbage inside PCM is
  undetectable (no checksums); inside a float WAV it usually shows up as NaN/inf.
- OGG (Vorbis/Opus) cut short: libsndfile takes the length from the last complete page and reads
  it without error; garbage inside makes it skip pages and return a frame count that depends on
  the read block size -> we walk the Ogg pages (CRC, completeness, end-of-stream flag).
- FLAC cut short or damaged: libsndfile raises ("flac decoder lost sync", "psf_fseek() failed").
- MP3 cut short: libsndfile returns fewer frames than the Xing header announced -> frame check;
  garbage inside raises ("Unspecified internal error"). An MP3 *without* a Xing/Info/VBRI header
  has a frame count guessed from the first frame's bitrate and libsndfile stops reading there
  (a VBR file lost 60 % of its audio), so such MP3s are decoded by PyAV, which reads to the end.
- MP4 with its index (moov) at the end cut short: FFmpeg cannot open it -> "corrupt" because the
  bytes start like a media file. Index at the front, MKV/WEBM: decoding stops early (sometimes with
  an error) -> we compare how far the packets reach with the duration in the container header.
  Raw ADTS/MP3 cut exactly between frames cannot be told from a shorter file.
"""
from __future__ import annotations

import io
import math
import os
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from pipelines.io.media_source import MediaDecodeError, Source, check_segment, load_source

REASONS = ("missing_file", "empty_file", "not_audio", "corrupt", "silent", "too_short",
           "bad_segment")

_SF_BLOCK_FRAMES = 1 << 16      # read libsndfile in blocks so a failure says where it happened
_STREAM_BLOCK_SAMPLES = 1 << 16  # source samples resampled per soxr call when streaming
# libsndfile MP3 reads must be one call (see _sf_read); longer MP3s stream through PyAV (same
# samples within 3e-6) so memory stays bounded.
_MP3_ONE_CALL_MAX_S = 600.0
_MP3_FRAME_SLACK = 2 * 1152     # Xing counts can differ from the decoded length by a frame or so
_PYAV_DURATION_SLACK_S = 0.25   # container headers are exact; allow codec padding/priming
_SEEK_PREROLL_S = 1.0           # PyAV: seek earlier so the decoder has settled at the segment
# FFmpeg demuxers whose duration comes from an index/header, not from a bitrate guess.
_TRUSTED_DURATION_FORMATS = {"mov", "mp4", "m4a", "matroska", "webm", "ogg", "flac", "wav", "w64",
                             "aiff", "caf", "avi", "asf"}



class AudioDecodeError(MediaDecodeError):
    """A file that cannot be used as audio; ``reason`` is one of :data:`REASONS`."""


@dataclass
class DecodedAudio:
    samples: np.ndarray       # mono float32 1-D
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    duration_s: float         # of the returned samples
    decoder: str              # "soundfile" or "pyav"


def decode_audio(uri: str, target_sr: int | None, start_s: float | None = None,
                 end_s: float | None = None, min_duration_s: float = 0.0,
                 silence_dbfs: float = -70.0) -> DecodedAudio:
    """Decode ``uri`` (local path or any Beam FileSystems URI) to mono float32.

    ``start_s``/``end_s`` select a segment in seconds of the source (``end_s`` past the end is
    clamped). Raises :class:`AudioDecodeError` for missing, empty, non-audio, truncated/corrupt,
    silent or too-short input and for an impossible segment. Holds the whole segment in memory:
    long files should go through :func:`stream_audio` instead.
    """
    stream = stream_audio(uri, target_sr, start_s, end_s, min_duration_s, silence_dbfs)
    samples = _joined(list(stream))
    return DecodedAudio(samples=samples, sample_rate=stream.sample_rate,
                        source_sample_rate=stream.source_sample_rate, source_channels=stream.source_channels,
                        duration_s=len(samples) / stream.sample_rate, decoder=stream.decoder)


class AudioStream:
    """Mono float32 blocks of a file at ``target_sr``, decoded and resampled as they are read.

    Memory stays bounded by the block size whatever the file's length. The samples are exactly
    those :func:`decode_audio` returns (soxr's streaming resampler matches its one-shot call bit
    for bit). Problems raise :class:`AudioDecodeError` where they are found: missing/not audio/
    structure when the stream is created, corruption where the decoder meets it, and "too short"
    or "silent" after the last block (a consumer must not trust blocks until iteration ends).
    Source facts (``source_sample_rate``, ``source_channels``, ``decoder``) are set on creation.
    """

    def __init__(self, uri: str, target_sr: int | None, start_s: float | None = None,
                 end_s: float | None = None, min_duration_s: float = 0.0, silence_dbfs: float = -70.0,
                 block_samples: int = _STREAM_BLOCK_SAMPLES):
        if target_sr is not None and target_sr <= 0:
            raise ValueError(f"target_sr must be a positive sample rate, got {target_sr}")
        check_segment(uri, start_s, end_s, "audio", AudioDecodeError)
        self.uri, self.start_s, self.min_duration_s, self.silence_dbfs = uri, start_s, min_duration_s, silence_dbfs
        self.block_samples = block_samples
        source = load_source(uri, "audio", AudioDecodeError)
        _check_container_structure(source, uri)
        info: dict = {}
        self._raw = _soundfile_blocks(source, uri, start_s, end_s, info)
        if self._raw is None:
            self._raw = _pyav_blocks(source, uri, start_s, end_s, info)
        self._info, self.target_sr = info, target_sr
        self.source_samples = 0  # decoded so far, at the source rate

    @property
    def source_sample_rate(self) -> int:
        return self._info["sample_rate"]  # PyAV: the header's rate, then the decoded frames' own

    @property
    def source_channels(self) -> int:
        return self._info["channels"]

    @property
    def decoder(self) -> str:
        return self._info["decoder"]

    @property
    def sample_rate(self) -> int:
        return self.target_sr or self.source_sample_rate

    def __iter__(self):
        from pipelines.tag.resample import StreamResampler  # lazy: keeps soxr off the import path

        resampler = None
        peak, pending, n_pending = 0.0, [], 0
        for mono in self._raw:
            if not len(mono):
                continue
            if resampler is None:  # created at the first block: its rate is the decoded one
                resampler = StreamResampler(self.source_sample_rate, self.sample_rate)
            self.source_samples += len(mono)
            peak = max(peak, float(np.max(np.abs(mono))))
            pending.append(mono)
            n_pending += len(mono)
            if n_pending >= self.block_samples:  # PyAV hands out ~1k-sample frames: feed soxr in blocks
                yield from _nonempty(resampler.feed(_joined(pending)))
                pending, n_pending = [], 0
        if pending:
            yield from _nonempty(resampler.feed(_joined(pending)))
        if resampler is not None:
            yield from _nonempty(resampler.flush())
        _check_content(self.source_samples, self.source_sample_rate, peak, self.uri, self.start_s,
                       self.min_duration_s, self.silence_dbfs)


def stream_audio(uri: str, target_sr: int | None, start_s: float | None = None,
                 end_s: float | None = None, min_duration_s: float = 0.0, silence_dbfs: float = -70.0,
                 block_samples: int = _STREAM_BLOCK_SAMPLES) -> AudioStream:
    """The file as an :class:`AudioStream` (see there for when errors are raised)."""
    return AudioStream(uri, target_sr, start_s, end_s, min_duration_s, silence_dbfs, block_samples)


def _nonempty(block: np.ndarray):
    if len(block):
        yield np.ascontiguousarray(block, dtype=np.float32)


# --------------------------------------------------------------------------- inputs

def _binary(source: Source):
    """A fresh binary file object over the source (BytesIO over bytes does not copy them)."""
    return open(source, "rb") if isinstance(source, str) else io.BytesIO(source)


def _source_size(source: Source) -> int:
    return os.path.getsize(source) if isinstance(source, str) else len(source)


def _corrupt(uri: str, detail: str) -> AudioDecodeError:
    return AudioDecodeError("corrupt", f"audio file is truncated or corrupt: {uri} ({detail})", uri)


# --------------------------------------------------------------------------- structure checks

def _check_container_structure(source: Source, uri: str) -> None:
    """Catch truncation that the decoders accept silently (see the module docstring)."""
    with _binary(source) as f:
        head = f.read(12)
        size = _source_size(source)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            problem = _wav_truncation(f, size)
        elif head[:4] == b"OggS":
            f.seek(0)
            problem = _ogg_problem(f, size)
        else:
            problem = None
    if problem:
        raise _corrupt(uri, problem)


def _wav_truncation(f, size: int) -> str | None:
    """Compare the data chunk size declared in the RIFF header with the bytes actually present."""
    pos, byte_rate = 12, 0
    while pos + 8 <= size:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        if chunk_id == b"fmt ":
            fmt = f.read(12)  # format tag, channels, sample rate, byte rate
            byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) == 12 else 0
        elif chunk_id == b"data":
            present = size - (pos + 8)
            # 0 and 0xFFFFFFFF are "unknown length" placeholders written by streaming encoders.
            if chunk_size in (0, 0xFFFFFFFF) or chunk_size <= present:
                return None
            if byte_rate:
                return (f"WAV header announces {chunk_size / byte_rate:.2f} s of audio but the "
                        f"file holds {present / byte_rate:.2f} s")
            return f"WAV header announces {chunk_size} bytes of audio but the file holds {present}"
        pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    return None


def _ogg_problem(f, size: int) -> str | None:
    """Walk every Ogg page: contiguous, complete, checksum valid, last one flagged end-of-stream.

    libsndfile skips damaged pages and returns a frame count that depends on the read block
    size, and a cut-off file just looks shorter, so the page structure is the reliable signal.
    """
    pos, flags = 0, 0
    while pos < size:
        header = f.read(27)
        if len(header) < 27 and b"OggS".startswith(header[:4]):
            return "the last Ogg page is incomplete: the file was cut off"
        if header[:4] != b"OggS":
            return f"unexpected bytes instead of an Ogg page at byte {pos} of {size}"
        table = f.read(header[26])
        body = f.read(sum(table))
        if len(table) < header[26] or len(body) < sum(table):
            return "the last Ogg page is incomplete: the file was cut off"
        if _ogg_crc(header[:22] + b"\0\0\0\0" + header[26:] + table + body) != header[22:26]:
            return f"the Ogg page at byte {pos} of {size} is damaged (checksum mismatch)"
        flags = header[5]
        pos += 27 + len(table) + len(body)
    if not flags & 0x04:
        return "the Ogg stream stops without its end-of-stream page: the file was cut off"
    return None


_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(page: bytes) -> bytes:
    """Ogg's CRC-32 (poly 0x04C11DB7, MSB first, init 0, no final xor) via zlib's reflected one.

    Reflecting every input byte and the result turns zlib's LSB-first CRC into the MSB-first one;
    passing 0xFFFFFFFF as the start cancels zlib's pre/post inversion.
    """
    crc = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return struct.pack("<I", int(f"{crc:032b}"[::-1], 2))


def looks_like_media(head: bytes) -> bool:
    """Magic bytes of containers we know, to tell "broken media file" from "not media at all"."""
    if head[:4] in (b"RIFF", b"RF64", b"FORM", b"fLaC", b"OggS", b"caff", b"wvpk", b"MAC ",
                    b"\x1aE\xdf\xa3", b"0&\xb2u") or head[:3] == b"ID3":
        return True
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return True
    return _is_mpeg_audio_header(head[:4])


def _is_mpeg_audio_header(b: bytes) -> bool:
    """An MPEG audio / ADTS frame header: 11 sync bits and no reserved field values."""
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return False
    if (b[1] & 0x16) == 0x10:  # ADTS (AAC): layer bits are 00
        return True
    version, layer = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    bitrate, rate = b[2] >> 4, (b[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _mp3_has_frame_count(source: Source) -> bool:
    """True when the first MP3 frame carries a Xing/Info/VBRI header (an exact frame count)."""
    with _binary(source) as f:
        head = f.read(10)
        offset = 0
        if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size)
            offset = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14
                           | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
            offset += 10 if head[5] & 0x10 else 0  # footer present
        f.seek(offset)
        first_frame = f.read(1024)
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


# --------------------------------------------------------------------------- soundfile

def _soundfile_blocks(source: Source, uri: str, start_s, end_s, info: dict):
    """libsndfile path (same decoder as librosa.load): a generator of mono blocks at the source
    rate, or None when PyAV should decode instead. Fills `info` before returning."""
    import soundfile as sf
    try:
        f = sf.SoundFile(source if isinstance(source, str) else io.BytesIO(source))
    except (sf.LibsndfileError, RuntimeError):
        return None  # not a libsndfile format (or broken header): PyAV decides
    # frames == 0: libsndfile cannot size it (e.g. WAV with a 0 data-size placeholder).
    if f.frames <= 0 or (f.format == "MP3" and (not _mp3_has_frame_count(source)
                                                or f.frames > _MP3_ONE_CALL_MAX_S * f.samplerate)):
        f.close()
        return None
    first, count = _frame_range(uri, start_s, end_s, f.samplerate, f.frames)  # before any block
    info.update(sample_rate=f.samplerate, channels=f.channels, decoder="soundfile")
    return _soundfile_generate(f, uri, first, count)


def _soundfile_generate(f, uri: str, first: int, count: int):
    with f:
        sr, total = f.samplerate, f.frames
        slack = _MP3_FRAME_SLACK if f.format == "MP3" else 0
        got, error = 0, None
        reader = _sf_read(f, first, count)
        while True:
            try:
                data = next(reader)
            except StopIteration as stop:
                error = stop.value
                break
            got += len(data)
            if not np.isfinite(data).all():  # e.g. garbage bytes inside a float WAV
                raise _corrupt(uri, "decoded samples contain NaN or infinity")
            # librosa.to_mono: mean over channels of the (channels, n) array, before resampling.
            yield data[:, 0] if f.channels == 1 else np.mean(data.T, axis=0)
        if error is not None or got < count - slack:
            where = (f"decoder stopped at {(first + got) / sr:.2f} s of {total / sr:.2f} s"
                     if got else f"decoder failed on audio of {total / sr:.2f} s")
            raise _corrupt(uri, where + (f": {error}" if error is not None else ""))


def _frame_range(uri: str, start_s, end_s, sr: int, total: int) -> tuple[int, int]:
    """(first frame, frame count) like librosa: int(offset * sr), int(duration * sr)."""
    first = int(start_s * sr) if start_s else 0
    if first >= total:
        raise _beyond_end(uri, start_s, total / sr)
    if end_s is None or end_s * sr >= total:
        return first, total - first  # end past the file: clamp
    return first, min(int((end_s - (start_s or 0.0)) * sr), total - first)


def _beyond_end(uri: str, start_s: float, duration_s: float) -> AudioDecodeError:
    return AudioDecodeError("bad_segment", f"bad audio segment for {uri}: start_s={start_s} is "
                            f"beyond the end of the audio ({duration_s:.2f} s)", uri)


def _sf_read(f, first: int, count: int):
    """Yield the frames [first, first + count) in blocks; returns the error message or None.

    Blocks tell where a failing decoder stopped. Not for MP3: libsndfile 1.2.2's MP3 reader
    garbles the 700-2400 samples after some read-call boundaries and seeks (data dependent;
    measured: splitting a read at frame 22050, 55125 or 65536 corrupts what follows, while one
    call matches FFmpeg to 3e-6), so MP3 is read in one call from the start, as librosa does,
    and the segment is sliced out (memory grows with the segment's end, hence _MP3_ONE_CALL_MAX_S).
    """
    import soundfile as sf
    if f.format == "MP3":
        try:
            data = f.read(first + count, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            return str(e).strip()
        yield data[first:]
        return None
    got = 0
    try:
        if first:
            f.seek(first)  # sample-exact for WAV/FLAC/Vorbis/Opus (checked against full reads)
        while got < count:
            want = min(_SF_BLOCK_FRAMES, count - got)
            block = f.read(want, dtype="float32", always_2d=True)
            got += len(block)
            if len(block):
                yield block
            if len(block) < want:
                break  # the decoder ran out of data before the announced length
    except (sf.LibsndfileError, RuntimeError) as e:
        return str(e).strip()
    return None


# --------------------------------------------------------------------------- PyAV

class _NoTimestamps(Exception):
    """Decoded frames after a seek carry no pts: decode from the start instead."""


def _pyav_blocks(source: Source, uri: str, start_s, end_s, info: dict):
    """FFmpeg path for everything libsndfile does not read (video containers, AAC, long MP3...):
    opens and checks the container now (filling `info`), returns a generator of mono blocks."""
    container = _pyav_open(source, uri)
    try:
        if not container.streams.audio:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise AudioDecodeError("not_audio", f"file has no audio stream: {uri} (streams found: "
                                   f"{kinds}; a video without sound?)", uri)
        total_s = _pyav_trusted_duration(container)
        if start_s and total_s is not None and start_s >= total_s:
            raise _beyond_end(uri, start_s, total_s)
        codec = container.streams.audio[0].codec_context
        info.update(sample_rate=codec.sample_rate, channels=codec.layout.nb_channels, decoder="pyav")
    except BaseException:
        container.close()
        raise
    return _pyav_generate(container, source, uri, start_s, end_s, total_s, info)


def _pyav_generate(container, source, uri, start_s, end_s, total_s, info: dict):
    # Seek only where timestamps come from an index; otherwise count samples from the start.
    seek = bool(start_s) and start_s > _SEEK_PREROLL_S and total_s is not None
    state: dict = {}
    try:
        reader = _pyav_read(container, start_s, end_s, seek, state)
        try:
            first = next(reader, None)  # _NoTimestamps comes, if at all, before the first block
        except _NoTimestamps:
            container.close()
            container = _pyav_open(source, uri)
            state = {}
            reader = _pyav_read(container, start_s, end_s, False, state)
            first = next(reader, None)
        if first is not None:
            # the decoded frames' rate and layout win over the header's (e.g. HE-AAC parametric stereo)
            info.update(sample_rate=state["sr"], channels=state["channels"])
            yield first
            yield from reader
    finally:
        container.close()
    _check_pyav_complete(uri, start_s, end_s, total_s, state.get("decoded_end", 0.0), state.get("reached", 0.0),
                         state.get("error"))


def _pyav_open(source: Source, uri: str):
    import av
    try:
        return av.open(source if isinstance(source, str) else io.BytesIO(source),
                       metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        with _binary(source) as f:
            head = f.read(16)
        if looks_like_media(head):  # e.g. an MP4 whose index (moov, at the end) was cut off
            raise _corrupt(uri, f"looks like a media file but cannot be opened: {e}") from None
        raise AudioDecodeError("not_audio", f"file is not audio or video that can be decoded: "
                               f"{uri} ({e})", uri) from None


def _pyav_trusted_duration(container) -> float | None:
    """Container duration in seconds when it comes from the header, None when guessed/unknown."""
    names = set(container.format.name.split(","))
    if container.duration is None or not names & _TRUSTED_DURATION_FORMATS:
        return None  # e.g. MP3/ADTS: FFmpeg guesses the duration from the bitrate
    return container.duration / 1e6


def _pyav_read(container, start_s, end_s, seek: bool, state: dict):
    """Decode the first audio stream to mono blocks (one per frame), trimmed to the segment.

    After a seek, positions come from frame timestamps: sample-exact where the time base is the
    sample rate (MP4), within ~1 ms in Matroska/WebM (millisecond timestamps). Without a seek,
    decoded frames are concatenated and counted from 0, as librosa/ffmpeg do.
    Leaves in `state`: sr, decoded_end (s), reached (how far packets reached, s), error.
    """
    import av
    stream = container.streams.audio[0]
    s0 = stream.start_time or 0
    t0 = (container.start_time or 0) / 1e6
    if seek:
        target = max(0.0, start_s - _SEEK_PREROLL_S)
        try:  # lands on a keyframe at or before target; frames are trimmed below
            container.seek(s0 + int(target / stream.time_base), stream=stream)
        except av.FFmpegError:
            seek = False  # nothing demuxed yet: decoding from the start still works
    pos, reached = None, 0.0
    sr = stream.codec_context.sample_rate
    state.update(sr=sr, decoded_end=0.0, reached=0.0, error=None)
    first = stop = None
    try:
        for packet in container.demux():
            if packet.pts is not None:  # every stream counts: audio may legitimately end early
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                reached = max(reached, float(end) - t0)
                state["reached"] = reached
            if packet.stream.index != stream.index:
                continue
            for frame in packet.decode():
                if pos is None:
                    sr = state["sr"] = frame.sample_rate
                    state["channels"] = frame.layout.nb_channels
                    first, stop = _segment_samples(start_s, end_s, sr)
                    pos = _first_frame_position(frame, s0, sr, seek)
                mono = _frame_to_mono(frame)
                lo, pos = pos, pos + len(mono)
                state["decoded_end"] = pos / sr
                if pos > first and (stop is None or lo < stop):
                    yield mono[max(first - lo, 0):None if stop is None else stop - lo]
                if stop is not None and pos >= stop:
                    state["reached"] = max(reached, pos / sr)
                    return
    except av.FFmpegError as e:
        state["error"] = str(e)


def _segment_samples(start_s, end_s, sr: int):
    """Segment bounds in samples, librosa style: int(offset * sr), int(duration * sr)."""
    first = int(start_s * sr) if start_s else 0
    if end_s is None or math.isinf(end_s):
        return first, None
    return first, first + int((end_s - (start_s or 0.0)) * sr)


def _first_frame_position(frame, s0: int, sr: int, seeked: bool) -> int:
    """Sample index of the first decoded frame: 0 from the start, from its pts after a seek."""
    if not seeked:
        return 0  # like librosa/ffmpeg: concatenate decoded frames, ignore timestamp jitter
    if frame.pts is None:
        raise _NoTimestamps()
    return round(float((frame.pts - s0) * Fraction(frame.time_base)) * sr)


def _frame_to_mono(frame) -> np.ndarray:
    """Any sample format/layout -> float32 mono, ints scaled like libsndfile/librosa (1/2^(b-1))."""
    x = frame.to_ndarray()
    if not frame.format.is_planar:
        x = x.reshape(-1, frame.layout.nb_channels).T  # packed: (1, n*ch) interleaved
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    else:
        x = x.astype(np.float32, copy=False)
    return x[0] if x.shape[0] == 1 else np.mean(x, axis=0)


def _joined(chunks) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _check_pyav_complete(uri, start_s, end_s, total_s, decoded_end_s, reached_s, error) -> None:
    """Decoder errors and packets stopping short of the header duration mean a damaged file."""
    of_total = f" of {total_s:.2f} s" if total_s is not None else ""
    if error is not None:
        raise _corrupt(uri, f"decoder stopped at {decoded_end_s:.2f} s{of_total}: {error}")
    if total_s is not None:
        expected = total_s if end_s is None else min(end_s, total_s)
        if reached_s < expected - _PYAV_DURATION_SLACK_S:
            raise _corrupt(uri, f"the data stops at {reached_s:.2f} s but the header says "
                           f"{total_s:.2f} s")
    if start_s and start_s >= decoded_end_s:
        raise _beyond_end(uri, start_s, decoded_end_s)


# --------------------------------------------------------------------------- content checks

def _check_content(n_samples: int, sample_rate: int, peak: float, uri: str, start_s, min_duration_s: float,
                   silence_dbfs: float):
    """Reject what decoded fine but is useless to tag: too short or (near) silent."""
    where = f" (segment from {start_s} s)" if start_s else ""
    if n_samples == 0:
        raise AudioDecodeError("too_short", f"audio has no samples: {uri}{where}", uri)
    duration = n_samples / sample_rate
    if duration < min_duration_s:
        raise AudioDecodeError("too_short", f"audio is too short: {uri}{where} lasts "
                               f"{duration:.2f} s, need at least {min_duration_s:.2f} s", uri)
    peak_dbfs = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_dbfs < silence_dbfs:
        raise AudioDecodeError("silent", f"audio is silent: {uri}{where} (peak {peak_dbfs:.1f} "
                               f"dBFS, below the {silence_dbfs:.1f} dBFS threshold)", uri)
