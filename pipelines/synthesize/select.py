"""Which of a track's tags go into its text: confidence threshold, top-k per category, a total cap.

The paper keeps the top filtered tags (typically 10-15). Tags given without a confidence always pass
the threshold and skip the per-category caps (a user's own list is wanted whole, up to `max_tags`);
scored tags outside the vocabulary's categories are capped by `other_k`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.synthesize.tagset import InputTag

DEFAULT_TOP_K = {"genre": 3, "mood": 4, "instrument": 6}


@dataclass(frozen=True)
class TagSelection:
    threshold: float = 0.1
    top_k: dict = field(default_factory=lambda: dict(DEFAULT_TOP_K))
    other_k: int = 8
    max_tags: int = 15
    min_tags: int = 3  # when too few pass the threshold, take the most confident ones instead

    @staticmethod
    def parse_top_k(spec: str | dict | None) -> dict:
        """"genre=3,mood=4,instrument=6" -> dict; unnamed categories keep their defaults."""
        top_k = dict(DEFAULT_TOP_K)
        if isinstance(spec, dict):
            top_k.update({str(k): int(v) for k, v in spec.items()})
        elif spec:
            for part in str(spec).split(","):
                name, _, value = part.partition("=")
                if not value.strip().isdigit():
                    raise ValueError(f"--top-k expects category=N[,category=N...], got {part!r}")
                top_k[name.strip()] = int(value)
        return top_k

    def describe(self) -> dict:
        return {"threshold": self.threshold, "top_k": self.top_k, "other_k": self.other_k,
                "max_tags": self.max_tags, "min_tags": self.min_tags}


def _rank(tags: list[InputTag]) -> list[InputTag]:
    """Most confident first; tags without a confidence keep their input order ahead of scored ones."""
    return sorted(tags, key=lambda t: -(2.0 if t.confidence is None else t.confidence))


def select_tags(tags: list[InputTag], selection: TagSelection) -> tuple[list[InputTag], bool]:
    """(selected tags in input order, whether the min_tags fallback was used)."""
    seen: set[str] = set()
    unique = [t for t in tags if not (t.tag.lower() in seen or seen.add(t.tag.lower()))]
    passing = [t for t in unique if t.confidence is None or t.confidence >= selection.threshold]
    fallback = len(passing) < min(selection.min_tags, len(unique))
    if fallback:
        passing = _rank(unique)[: selection.min_tags]
    chosen: list[InputTag] = []
    per_category: dict[str, int] = {}
    for tag in _rank(passing):
        # unscored tags (a user's own list) are all wanted: only the total cap applies to them
        limit = (len(passing) if tag.confidence is None
                 else selection.top_k.get(tag.category, selection.other_k) if tag.category else selection.other_k)
        count = per_category.get(tag.category or "", 0)
        if count < limit and len(chosen) < selection.max_tags:
            chosen.append(tag)
            per_category[tag.category or ""] = count + 1
    keep = {id(t) for t in chosen}
    return [t for t in unique if id(t) in keep], fallback
