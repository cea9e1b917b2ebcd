"""Encoders per modality, chosen by a spec string (see the `*_encoder` functions)."""
from __future__ import annotations

from pipelines.features.encoders.base import Encoder, Prepared

DEFAULTS = {"video": "efficientnet-lite0", "music": "musicnn", "text": "minilm"}


def video_encoder(spec: str = "efficientnet-lite0", fps: float = 1.0, crop: str = "center",
                  max_frames: int | None = None) -> Encoder:
    """`efficientnet-lite0` (offline default) or `clip[:<hub id or local path>]`."""
    kind, _, arg = spec.partition(":")
    if kind == "efficientnet-lite0" and not arg:
        from pipelines.features.encoders.frames import EfficientNetLite0Encoder

        return EfficientNetLite0Encoder(fps, crop, max_frames)
    if kind == "clip":
        from pipelines.features.encoders.clip import DEFAULT_CLIP, ClipImageEncoder

        return ClipImageEncoder(arg or DEFAULT_CLIP, fps, crop, max_frames)
    raise ValueError(f"unknown video encoder {spec!r}: use efficientnet-lite0 or clip[:<model id or path>]")


def music_encoder(spec: str = "musicnn", weights_dir: str | None = None, segment_s: float = 3.0) -> Encoder:
    """`musicnn[:MSD_musicnn|MTT_musicnn][:penultimate|pooled]` or `hf:<model id or path>`."""
    kind, _, arg = spec.partition(":")
    if kind == "musicnn":
        from pipelines.features.encoders.music import LAYERS, MusicnnEncoder

        model, layer = "MSD_musicnn", "penultimate"
        for part in filter(None, arg.split(":")):
            if part in LAYERS:
                layer = part
            else:
                model = part
        return MusicnnEncoder(model, layer, weights_dir)
    if kind == "hf":
        if not arg:
            raise ValueError("--music-encoder hf:<model id or local path> needs a model")
        from pipelines.features.encoders.music import HFAudioEncoder

        return HFAudioEncoder(arg, segment_s)
    raise ValueError(f"unknown music encoder {spec!r}: use musicnn[:<model>][:penultimate|pooled] or "
                     "hf:<model id or path>")


def text_encoder(spec: str = "minilm") -> Encoder:
    """`minilm` (offline default) or `clip[:<hub id or local path>]`."""
    kind, _, arg = spec.partition(":")
    if kind == "minilm" and not arg:
        from pipelines.features.encoders.text import MiniLMEncoder

        return MiniLMEncoder()
    if kind == "clip":
        from pipelines.features.encoders.clip import DEFAULT_CLIP, ClipTextEncoder

        return ClipTextEncoder(arg or DEFAULT_CLIP)
    raise ValueError(f"unknown text encoder {spec!r}: use minilm or clip[:<model id or path>]")


__all__ = ["DEFAULTS", "Encoder", "Prepared", "music_encoder", "text_encoder", "video_encoder"]
