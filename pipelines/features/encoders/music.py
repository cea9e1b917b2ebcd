"""Music encoders: per-segment embeddings [S, D] of a manifest row's audio segment.

- `musicnn` (offline default): the PyTorch musicnn port (pipelines.tag.musicnn). The clip's log-mel
  spectrogram is cut into non-overlapping 3 s patches (the tagger's own input; a partial tail is
  dropped) and each patch gives one row:
    layer `penultimate` (default): the BN(200) output before the tag layer, 200-d;
    layer `pooled`: the front-end + mid-end feature maps (753 channels) pooled over time by max
    and mean, interleaved per channel (musicnn's backend input), 1506-d.
  Models: MSD_musicnn (default) or MTT_musicnn.
- `hf:<id or path>`: a transformers audio encoder (AutoModel + AutoFeatureExtractor: wav2vec2, HuBERT,
  WavLM, AST, ...; not encoder-decoder models such as Whisper, whose AutoModel needs decoder inputs).
  The clip is cut into non-overlapping `segment_s` windows (default 3 s, as musicnn; a partial tail is
  dropped) and each window's last hidden state is averaged over time.
Bad audio raises pipelines.tag.audio.AudioDecodeError with its reasons (missing_file, not_audio, ...).
"""
from __future__ import annotations

import numpy as np

from pipelines.features.encoders.base import Encoder, Prepared

LAYERS = ("penultimate", "pooled")


def _prepared(clip, units: np.ndarray, duration_s: float) -> Prepared:
    if len(units) == 0:  # decode_audio's duration check is approximate at the edge
        from pipelines.tag.audio import AudioDecodeError

        raise AudioDecodeError("too_short", f"audio is shorter than one segment: {clip.audio_path} "
                                            f"({duration_s:.3f} s)", clip.audio_path)
    meta = {"audio_path": clip.audio_path, "start_s": clip.start_s, "end_s": clip.end_s,
            "duration_s": duration_s}
    return Prepared(clip.music_id, units, meta, clip.ref())


class MusicnnEncoder(Encoder):
    modality = "music"

    def __init__(self, model: str = "MSD_musicnn", layer: str = "penultimate", weights_dir: str | None = None):
        from pipelines.tag.musicnn.weights import MODEL_NAMES

        if model not in MODEL_NAMES:
            raise ValueError(f"unknown musicnn model {model!r}; choose from {', '.join(MODEL_NAMES)}")
        if layer not in LAYERS:
            raise ValueError(f"unknown musicnn layer {layer!r}; choose from {', '.join(LAYERS)}")
        self.model, self.layer, self.weights_dir = model, layer, weights_dir
        self.name = f"musicnn:{model}:{layer}"

    def load(self):
        from pipelines.tag.musicnn.weights import load_musicnn

        return {"model": load_musicnn(self.model, self.weights_dir)}

    def prepare(self, clip, state=None) -> Prepared:
        from pipelines.tag.audio import decode_audio
        from pipelines.tag.musicnn import frontend

        audio = decode_audio(clip.audio_path, frontend.SAMPLE_RATE, clip.start_s, clip.end_s,
                             min_duration_s=frontend.min_patch_seconds())
        return _prepared(clip, frontend.to_patches(frontend.log_mel(audio.samples)), audio.duration_s)

    def encode(self, state, units: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(units, dtype=np.float32))
        with torch.inference_mode():
            if self.layer == "penultimate":
                return state["model"](x)[1].numpy()
            return musicnn_pooled(state["model"], x).numpy()

    def dim(self) -> int:
        from pipelines.tag.musicnn.model import N_DENSE, N_FEATURES

        return N_DENSE if self.layer == "penultimate" else 2 * N_FEATURES

    def describe(self) -> dict:
        from pipelines.tag.musicnn import frontend

        return {**super().describe(), "model": self.model, "layer": self.layer, "weights_dir": self.weights_dir,
                "segment": f"non-overlapping {frontend.PATCH_FRAMES}-frame log-mel patches (3 s at 16 kHz), "
                           "partial tail dropped",
                "weights": "musicnn 0.1.0 (ISC, MTG-UPF), read from the PyPI wheel without TensorFlow"}


def musicnn_pooled(model, x):
    """[B, 187, 96] patches -> [B, 1506]: the input of musicnn's dense layer (max and mean over time of
    the front-end and mid-end features, interleaved per channel)."""
    return model.pooled(x)


class HFAudioEncoder(Encoder):
    """Mean of the last hidden state over time, per `segment_s` window."""

    modality = "music"

    def __init__(self, model: str, segment_s: float = 3.0):
        if not segment_s > 0:
            raise ValueError(f"--music-segment-s must be > 0, got {segment_s}")
        self.model, self.segment_s = model, float(segment_s)
        self.name = f"hf:{model}"

    def load(self):
        from transformers import AutoFeatureExtractor, AutoModel

        extractor = AutoFeatureExtractor.from_pretrained(self.model)
        return {"extractor": extractor, "model": AutoModel.from_pretrained(self.model).eval(),
                "sample_rate": int(extractor.sampling_rate)}

    def prepare_needs_state(self) -> bool:
        return True  # the feature extractor fixes the sample rate to decode at

    def prepare(self, clip, state=None) -> Prepared:
        from pipelines.tag.audio import decode_audio

        sr = state["sample_rate"]
        audio = decode_audio(clip.audio_path, sr, clip.start_s, clip.end_s, min_duration_s=self.segment_s)
        size = int(round(self.segment_s * sr))
        n = len(audio.samples) // size
        return _prepared(clip, audio.samples[: n * size].reshape(n, size), audio.duration_s)

    def encode(self, state, units: np.ndarray) -> np.ndarray:
        import torch

        inputs = state["extractor"](list(units), sampling_rate=state["sample_rate"], return_tensors="pt")
        with torch.inference_mode():
            out = state["model"](**inputs)
        hidden = getattr(out, "last_hidden_state", None)
        if hidden is None or hidden.ndim != 3:
            hidden = out.pooler_output[:, None]
        return hidden.float().mean(1).numpy()

    def dim(self) -> int:
        from transformers import AutoConfig

        return int(AutoConfig.from_pretrained(self.model).hidden_size)

    def describe(self) -> dict:
        return {**super().describe(), "model": self.model, "segment_s": self.segment_s,
                "output": "mean over time of last_hidden_state per non-overlapping window, partial tail dropped"}
