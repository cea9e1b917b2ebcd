"""Tags a user already has (CSV, JSONL or Parquet), validated against the vocabulary.

Accepted `tags` cell forms: a list of names (confidence 1.0), a list of {tag, confidence[, category]},
a {tag: confidence} mapping, or any of those as a JSON string (CSV), or "a, b, c" in CSV.
Names outside the vocabulary are kept in `tagger_scores` (model "precomputed"), never dropped.
"""
from __future__ import annotations

import os

from pipelines.io.manifest import ClipRequest, iter_records
from pipelines.io.tags_cell import TagsCellError
from pipelines.io.tags_cell import parse_tags_cell as parse_tags_cell_any
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import LabelMapping, ScoredLabel, Vocabulary

MODEL = "precomputed"


class PrecomputedTagsError(TagsCellError):
    reason = "bad_precomputed_tags"


def parse_tags_cell(cell) -> list[tuple[str, float]]:
    """(name, confidence) pairs; a tag given without a confidence counts as certain (1.0)."""
    try:
        tags = parse_tags_cell_any(cell)
    except TagsCellError as exc:
        raise PrecomputedTagsError(str(exc)) from None
    return [(t.tag, 1.0 if t.confidence is None else t.confidence) for t in tags]


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

    def check(self) -> None:
        from pipelines.io.read_rows import check_input

        check_input(self.path, None, ("music_id", "tags"), "music_id", "precomputed tags")

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
