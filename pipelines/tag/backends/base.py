"""The tagger backend interface.

A backend is a small picklable description (it travels to Beam workers); the heavy state (model
weights) is built by `load()` on the worker and passed back in to `predict()`, so one loaded copy
can be shared by every thread of a worker process. The pipeline runs `predict()` through Beam's
RunInference (pipelines.tag.steps.TaggerHandler): a backend never batches, retries or loads itself.

Long files: `prepare_blocks()` may cut a clip into several `Prepared` blocks (each at most
`max_units` model units) so memory does not grow with the file's length; the pipeline tags each
block and merges the blocks' scores into the clip's, weighted by their units (musicnn's clip
score is the mean over patches, so the merged score is exactly the clip's). The default makes one
block from `prepare()`; a backend streams by overriding it (see MusicnnBackend).
"""
from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.io.manifest import ClipRequest
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary


@dataclass
class Prepared:
    """A clip (or one block of a long clip) after decoding and preprocessing, ready for inference."""

    clip: ClipRequest
    features: Any
    duration_s: float | None = None  # of the audio this block covers (the blocks of a clip add up)
    n_patches: int | None = None  # model units (patches, windows) in `features`, when known
    block: int = 0  # index of this block within its clip
    last: bool = True  # False while more blocks of the same clip follow
    #: On block 0, when the backend decodes audio: the decoded mono samples at the tagger's rate,
    #: the whole clip for short clips, the first `EXCERPT_S` seconds (or what was decoded before
    #: block 0 left) for long ones. For steps that analyse the audio itself (descriptors).
    audio: Any = None  # pipelines.tag.audio.DecodedAudio | None
    #: Per-clip facts a step between prepare and inference adds (e.g. descriptors from `audio`, on
    #: block 0); they travel with the clip to the record step (merged over the blocks of long clips).
    extra: dict = field(default_factory=dict)

    @property
    def single(self) -> bool:
        """The whole clip is in this one block."""
        return self.block == 0 and self.last

    def units(self) -> int:
        """Size for batching: model units when known, else the length of `features` (e.g. hf windows)."""
        if self.n_patches is not None:
            return max(1, int(self.n_patches))
        return max(1, len(self.features)) if hasattr(self.features, "__len__") else 1


#: Longest decoded excerpt kept on block 0 for audio analysis (samples at the tagger's rate).
EXCERPT_S = 120.0


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

    def prepare_blocks(self, clip: ClipRequest, state: Any = None, max_units: int = 48) -> Iterator[Prepared]:
        """The clip as blocks of at most `max_units` units (set `block`, `last`, `n_patches`).

        Errors may be raised after some blocks were yielded (e.g. a file found corrupt near its
        end): the pipeline then drops those blocks and records the clip's error. Default: one block.
        """
        yield self.prepare(clip, state)

    @abc.abstractmethod
    def predict(self, state: Any, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        """Raw (model, label, score) lists, one per prepared clip or block, in order; a block's score
        is its mean over its units (so blocks merge by a units-weighted mean)."""

    @abc.abstractmethod
    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        """How this backend's labels map onto the vocabulary."""

    def check(self) -> None:
        """What can be checked before the pipeline starts (files the backend reads, ...); ValueError if
        unusable, so the user hears it at once and not from a worker. A hook, not abstract: the default
        has nothing to check."""
        return None

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
