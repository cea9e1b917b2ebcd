"""The tagger backend interface.

A backend is a small picklable description (it travels to Beam workers); the heavy state (model
weights) is built by `load()` on the worker and passed back in to `predict()`, so one loaded copy
can be shared by every thread of a worker process.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from pipelines.io.manifest import ClipRequest
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary


@dataclass
class Prepared:
    """A clip after decoding and preprocessing, ready for batched inference."""

    clip: ClipRequest
    features: Any
    duration_s: float | None = None
    n_patches: int | None = None
    # the decoded mono signal and its rate, kept only until the descriptor step has measured it
    # (pipelines/tag/descriptors_step.py drops it, so batches do not carry raw audio)
    audio: Any = None
    sample_rate: int | None = None
    descriptors: dict | None = None  # the `descriptors` struct of tags-*.parquet


class TaggerBackend(abc.ABC):
    name: str = "base"
    #: whether `prepare` needs an audio file (False: tags come from elsewhere)
    needs_audio: bool = True

    @abc.abstractmethod
    def load(self) -> Any:
        """Build the model state on the worker (called once per process, shared across threads)."""

    @abc.abstractmethod
    def prepare(self, clip: ClipRequest, state: Any = None) -> Prepared:
        """Decode and preprocess one clip; raise (e.g. AudioDecodeError) for bad input."""

    @abc.abstractmethod
    def predict(self, state: Any, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        """Raw (model, label, clip score) lists, one per prepared clip, in order."""

    @abc.abstractmethod
    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        """How this backend's labels map onto the vocabulary."""

    def prepare_needs_state(self) -> bool:
        """True when `prepare` uses the loaded state (then the prepare step loads it too)."""
        return False

    def default_manifest(self) -> str | None:
        """A manifest to use when none is given (precomputed tags carry their own ids)."""
        return None

    def describe(self) -> dict:
        """Facts for summary.json: versions, weight hashes, options."""
        return {"name": self.name}

    def model_names(self) -> set[str]:
        """The `model` values of this backend's ScoredLabels (a combined backend routes scores by them)."""
        return set()

    def labels(self) -> list[tuple[str, str]]:
        """Every (model, label) this backend can output, for `viml-synth vocabulary --coverage`."""
        raise NotImplementedError(f"{self.name} cannot list its labels")


def from_spec(spec: str, **options) -> TaggerBackend:
    """`musicnn`, `hf:<model id or path>`, `clap:<model id or path>`, `precomputed:<file>`, or several
    joined with `+` (`musicnn+hf:<model>`: see combined.py)."""
    if "+" in spec:
        from pipelines.tag.backends.combined import CombinedBackend

        parts = [p.strip() for p in spec.split("+")]
        if len(parts) < 2 or not all(parts):
            raise ValueError(f"--tagger {spec!r}: join backends with '+', e.g. musicnn+hf:<model>")
        if options.get("label_map"):
            raise ValueError("--label-map applies to one backend; a combined tagger uses each backend's default")
        return CombinedBackend([from_spec(p, **options) for p in parts])
    kind, _, arg = spec.partition(":")
    if kind == "musicnn":
        from pipelines.tag.backends.musicnn_backend import MusicnnBackend

        return MusicnnBackend(weights_dir=options.get("weights_dir"), models=options.get("musicnn_models"))
    if kind == "hf":
        if not arg:
            raise ValueError("--tagger hf:<model id or local path> needs a model")
        from pipelines.tag.backends.hf_backend import HFAudioBackend

        return HFAudioBackend(arg, label_map=options.get("label_map"), window_s=options.get("hf_window_s"))
    if kind == "precomputed":
        if not arg:
            raise ValueError("--tagger precomputed:<file> needs a file (CSV, JSONL or Parquet)")
        from pipelines.tag.backends.precomputed import PrecomputedBackend

        return PrecomputedBackend(arg, label_map=options.get("label_map"))
    if kind == "clap":
        if not arg:
            raise ValueError("--tagger clap:<model id or local path> needs a model")
        from pipelines.tag.backends.clap_backend import ClapBackend

        return ClapBackend(arg, window_s=options.get("clap_window_s"), vocabulary=options.get("vocabulary"))
    raise ValueError(f"unknown tagger '{spec}': use musicnn, hf:<model id or path>, clap:<model id or path>, "
                     "precomputed:<file>, or several joined with '+'")
