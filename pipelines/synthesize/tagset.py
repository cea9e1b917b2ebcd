"""The tags that go into text synthesis for one track, whatever form the input gave them in."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

CATEGORIES = ("genre", "mood", "instrument")
DESCRIPTOR_CATEGORIES = ("tempo", "key")  # tags made from measured descriptors


def printable(text: str) -> str:
    """Line breaks, control and format characters become spaces (runs collapsed): a tag goes into prompts and
    templates line by line, so a newline inside one could forge a `Description:` line of the prompt."""
    if text.isprintable():  # the fast path: C-level check, true for every ordinary tag
        return text
    return " ".join("".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text).split())


@dataclass(frozen=True)
class InputTag:
    """One input tag. `category` is genre/mood/instrument, or None for free-form tags outside the
    vocabulary (e.g. MusicCaps aspects such as "low quality"); `confidence` is None when not given."""

    tag: str
    category: str | None = None
    confidence: float | None = None
    value: str | None = None  # a measured quantity behind the tag, e.g. "92 BPM" for "medium tempo"
