"""Sample frames from a video segment at a fixed rate (PyAV), ready for an image encoder.

Sampling: a segment [start_s, end_s) of D seconds at `fps` gives T = floor(D * fps) frames (at least
one), taken at the centres of T equal slots: t_i = start_s + (i + 0.5) / fps. For each t_i the frame
on screen at that moment is used (the last decoded frame whose timestamp is <= t_i), so a video
with fewer frames per second than `fps` repeats frames rather than inventing them. Without
start_s/end_s the whole video is the segment; end_s past the end is clamped to the video's end.

Geometry (16:9 and other non-square frames), `FrameGeometry.mode`:
- "center" (default): scale so the SHORT side is `resize` (bicubic), then cut the centre
  `crop` x `crop` square. This is the eval preprocessing both default encoders were trained with
  (EfficientNet: 256 -> 224; CLIP: 224 -> 224). On a 16:9 frame it keeps the middle 56 % of the
  width, where music videos mostly frame their subject; the sides are lost.
- "pad": scale so the LONG side is `crop` and pad the short side evenly with `fill` (the encoder's
  "zero" colour: 127 grey for EfficientNet, CLIP's mean colour). Nothing is lost, but a 16:9 frame
  uses only 56 % of the pixels and the encoders never saw letterboxed images in training.
Scaling runs in FFmpeg's swscale (bicubic, antialiased when shrinking) straight from the decoded
YUV frame, so only the chosen frames are converted, at their final size.

Bad inputs raise :class:`VideoDecodeError` with a machine-readable ``reason`` (see REASONS).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np

from pipelines.io.media_source import MediaDecodeError, Source, check_segment, load_source

REASONS = ("missing_file", "empty_file", "not_video", "no_video_stream", "corrupt", "bad_segment")
_SEEK_PREROLL_S = 1.0  # seek to a keyframe at least this long before the segment
_DURATION_SLACK_S = 0.5  # a stream may end this much before the container's duration


class VideoDecodeError(MediaDecodeError):
    """A file that cannot be used as video; ``reason`` is one of :data:`REASONS`."""


@dataclass(frozen=True)
class FrameGeometry:
    """How a frame becomes a `crop` x `crop` RGB image (see the module docstring)."""

    crop: int = 224
    resize: int = 256
    mode: str = "center"  # center | pad
    fill: tuple[int, int, int] = (127, 127, 127)

    def __post_init__(self):
        if self.mode not in ("center", "pad"):
            raise ValueError(f"frame crop mode must be 'center' or 'pad', got {self.mode!r}")
        if self.crop < 1 or self.resize < self.crop:
            raise ValueError(f"need 1 <= crop ({self.crop}) <= resize ({self.resize})")

    def scaled_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) to scale the source to before cropping / padding."""
        if self.mode == "center":
            s = self.resize / min(width, height)
            return max(self.crop, round(width * s)), max(self.crop, round(height * s))
        s = self.crop / max(width, height)
        return max(1, round(width * s)), max(1, round(height * s))

    def apply(self, frame) -> np.ndarray:
        """av.VideoFrame -> [crop, crop, 3] uint8 RGB."""
        w, h = self.scaled_size(frame.width, frame.height)
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="BICUBIC").to_ndarray()
        c = self.crop
        if self.mode == "center":
            top, left = (h - c) // 2, (w - c) // 2
            return np.ascontiguousarray(rgb[top:top + c, left:left + c])
        out = np.empty((c, c, 3), dtype=np.uint8)
        out[:] = np.asarray(self.fill, dtype=np.uint8)
        top, left = (c - h) // 2, (c - w) // 2
        out[top:top + h, left:left + w] = rgb
        return out

    def describe(self) -> dict:
        return {"crop": self.crop, "resize": self.resize, "mode": self.mode, "fill": list(self.fill)}


@dataclass
class SampledFrames:
    frames: np.ndarray  # [T, crop, crop, 3] uint8 RGB
    timestamps: np.ndarray  # [T] float32: sampling times in seconds from the start of the video
    start_s: float  # the segment actually used (end clamped to the video)
    end_s: float
    source: dict = field(default_factory=dict)  # width, height, fps, duration_s of the source


def sample_times(start_s: float, end_s: float, fps: float) -> np.ndarray:
    """Slot centres: floor((end - start) * fps) of them (at least 1)."""
    n = max(1, math.floor((end_s - start_s) * fps + 1e-6))
    return start_s + (np.arange(n) + 0.5) / fps


def sample_frames(uri: str, fps: float = 1.0, start_s: float | None = None,
                  end_s: float | None = None, geometry: FrameGeometry = FrameGeometry(),
                  max_frames: int | None = None) -> SampledFrames:
    """Frames of ``uri`` (local path or any Beam FileSystems URI) at ``fps`` over [start_s, end_s).

    ``max_frames`` caps T by spreading the samples over the segment instead (lower effective fps).
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    check_segment(uri, start_s, end_s, "video", VideoDecodeError)
    source = load_source(uri, "video", VideoDecodeError)
    container = _open(source, uri)
    try:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise VideoDecodeError("no_video_stream", f"file has no video stream: {uri} (streams found: {kinds})", uri)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = _duration(container, stream)
        start = start_s or 0.0
        if duration is not None and start >= duration:
            raise _beyond_end(uri, start, duration)
        end = end_s if end_s is not None else duration
        if duration is not None and end is not None:
            end = min(end, duration)
        return _decode(container, stream, uri, fps, start, end, duration, geometry, max_frames)
    finally:
        container.close()


# --------------------------------------------------------------------------- inputs

def _open(source: Source, uri: str):
    import av

    from pipelines.tag.audio import looks_like_media  # the container magic numbers, shared

    try:
        return av.open(source if isinstance(source, str) else io.BytesIO(source), metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        with (open(source, "rb") if isinstance(source, str) else io.BytesIO(source)) as f:
            head = f.read(16)
        if looks_like_media(head):  # e.g. an MP4 whose index (moov, at the end) was cut off
            raise _corrupt(uri, f"looks like a media file but cannot be opened: {e}") from None
        raise VideoDecodeError("not_video", f"file is not a video that can be decoded: {uri} ({e})", uri) from None


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration is not None else None


def _corrupt(uri: str, detail: str) -> VideoDecodeError:
    return VideoDecodeError("corrupt", f"video file is truncated or corrupt: {uri} ({detail})", uri)


def _beyond_end(uri: str, start_s: float, duration_s: float) -> VideoDecodeError:
    return VideoDecodeError("bad_segment", f"bad video segment for {uri}: start_s={start_s} is beyond the end "
                            f"of the video ({duration_s:.2f} s)", uri)


# --------------------------------------------------------------------------- decoding

def _decode(container, stream, uri, fps, start, end, duration, geometry, max_frames) -> SampledFrames:
    import av

    t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    rate = float(stream.average_rate) if stream.average_rate else None
    if start > _SEEK_PREROLL_S and duration is not None:
        try:  # lands on a keyframe at or before the target; earlier frames are skipped below
            container.seek(int((start - _SEEK_PREROLL_S + t0) / stream.time_base), stream=stream)
        except av.FFmpegError:
            pass
    targets = sample_times(start, end, fps) if end is not None else None
    if targets is not None and max_frames and len(targets) > max_frames:
        targets = start + (np.arange(max_frames) + 0.5) * (end - start) / max_frames
    picked, times = [], []
    prev, last_t, error = None, None, None

    def next_target() -> float | None:
        if targets is not None:
            return targets[len(picked)] if len(picked) < len(targets) else None
        t = start + (len(picked) + 0.5) / fps  # unknown end: keep going until the stream ends
        return t if not max_frames or len(picked) < max_frames else None

    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base) - t0
            last_t = t
            target = next_target()
            while target is not None and t > target:  # `prev` was on screen at `target`
                picked.append(geometry.apply(prev if prev is not None else frame))
                times.append(target)
                target = next_target()
            if target is None:
                break
            prev = frame
    except av.FFmpegError as e:
        error = str(e)
    # the stream ended: its last frame stays on screen for one frame duration
    video_end = last_t + (1.0 / rate if rate else 0.0) if last_t is not None else start
    if prev is not None:
        limit = video_end + (_DURATION_SLACK_S if targets is not None else 0.0)
        while (target := next_target()) is not None and target < limit:
            picked.append(geometry.apply(prev))
            times.append(target)
    expected = len(targets) if targets is not None else None
    if picked and expected is not None and len(picked) < expected:
        raise _corrupt(uri, error or f"frames stop at {video_end:.2f} s but the segment ends at {end:.2f} s "
                       f"({len(picked)} of {expected} frames)")
    if error is not None and expected is None:
        raise _corrupt(uri, f"decoding stopped after {len(picked)} frames: {error}")
    if not picked:
        if error is None and last_t is not None and start >= video_end:
            raise _beyond_end(uri, start, video_end)
        raise _corrupt(uri, error or "no frame could be decoded")
    used_end = end if end is not None else times[-1] + 0.5 / fps
    return SampledFrames(np.stack(picked), np.asarray(times, dtype=np.float32), start, float(used_end),
                         {"width": stream.codec_context.width, "height": stream.codec_context.height,
                          "fps": rate, "duration_s": duration})
