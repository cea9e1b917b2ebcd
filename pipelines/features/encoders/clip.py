"""CLIP (transformers CLIPModel, any hub id or local path): image tower for frames, text tower for texts.

Both return the projected embeddings, `get_image_features(...)` / `get_text_features(...)`, which in
transformers 5 are output objects whose `.pooler_output` is the projection (equal to the model's
`image_embeds`/`text_embeds` before L2 normalisation). Stored unnormalised; normalise when training.
`CLIPVisionModelWithProjection.from_pretrained` is not used: in transformers 5.23 it ignores a full
checkpoint's top-level projection_dim (a size mismatch on models whose dim is not 512).
"""
from __future__ import annotations

import numpy as np

from pipelines.features.encoders.base import Encoder, Prepared
from pipelines.features.encoders.frames import VideoEncoder
from pipelines.features.video import FrameGeometry

DEFAULT_CLIP = "openai/clip-vit-base-patch32"  # the paper's frame and text encoder


def _projection_dim(model: str) -> int:
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(model).projection_dim)


class ClipImageEncoder(VideoEncoder):
    """CLIP's projected image embedding (`get_image_features(...).pooler_output`) per frame."""

    def __init__(self, model: str = DEFAULT_CLIP, fps: float = 1.0, crop: str = "center",
                 max_frames: int | None = None):
        super().__init__(fps, crop, max_frames)
        self.model = model
        self.name = f"clip:{model}"

    def load(self):
        from transformers import AutoImageProcessor, CLIPModel

        net = CLIPModel.from_pretrained(self.model).eval()
        net.text_model = None  # only the vision tower and its projection are used
        proc = AutoImageProcessor.from_pretrained(self.model)
        size = proc.size.get("shortest_edge") if hasattr(proc.size, "get") else proc.size["shortest_edge"]
        crop = proc.crop_size["height"] if proc.crop_size is not None else size
        mean = np.asarray(proc.image_mean, np.float32)
        return {"model": net, "geometry": FrameGeometry(int(crop), int(size or crop), self.crop,
                                                         tuple(int(round(m * 255)) for m in mean)),
                "scale": float(proc.rescale_factor), "mean": mean, "std": np.asarray(proc.image_std, np.float32)}

    def prepare_needs_state(self) -> bool:
        return True  # the image size comes from the model's processor config

    def geometry(self, state) -> FrameGeometry:
        return state["geometry"]

    def encode(self, state, units: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(units).permute(0, 3, 1, 2).float() * state["scale"]
        x = (x - torch.from_numpy(state["mean"])[:, None, None]) / torch.from_numpy(state["std"])[:, None, None]
        with torch.inference_mode():
            out = state["model"].get_image_features(pixel_values=x)
            return getattr(out, "pooler_output", out).float().numpy()  # transformers 5: an output object

    def dim(self) -> int:
        return _projection_dim(self.model)

    def describe(self) -> dict:
        return {**super().describe(), "model": self.model, "crop": self.crop,
                "output": "CLIPModel.get_image_features(...).pooler_output (projected, not normalised)",
                "preprocessing": "the model's image processor size, crop and mean/std"}




class ClipTextEncoder(Encoder):
    """CLIP's projected text embedding (`get_text_features(...).pooler_output`); texts cut at 77 tokens."""

    modality = "text"

    def __init__(self, model: str = DEFAULT_CLIP):
        self.model = model
        self.name = f"clip:{model}"

    def load(self):
        from transformers import AutoTokenizer, CLIPModel

        net = CLIPModel.from_pretrained(self.model).eval()
        net.vision_model = None  # only the text tower and its projection are used
        tokenizer = AutoTokenizer.from_pretrained(self.model)
        max_length = min(int(tokenizer.model_max_length or 77), int(net.config.text_config.max_position_embeddings))
        return {"model": net, "tokenizer": tokenizer, "max_length": max_length}

    def prepare(self, text, state=None) -> Prepared:
        return text_prepared(text)

    def encode(self, state, units: list[str]) -> np.ndarray:
        import torch

        enc = state["tokenizer"](list(units), padding=True, truncation=True, max_length=state["max_length"],
                                 return_tensors="pt")
        with torch.inference_mode():
            out = state["model"].get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            return getattr(out, "pooler_output", out).float().numpy()

    def dim(self) -> int:
        return _projection_dim(self.model)

    def describe(self) -> dict:
        return {**super().describe(), "model": self.model, "max_tokens": 77,
                "output": "CLIPModel.get_text_features(...).pooler_output (projected, not normalised)"}


def text_prepared(text) -> Prepared:
    if not isinstance(text, str):
        raise TypeError(f"a text must be a string, got {type(text).__name__}: {text!r}")
    return Prepared(text, [text], {}, {"text": text})
