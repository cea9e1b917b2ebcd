"""The encoder interface shared by the three modalities.

An encoder is a small picklable description that travels to Beam workers; `load()` builds the heavy
state (weights) once per worker process. `prepare()` turns one input (a video/music manifest row or
a text) into a `Prepared` holding its *units*: frames, audio patches/windows, or the text itself.
`encode()` maps a stack of units (from several inputs) to one feature vector per unit, so the
pipeline can batch units across inputs and split the result back per input.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Prepared:
    key: str  # video_id, music_id or the text
    units: Any  # np.ndarray [n, ...] (frames, patches, windows) or list[str] (one text)
    meta: dict = field(default_factory=dict)  # provenance columns for the output row
    ref: Any = None  # the input, for error records

    def __len__(self) -> int:
        return len(self.units)


class Encoder(abc.ABC):
    modality: str = "base"  # video | music | text
    name: str = "base"

    @abc.abstractmethod
    def load(self) -> Any:
        """Build the model state on the worker (once per process, shared by its threads)."""

    @abc.abstractmethod
    def prepare(self, item: Any, state: Any = None) -> Prepared:
        """Decode and preprocess one input; raise (e.g. VideoDecodeError) for bad input."""

    @abc.abstractmethod
    def encode(self, state: Any, units: Any) -> np.ndarray:  # noqa: F821
        """[n, ...] units (or n texts) -> [n, dim] float32 features."""

    @abc.abstractmethod
    def dim(self) -> int:
        """Feature size (may read a model config, never the weights)."""

    def prepare_needs_state(self) -> bool:
        """True when `prepare` uses the loaded state (then the prepare step loads it too)."""
        return False

    def describe(self) -> dict:
        """What encoders.json records: name, model id/version, dim, settings."""
        return {"name": self.name, "dim": self.dim()}


def concat_units(batch: list[Prepared]):
    """Units of several inputs stacked in order (arrays concatenated, text lists joined)."""
    import numpy as np

    if batch and isinstance(batch[0].units, list):
        return [u for p in batch for u in p.units]
    return np.concatenate([p.units for p in batch])
