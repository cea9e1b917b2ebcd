"""The tags that go into text synthesis for one track, whatever form the input gave them in."""
from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("genre", "mood", "instrument")


@dataclass(frozen=True)
class InputTag:
    """One input tag. `category` is genre/mood/instrument, or None for free-form tags outside the
    vocabulary (e.g. MusicCaps aspects such as "low quality"); `confidence` is None when not given."""

    tag: str
    category: str | None = None
    confidence: float | None = None
