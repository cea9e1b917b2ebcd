"""Which of a track's tags go into its text: confidence threshold, top-k per category, a total cap.

The paper keeps the top filtered tags (typically 10-15). Tags given without a confidence always pass
the threshold and skip the per-category caps (a user's own list is wanted whole, up to `max_tags`);
scored tags outside the vocabulary's categories are capped by `other_k`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.synthesize.descriptor_tags import superseded
from pipelines.synthesize.tagset import InputTag

DEFAULT_TOP_K = {"genre": 3, "mood": 4, "instrument": 6, "tempo": 1, "key": 1}
# Categories with a threshold of their own. Descriptor tags' confidences are an estimator's (beat tracker
# confidence / 5.32, key strength), not a tagger's probability: a tempo below 0.3 (Essentia confidence
# 1.6) or a key below 0.4 strength is too often wrong to state (bench/descriptors_accuracy.py).
DEFAULT_CATEGORY_THRESHOLD = {"tempo": 0.3, "key": 0.4}


@dataclass(frozen=True)
class TagSelection:
    threshold: float = 0.1
    top_k: dict = field(default_factory=lambda: dict(DEFAULT_TOP_K))
    other_k: int = 8
    max_tags: int = 15
    min_tags: int = 3  # when too few pass the threshold, take the most confident ones instead
    category_threshold: dict = field(default_factory=lambda: dict(DEFAULT_CATEGORY_THRESHOLD))

    def threshold_of(self, category: str | None) -> float:
        return self.category_threshold.get(category, self.threshold) if category else self.threshold

    @staticmethod
    def parse_top_k(spec: str | dict | None) -> dict:
        """"genre=3,mood=4,instrument=6" -> dict; unnamed categories keep their defaults."""
        return _parse_per_category(spec, DEFAULT_TOP_K, int, "--top-k", "N")

    @staticmethod
    def parse_category_threshold(spec: str | dict | None) -> dict:
        """"tempo=0.3,key=0.5" -> dict; unnamed categories keep their defaults."""
        return _parse_per_category(spec, DEFAULT_CATEGORY_THRESHOLD, float, "--category-threshold", "X")

    def describe(self) -> dict:
        return {"threshold": self.threshold, "category_threshold": self.category_threshold,
                "top_k": self.top_k, "other_k": self.other_k,
                "max_tags": self.max_tags, "min_tags": self.min_tags}


def _parse_per_category(spec, defaults: dict, kind, option: str, placeholder: str) -> dict:
    out = dict(defaults)
    if isinstance(spec, dict):
        out.update({str(k): kind(v) for k, v in spec.items()})
    elif spec:
        for part in str(spec).split(","):
            name, _, value = part.partition("=")
            try:
                out[name.strip()] = kind(value.strip())
            except ValueError:
                raise ValueError(f"{option} expects category={placeholder}[,category={placeholder}...], "
                                 f"got {part!r}") from None
    return out


def _rank(tags: list[InputTag]) -> list[InputTag]:
    """Most confident first; tags without a confidence keep their input order ahead of scored ones."""
    return sorted(tags, key=lambda t: -(2.0 if t.confidence is None else t.confidence))


def select_tags(tags: list[InputTag], selection: TagSelection) -> tuple[list[InputTag], bool]:
    """(selected tags in input order, whether the min_tags fallback was used)."""
    seen: set[str] = set()
    unique = [t for t in tags if not (t.tag.lower() in seen or seen.add(t.tag.lower()))]
    if all(t.confidence is None for t in unique):
        # a user's own list (no scores, so no measured descriptors either): the rules below keep all of
        # it, in order, up to max_tags, with no fallback; said directly, as it is the common input
        return unique[: selection.max_tags], False
    return _select_by_rules(unique, selection)


def _select_by_rules(unique: list[InputTag], selection: TagSelection) -> tuple[list[InputTag], bool]:
    passing = [t for t in unique if t.confidence is None or t.confidence >= selection.threshold_of(t.category)]
    # categories with a threshold of their own (measured tempo, key) never fill up the fallback: a tempo
    # too uncertain to state stays unstated however few tags the tagger gave. (Membership by identity:
    # the unique tags differ in name, and comparing dataclasses field by field cost more.)
    passed = {id(t) for t in passing}
    eligible = [t for t in unique if t.category not in selection.category_threshold or id(t) in passed]
    fallback = len(passing) < min(selection.min_tags, len(eligible))
    if fallback:
        passing = _rank(eligible)[: selection.min_tags]
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
    drop = superseded(chosen)  # a measured tempo replaces a tagger's guess at it
    keep = {id(t) for t in chosen if t.value or t.tag.lower() not in drop}
    return [t for t in unique if id(t) in keep], fallback
