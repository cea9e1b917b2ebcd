"""Several taggers as one (`--tagger musicnn+hf:<model>`): each scores the clip, each maps its own labels
with its own mapping, and a vocabulary tag's confidence is the MAXIMUM over the backends.

Why the maximum: the backends are experts on different tags (musicnn on genres and MSD moods, an AudioSet
model on instruments and voices, CLAP on anything nameable); a tag one of them cannot express gets 0.0
from it, so a mean would halve every tag only one backend knows. Each backend decodes the clip at its own
sample rate; descriptors are measured on the first backend's audio.
"""
from __future__ import annotations

from typing import Any

from pipelines.io.manifest import ClipRequest
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary

MERGE_RULE = "max"


class CombinedBackend(TaggerBackend):
    def __init__(self, backends: list[TaggerBackend]):
        names = [b.model_names() for b in backends]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if a & b:
                    raise ValueError(f"combined taggers must name their models apart; both give {sorted(a & b)}")
        self.backends = list(backends)
        self.name = "+".join(b.name for b in backends)
        self.needs_audio = any(b.needs_audio for b in backends)

    def load(self) -> list[Any]:
        return [b.load() for b in self.backends]

    def prepare_needs_state(self) -> bool:
        return any(b.prepare_needs_state() for b in self.backends)

    def prepare(self, clip: ClipRequest, state=None) -> Prepared:
        states = state if state is not None else [None] * len(self.backends)
        parts = [b.prepare(clip, s if state is not None else None)
                 for b, s in zip(self.backends, states, strict=True)]
        first = parts[0]
        audio = next((p.audio for p in parts if p.audio is not None), None)
        for p in parts:  # each part keeps only what its model needs
            p.audio = None
        return Prepared(clip, parts, first.duration_s, first.n_patches, audio=audio)

    def predict(self, state, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        results: list[list[ScoredLabel]] = [[] for _ in batch]
        for i, (backend, s) in enumerate(zip(self.backends, state, strict=True)):
            for out, scores in zip(results, backend.predict(s, [p.features[i] for p in batch]), strict=True):
                out.extend(scores)
        return results

    def label_mapping(self, vocabulary: Vocabulary) -> CombinedMapping:
        return CombinedMapping(vocabulary, [(b.label_mapping(vocabulary), b.model_names()) for b in self.backends])

    def model_names(self) -> set[str]:
        return set().union(*(b.model_names() for b in self.backends))

    def labels(self) -> list[tuple[str, str]]:
        return [pair for b in self.backends for pair in b.labels()]

    def describe(self) -> dict:
        return {"name": self.name, "merge": MERGE_RULE, "backends": [b.describe() for b in self.backends]}


class CombinedMapping:
    """Routes each score to the mapping of the backend that produced it; per tag, the maximum wins."""

    def __init__(self, vocabulary: Vocabulary, parts: list[tuple[LabelMapping, set[str]]]):
        self.vocabulary, self.parts = vocabulary, parts
        self.source = " + ".join(m.source for m, _ in parts)

    def _mapping_of(self, model: str) -> LabelMapping:
        for mapping, names in self.parts:
            if model in names:
                return mapping
        return self.parts[-1][0]  # a model no backend named (cannot happen with our backends)

    def targets(self, model: str, label: str) -> tuple[str, ...]:
        return self._mapping_of(model).targets(model, label)

    def covered_tags(self, labels) -> list[str]:
        reached = {t for model, label in labels for t in self.targets(model, label)}
        return [t.name for t in self.vocabulary.tags if t.name in reached]

    def apply(self, scores) -> list[dict]:
        scores = list(scores)
        best: dict[str, float] = {}
        for mapping, names in self.parts:
            for row in mapping.apply([s for s in scores if s.model in names]):
                best[row["tag"]] = max(best.get(row["tag"], 0.0), row["confidence"])
        order = {t.name: i for i, t in enumerate(self.vocabulary.tags)}
        rows = [{"tag": t.name, "category": t.category, "confidence": best.get(t.name, 0.0)}
                for t in self.vocabulary.tags]
        rows.sort(key=lambda r: (-r["confidence"], order[r["tag"]]))
        return rows
