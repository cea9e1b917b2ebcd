"""The words a text uses for a tag: a vocabulary tag's surface forms ("drums" for "acoustic drumset",
vocabulary.yaml `surface:`) and a measured tempo with its number ("medium tempo of 92 BPM"), picked with
the row's seed. The tag id itself stays in the triplets' `tags` column.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from pipelines.synthesize.descriptor_tags import surface as descriptor_surface
from pipelines.synthesize.tagset import InputTag


def surface_forms(tag: InputTag, vocabulary=None) -> tuple[str, ...]:
    """The vocabulary's surface forms for a tag without a measured value (empty: the tag is written as is)."""
    entry = vocabulary.get(tag.tag) if vocabulary is not None else None
    same_category = entry is not None and entry.category == (tag.category or entry.category)
    return tuple(getattr(entry, "surface", ())) if same_category else ()


def surface_text(tag: InputTag, rng: random.Random, vocabulary=None,
                 forms: Callable[[InputTag], Sequence[str]] | None = None) -> str:
    """The tag's text as written; draws from `rng` only for tags that have a choice of words (so rows whose
    tags have none are written exactly as before). `forms` may replace ``surface_forms`` (e.g. memoized)."""
    if tag.value:
        return descriptor_surface(tag, rng)
    choices = forms(tag) if forms is not None else surface_forms(tag, vocabulary)
    return rng.choice(choices) if choices else tag.tag


def with_surface(tags, rng: random.Random, vocabulary=None,
                 forms: Callable[[InputTag], Sequence[str]] | None = None) -> list[InputTag]:
    """The tags with their text replaced by the words a text uses for them (category and confidence kept)."""
    out = []
    for t in tags:
        text = surface_text(t, rng, vocabulary, forms)
        out.append(t if text == t.tag else InputTag(text, t.category, t.confidence))
    return out


def unexpressed(text: str, tags, vocabulary=None) -> list[str]:
    """Tag texts that `text` writes neither by name nor by one of the vocabulary's surface forms (the
    literal check of data2text's templates, widened to the words texts are written with)."""
    from pipelines.synthesize.data2text.grammar import missing

    lost = []
    for t in tags:
        name = t.tag if isinstance(t, InputTag) else str(t)
        if not name.strip():
            continue
        entry = vocabulary.get(name) if vocabulary is not None else None
        if all(missing(text, [form]) for form in (name, *(getattr(entry, "surface", ()) if entry else ()))):
            lost.append(name)
    return lost
