"""Reading a `tags` cell in any of the forms users have tags in.

Accepted: a list of names; a list of {tag, confidence[, category]}; a {tag: confidence} mapping; any of
those as a JSON string (CSV cells); or "a, b, c". Confidence is None when the input gives none.
"""
from __future__ import annotations

import ast
import functools
import json
import math

from pipelines.synthesize.tagset import InputTag, printable


class TagsCellError(ValueError):
    reason = "bad_tags"


def _confidence(name: str, value) -> float | None:
    if value is None:
        return None
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        raise TagsCellError(f"confidence of '{name}' is not a number: {value!r}") from None
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise TagsCellError(f"confidence of '{name}' must be within [0, 1], got {confidence}")
    return confidence


def _decode(cell):
    if isinstance(cell, str):
        text = cell.strip()
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                try:  # a Python-literal list, as MusicCaps' aspect_list column holds
                    return ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise TagsCellError(f"tags is not valid JSON: {exc.msg}") from None
        return [t for t in (x.strip() for x in text.split(",")) if t]
    if isinstance(cell, dict):
        return [{"tag": k, "confidence": v} for k, v in cell.items()]
    return cell


@functools.lru_cache(maxsize=1 << 16)
def _named_tag(item: str) -> InputTag:
    """The tag a plain name stands for (InputTags are immutable: one object serves every row)."""
    name = printable(item).strip()
    if not name:
        raise TagsCellError("empty tag name")
    return InputTag(name)


def parse_tags_cell(cell) -> list[InputTag]:
    """One row's tags; raises TagsCellError saying what is wrong."""
    cell = _decode(cell)
    if not isinstance(cell, (list, tuple)):
        raise TagsCellError(f"tags must be a list or mapping, got {type(cell).__name__}")
    tags = []
    for item in cell:  # the hot loop of the synthesize stage (89 tags a row): plain lookups only
        if type(item) is dict and "tag" in item:
            name, confidence, category = item["tag"], item.get("confidence"), item.get("category")
        elif type(item) is str:  # a plain name (a user's list): the same few thousand on every row
            tags.append(_named_tag(item))
            continue
        elif isinstance(item, str):
            name, confidence, category = item, None, None
        else:
            raise TagsCellError(f"cannot read tag entry {item!r}: expected a name or {{tag, confidence}}")
        name = printable(name if type(name) is str else str(name if name is not None else "")).strip()
        if not name:
            raise TagsCellError("empty tag name")
        if confidence is not None and not (type(confidence) is float and 0.0 <= confidence <= 1.0):
            confidence = _confidence(name, confidence)
        tags.append(InputTag(name, printable(str(category)).strip() or None if category else None, confidence))
    if not tags:
        raise TagsCellError("no tags")
    return tags
