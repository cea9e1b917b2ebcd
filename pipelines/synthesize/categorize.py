"""Give every input tag a category: the tagger's own, the vocabulary's, or a data-driven lexicon's.

Tags from a tagger arrive with a category; free-form tags (MusicCaps aspects such as
"mellow piano melody", "low quality", "slow tempo") arrive without one. ``categorize`` fills the
category by lookup, never dropping a tag or touching its text. The rules are data:
``pipelines/data/tag_lexicon.yaml`` (its header explains the order in which they apply).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml

from pipelines import yaml_data
from pipelines.synthesize.memo import memoized
from pipelines.synthesize.tagset import InputTag

DATA_PACKAGE = "pipelines.data"
LEXICON_FILE = "tag_lexicon.yaml"

_WORD = re.compile(r"[^\s]+")
_STRIP = ".,;:!?()[]{}\"'’`"


class LexiconError(ValueError):
    """The lexicon file is malformed; the message names the file and, where known, the line."""


def normalize(text: str) -> str:
    """Comparable form of a tag: lower-case, single spaces, no surrounding whitespace."""
    return " ".join(str(text).strip().lower().split())


def words_of(text: str) -> list[str]:
    """Words of a normalized tag with surrounding punctuation stripped (inner '-', '&' kept)."""
    return list(_words_of(str(text)))


@functools.lru_cache(maxsize=1 << 16)  # the same tag strings come back on every row
def _words_of(text: str) -> tuple[str, ...]:
    return tuple(w for w in (w.strip(_STRIP) for w in _WORD.findall(normalize(text))) if w)


@dataclass
class Lexicon:
    """The rules of ``tag_lexicon.yaml`` in lookup-ready form."""

    categories: tuple[str, ...]
    fallback: str
    adjective_category: str
    phrases: dict[str, str]
    patterns: list[tuple[re.Pattern, str]]
    words: dict[str, str]
    generic_words: dict[str, str]
    prepositions: frozenset[str]
    refine: dict[str, tuple[str, ...]]
    grammar: dict = field(default_factory=dict)
    source: str = ""
    version: int | str = 1

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        source = Path(path) if path else resources.files(DATA_PACKAGE).joinpath(LEXICON_FILE)
        text = source.read_text(encoding="utf-8")
        try:
            data = yaml_data.load(text) or {}
        except yaml.YAMLError as exc:
            raise LexiconError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise LexiconError(f"{source}: expected a mapping at the top level")
        categories = tuple(str(c) for c in data.get("categories") or ())
        known = set(categories)

        def check(category, where: str) -> str:
            category = str(category)
            if known and category not in known:
                raise LexiconError(
                    f"{source}: {where} uses category '{category}', which is not in 'categories' {list(categories)}"
                )
            return category

        phrases = {normalize(k): check(v, f"phrase '{k}'") for k, v in (data.get("phrases") or {}).items()}
        patterns = []
        for i, entry in enumerate(data.get("patterns") or []):
            if not isinstance(entry, dict) or "regex" not in entry or "category" not in entry:
                raise LexiconError(f"{source}: patterns[{i}] must be a mapping with 'regex' and 'category'")
            try:
                rx = re.compile(str(entry["regex"]))
            except re.error as exc:
                raise LexiconError(f"{source}: patterns[{i}] regex {entry['regex']!r}: {exc}") from exc
            patterns.append((rx, check(entry["category"], f"patterns[{i}]")))
        words: dict[str, str] = {}
        for category, entries in (data.get("words") or {}).items():
            check(category, "words")
            for w in entries or []:
                words.setdefault(normalize(str(w)), str(category))
        generic = {normalize(k): check(v, f"generic word '{k}'") for k, v in (data.get("generic_words") or {}).items()}
        refine = {
            check(k, "refine"): tuple(check(c, f"refine[{k}]") for c in (v or []))
            for k, v in (data.get("refine") or {}).items()
        }
        return cls(
            categories=categories,
            fallback=check(data.get("fallback", "other"), "fallback"),
            adjective_category=check(data.get("adjective_category", "mood"), "adjective_category"),
            phrases=phrases,
            patterns=patterns,
            words=words,
            generic_words=generic,
            prepositions=frozenset(normalize(p) for p in data.get("prepositions") or ()),
            refine=refine,
            grammar=data.get("grammar") or {},
            source=str(source),
            version=data.get("version", 1),
        )

    # ---------------------------------------------------------------- lookup
    @memoized
    def word_category(self, word: str) -> str | None:
        if word in self.words:
            return self.words[word]
        if len(word) > 3 and word.endswith("s") and word[:-1] in self.words:
            return self.words[word[:-1]]
        return None

    def head_words(self, text: str) -> list[str]:
        """Words of the tag up to its first preposition ("melody on different octaves" -> melody)."""
        return list(self._head_words(str(text)))

    @memoized
    def _head_words(self, text: str) -> tuple[str, ...]:
        ws = _words_of(text)
        for i, w in enumerate(ws):
            if i > 0 and w in self.prepositions:
                return ws[:i]
        return ws

    @memoized
    def is_adjective(self, word: str) -> bool:
        """Whether a single word reads as an adjective ("groovy", "heart-touching", "relaxing")."""
        g = self.grammar
        if word in _set(g, "nouns") or word in _set(g, "mass_nouns"):
            return False
        if word in _set(g, "adjectives") or self.words.get(word) == self.adjective_category:
            return True
        if len(word) <= 3:
            return False
        tail = re.split(r"[-/]", word)[-1]
        if tail in _set(g, "nouns") or tail in _set(g, "mass_nouns"):
            return False
        if any(tail.endswith(s) for s in g.get("noun_suffixes") or ()):
            return False
        return any(tail.endswith(s) for s in g.get("adjective_suffixes") or ())

    @memoized
    def lookup(self, text: str) -> str | None:
        """Category of a free-form tag by phrases, patterns and words; None if nothing matched."""
        key = normalize(text)
        if key in self.phrases:
            return self.phrases[key]
        for rx, category in self.patterns:
            if rx.search(key):
                return category
        generic = None
        for w in reversed(self.head_words(key)):
            if w in self.generic_words:
                generic = generic or self.generic_words[w]
                continue
            category = self.word_category(w)
            if category:
                return category
        if generic:
            return generic
        ws = words_of(key)
        if ws and all(self.is_adjective(w) for w in ws):
            return self.adjective_category
        return None

    def categorize_text(self, text: str) -> str:
        return self.lookup(text) or self.fallback

    def refined(self, category: str, text: str) -> str:
        """A finer category for a tag that already has one, when `refine` allows it."""
        targets = self.refine.get(category)
        if not targets:
            return category
        found = self.lookup(text)
        return found if found in targets else category


def _set(grammar: dict, key: str) -> frozenset[str]:
    cache = grammar.setdefault("_sets", {})
    if key not in cache:
        cache[key] = frozenset(normalize(str(w)) for w in grammar.get(key) or ())
    return cache[key]


_DEFAULT: Lexicon | None = None


def default_lexicon() -> Lexicon:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Lexicon.load()
    return _DEFAULT


def categorize(
    tags: Iterable[InputTag], vocabulary=None, lexicon: Lexicon | None = None, *, refine: bool = True
) -> list[InputTag]:
    """Tags in the same order with every category filled.

    A tag keeps a category it already has (refined by the lexicon's `refine` rules unless
    ``refine=False``); otherwise an exact vocabulary tag takes the vocabulary's category, then the
    lexicon decides, then the lexicon's fallback (``other``). Tag text and confidence are unchanged.
    """
    lexicon = lexicon or default_lexicon()
    out = []
    for t in tags:
        category = t.category
        if not category and vocabulary is not None:
            hit = vocabulary.get(t.tag)
            category = hit.category if hit else None
        if category:
            if refine:
                category = lexicon.refined(category, t.tag)
        else:
            category = lexicon.categorize_text(t.tag)
        out.append(t if category == t.category else replace(t, category=category))
    return out
