"""Tags a user already has (CSV, JSONL or Parquet), validated against the vocabulary.

Accepted `tags` cell forms: a list of names (confidence 1.0), a list of {tag, confidence[, category]},
a {tag: confidence} mapping, or any of those as a JSON string (CSV), or "a, b, c" in CSV.
Names outside the vocabulary are kept in `tagger_scores` (model "precomputed"), never dropped.
"""
from __future__ import annotations

import json
import math
import os

from pipelines.io.manifest import ClipRequest, iter_records
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary

MODEL = "precomputed"


class PrecomputedTagsError(ValueError):
    reason = "bad_precomputed_tags"


def parse_tags_cell(cell) -> list[tuple[str, float]]:
    """One row's tags as (name, confidence) pairs; raises PrecomputedTagsError with the reason."""
    if isinstance(cell, str):
        text = cell.strip()
        if text[:1] in "[{":
            try:
                cell = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PrecomputedTagsError(f"tags is not valid JSON: {exc.msg}") from None
        else:
            cell = [t for t in (x.strip() for x in text.split(",")) if t]
    if isinstance(cell, dict):
        cell = [{"tag": k, "confidence": v} for k, v in cell.items()]
    if not isinstance(cell, (list, tuple)):
        raise PrecomputedTagsError(f"tags must be a list or mapping, got {type(cell).__name__}")
    pairs = []
    for item in cell:
        if isinstance(item, str):
            name, confidence = item, 1.0
        elif isinstance(item, dict) and "tag" in item:
            name, confidence = item["tag"], item.get("confidence", 1.0)
        else:
            raise PrecomputedTagsError(f"cannot read tag entry {item!r}: expected a name or {{tag, confidence}}")
        try:
            confidence = float(1.0 if confidence is None else confidence)
        except (TypeError, ValueError):
            raise PrecomputedTagsError(f"confidence of '{name}' is not a number: {confidence!r}") from None
        if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
            raise PrecomputedTagsError(f"confidence of '{name}' must be within [0, 1], got {confidence}")
        if not str(name).strip():
            raise PrecomputedTagsError("empty tag name")
        pairs.append((str(name).strip(), confidence))
    if not pairs:
        raise PrecomputedTagsError("no tags")
    return pairs


class PrecomputedBackend(TaggerBackend):
    needs_audio = False

    def __init__(self, path: str, label_map: str | None = None):
        self.path, self.label_map = path, label_map
        self.name = f"precomputed:{os.path.basename(path)}"

    def load(self) -> dict:
        """music_id -> raw tags cell; parsing happens per row so one bad row fails only itself."""
        table = {}
        for _, raw in iter_records(self.path):
            if isinstance(raw, dict) and raw.get("music_id") is not None:
                table.setdefault(str(raw["music_id"]).strip(), raw.get("tags"))
        return table

    def prepare_needs_state(self) -> bool:
        return True

    def prepare(self, clip: ClipRequest, state=None) -> Prepared:
        if clip.music_id not in state:
            raise PrecomputedTagsError(f"no precomputed tags for music_id '{clip.music_id}' in {self.path}")
        cell = state[clip.music_id]
        if cell is None:
            raise PrecomputedTagsError(f"music_id '{clip.music_id}' has no 'tags' value in {self.path}")
        return Prepared(clip, parse_tags_cell(cell))

    def predict(self, state, batch: list[Prepared]) -> list[list[ScoredLabel]]:
        return [[ScoredLabel(MODEL, name, conf) for name, conf in p.features] for p in batch]

    def label_mapping(self, vocabulary: Vocabulary) -> LabelMapping:
        return LabelMapping.load(vocabulary, self.label_map) if self.label_map else LabelMapping.identity(vocabulary)

    def default_manifest(self) -> str | None:
        return self.path

    def describe(self) -> dict:
        return {"name": self.name, "path": self.path, "label_map": self.label_map}
