"""How faithful a generated description is to the tags it was generated from.

`fidelity(text, tags, vocabulary)` says which input tags the text mentions (coverage) and which
vocabulary tags it names that the input did not support (hallucinations, e.g. the paper's prompt2text
output "female vocal and a piano section" for a track tagged male vocals and synthesizer keyboard).
`best_of(candidates, tags, vocabulary)` picks the most faithful of several generated candidates.

Matching works on normalized words (lowercase; hyphens and punctuation split, so "hip-hop" = "hip hop";
plural -s/-es/-ies folded, so "drums" = "drum"), with the surface forms of every vocabulary tag: its
name, its display name and the aliases in `pipelines/data/tag_aliases.yaml` ("drum kit" -> acoustic
drumset, "synth" -> synthesizer keyboard, ...). Where forms overlap the longest wins, so "electric
guitars" is one mention of electric guitar and "male vocals" does not also mention vocals. Forms inside
a negated stretch ("no vocals", "without drums or bass") are neither mentions nor hallucinations; an
input tag the text denies is reported in `negated` (and counts as missing).

Input tags are of two kinds:
  * vocabulary tags (and free-form tags that are exactly one of the surface forms, e.g. "drums"): mentioned
    when the text names the tag, or a narrower tag implying it ("male vocals" mentions an input "vocals").
    Naming only a broader tag ("guitar" for an input "electric guitar") is a partial mention (0.5).
  * other free-form tags (MusicCaps aspects such as "mellow piano melody"): mentioned when every content
    word appears in the text (same word after normalization, or same Porter stem: "relaxing" ~ "relaxed");
    when only some do, a partial mention with the fraction of content words found.

A vocabulary tag the text names is *supported* when an input tag is that tag, implies it ("male vocals"
supports "vocals"), or contains one of its forms (a free-form "soft female vocal" supports female vocals).
Named tags that are not supported are hallucinations.
"""
from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import Stemmer  # PyStemmer: Snowball's C implementation of Porter's algorithm

from pipelines import yaml_data
from pipelines.synthesize.tagset import InputTag

# Snowball's "porter" is Porter's original (1980) algorithm. NLTK's PorterStemmer in ORIGINAL_ALGORITHM
# mode, used before, agrees with it on 10,059 of the 10,060 words of MusicCaps' and MusicTextClips'
# captions (NLTK undoubles "revving" to "rev", Snowball keeps "revv"), but importing it runs
# nltk/__init__, which imports scipy: 1.5-2 s of start-up in every synthesize worker.
_PORTER = Stemmer.Stemmer("porter")


@functools.lru_cache(maxsize=1 << 16)  # the same few hundred words are stemmed for every row
def porter_stem(word: str) -> str:
    """Porter's algorithm as published (1980); words of one or two letters and tokens with digits or
    apostrophes ("80s", "it's") stay whole, as the matcher expects."""
    return _PORTER.stemWord(word) if len(word) > 2 and word.isalpha() else word


ALIASES_FILE = "tag_aliases.yaml"
NEGATION_WINDOW = 6  # words a negation cue reaches at most

# Words that carry no content in a free-form tag ("guitar song", "country feel" need only "guitar", "country").
STOPWORDS = frozenset(
    """a an the and or of with in on at to for from by into over under is are be being has have its it this
    that these those some any very quite rather bit little lot lots much many more most""".split()
)
GENERIC_WORDS = frozenset(
    "music musical song track sound feel feeling vibe tune piece style type kind like".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[&'][a-z0-9]+)*|[.;!?]|,")
_SENTENCE_END = frozenset(".;!?")


@functools.lru_cache(maxsize=1 << 16)  # called for every word of every text; the words repeat
def singular(word: str) -> str:
    """Fold a plural: "drums" -> "drum", "melodies" -> "melody", "basses" -> "bass"; "bass", "chorus" stay."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Normalized tokens of a text: words (lowercase, possessive 's dropped, plurals folded) and the
    punctuation marks , . ; ! ? (kept so that forms never match across them and sentences end negation)."""
    text = str(text)
    # tag texts repeat across millions of rows and are cached; generated texts are nearly all unique
    return list(_cached_words(text) if len(text) <= 64 else _words(text))


def _words(text: str) -> tuple[str, ...]:
    return tuple(map(_normal_token, _TOKEN.findall(text.lower().replace("\u2019", "'"))))


@functools.lru_cache(maxsize=1 << 16)  # a few thousand distinct tokens make up nearly every text
def _normal_token(tok: str) -> str:
    return singular(tok[:-2] if tok.endswith("'s") else tok)


_cached_words = functools.lru_cache(maxsize=1 << 16)(_words)


@functools.lru_cache(maxsize=1 << 16)  # tag strings: the same ones on every row
def _form(text: str) -> tuple[str, ...]:
    return tuple(t for t in words(text) if t not in _SENTENCE_END and t != ",")


class OwnTag(NamedTuple):
    """A tag string as `fidelity_of_own_tags` sees it (see TagMatcher.own_tag)."""

    negation_cue: bool  # a word of it starts a negated stretch: the row takes the full path
    names_itself: bool  # surely mentioned by any text holding its words unnegated (see below)
    supports: frozenset  # the vocabulary tags it supports (TagMatcher.input_tag)
    mentions: tuple  # its own scan
    form: tuple  # its normalized words (the key inputs are deduplicated by)


class Mention(NamedTuple):
    """One stretch of text naming vocabulary tags: `tags` are the candidates (ambiguous forms such as
    "drums" list several, most likely first); `all_of` means the form names all of them at once.
    (A NamedTuple: a frozen dataclass took longer to build than the rest of a text's scan.)"""

    start: int
    end: int
    tags: tuple[str, ...]
    all_of: bool
    negated: bool


@dataclass
class Fidelity:
    """mentioned / missing: the input tags (as given) the text does / does not fully mention.
    hallucinated: vocabulary tags the text names that no input tag supports (first-mention order).
    coverage: len(mentioned) / number of distinct input tags (1.0 when there are none).
    hallucination_rate: len(hallucinated) / len(text_tags), 0.0 when the text names no vocabulary tag.
    partial: missing input tags with some evidence -> fraction (free-form: share of content words found;
      vocabulary tag: 0.5 when only a broader tag was named).
    soft_coverage: (len(mentioned) + sum(partial.values())) / number of distinct input tags.
    negated: input tags the text explicitly denies ("no vocals"); they are also in `missing`.
    text_tags: every vocabulary tag the text names (not negated), first-mention order."""

    mentioned: list[str]
    missing: list[str]
    hallucinated: list[str]
    coverage: float
    hallucination_rate: float
    partial: dict[str, float] = field(default_factory=dict)
    soft_coverage: float = 0.0
    negated: list[str] = field(default_factory=list)
    text_tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _aliases_source(path: str | Path | None):
    if path is not None:
        return Path(path)
    return resources.files("pipelines.data").joinpath(ALIASES_FILE)


class TagMatcher:
    """Surface forms of a vocabulary's tags, compiled for scanning texts."""

    def __init__(self, vocabulary, aliases: str | Path | None = None):
        source = _aliases_source(aliases)
        data = yaml_data.load(source.read_text(encoding="utf-8")) or {}
        self.vocabulary = vocabulary
        self._scan_cache: dict[str, tuple[Mention, ...]] = {}
        self._input_cache: dict[str, tuple[list[str] | None, bool, frozenset[str]]] = {}
        self._cue_cache: dict[str, bool] = {}
        self._own_cache: dict[str, OwnTag] = {}
        self.order = {t.name: i for i, t in enumerate(vocabulary.tags)}
        self.forms: dict[tuple[str, ...], list[str]] = {}
        self.compounds: dict[tuple[str, ...], list[str]] = {}
        for tag in vocabulary.tags:  # own names first: they are the primary reading of their form
            for name in (tag.name, tag.display):
                self._add(self.forms, _form(name), tag.name)
        for name, forms in (data.get("aliases") or {}).items():
            tag = vocabulary.get(str(name))
            if tag is None:
                continue  # alias table written for a larger vocabulary
            for form in forms or ():
                self._add(self.forms, _form(str(form)), tag.name)
        for tag in vocabulary.tags:  # the words texts are written with (vocabulary.yaml `surface`)
            for form in getattr(tag, "surface", ()):
                self._add(self.forms, _form(form), tag.name)
        for form, names in (data.get("compounds") or {}).items():
            tags = [vocabulary.get(str(n)) for n in names or ()]
            if tags and all(tags):
                self.compounds[_form(str(form))] = [t.name for t in tags]
        self.parents: dict[str, set[str]] = {}
        for name, broader in (data.get("implies") or {}).items():
            tag = vocabulary.get(str(name))
            if tag is None:
                continue
            self.parents[tag.name] = {vocabulary.get(str(b)).name for b in broader or () if vocabulary.get(str(b))}
        self._close_parents()
        self.children: dict[str, set[str]] = {}
        for child, parents in self.parents.items():
            for p in parents:
                self.children.setdefault(p, set()).add(child)
        # phrases that name no tag although a tag's form is inside ("the key of A minor" is not "keys")
        self.not_tags = frozenset(_form(str(f)) for f in data.get("not_tags") or ())
        self.negation_cues = frozenset(_form(" ".join(map(str, data.get("negation_cues") or ()))))
        self.negation_breaks = frozenset(_form(" ".join(map(str, data.get("negation_breaks") or ()))))
        # For the scan: first word -> the lengths of the forms starting with it, longest first (most words
        # of a text start no form and are skipped at once), and form -> what it names, in the order the
        # scan must try (a phrase that is no tag, then a compound, then a tag's form): one lookup a form.
        self._lengths_from: dict[str, tuple[int, ...]] = {}
        for f in list(self.forms) + list(self.compounds) + list(self.not_tags):
            self._lengths_from[f[0]] = tuple(sorted({len(f), *self._lengths_from.get(f[0], ())}, reverse=True))
        self._named_by: dict[tuple[str, ...], tuple[tuple[str, ...], bool] | None] = {
            **{f: (tuple(names), False) for f, names in self.forms.items()},
            **{f: (tuple(names), True) for f, names in self.compounds.items()},
            **{f: None for f in self.not_tags}}

    @staticmethod
    def _add(table: dict, form: tuple[str, ...], tag: str) -> None:
        if not form:
            return
        names = table.setdefault(form, [])
        if tag not in names:
            names.append(tag)

    def _close_parents(self) -> None:
        changed = True
        while changed:
            changed = False
            for child, parents in self.parents.items():
                extra = set().union(*(self.parents.get(p, set()) for p in parents)) - parents - {child}
                if extra:
                    parents |= extra
                    changed = True

    def with_parents(self, tags: Iterable[str]) -> set[str]:
        out = set(tags)
        parents = self.parents
        for t in tuple(out):
            found = parents.get(t)  # most tags have no broader tag: no empty set made for them
            if found:
                out |= found
        return out

    def _negated_positions(self, toks: Sequence[str]) -> list[bool]:
        negated, left = [False] * len(toks), 0
        for i, tok in enumerate(toks):
            if tok in _SENTENCE_END or tok in self.negation_breaks:
                left = 0
                continue
            if tok in self.negation_cues or tok.endswith("n't"):
                left = NEGATION_WINDOW
                continue
            if tok == ",":
                # "no drums, bass or vocals" goes on past the comma; "no percussion, male vocals" does not
                if left > 0 and not self._coordination_ahead(toks, i + 1, left):
                    left = 0
                continue
            if left > 0:
                negated[i] = True
                left -= 1
        return negated

    def _coordination_ahead(self, toks: Sequence[str], start: int, budget: int) -> bool:
        """An "or"/"nor" follows within the negation's remaining words, before the stretch would end."""
        for tok in toks[start:]:
            if tok in ("or", "nor"):
                return True
            if tok in _SENTENCE_END or tok in self.negation_breaks:
                return False
            if tok != ",":
                budget -= 1
                if budget < 0:
                    return False
        return False

    def scan(self, text: str) -> list[Mention]:
        """Left-to-right, longest-form-first mentions of vocabulary tags in `text`."""
        if len(text) <= 64:  # tag texts: the same few thousand strings again and again
            cached = self._scan_cache.get(text)
            if cached is None:
                if len(self._scan_cache) >= 1 << 16:  # bounded: free-form tags can be endless
                    self._scan_cache.clear()
                cached = self._scan_cache[text] = tuple(self._scan(text))
            return list(cached)
        return self._scan(text)

    def _scan(self, text: str) -> list[Mention]:
        return self.scan_tokens(words(text))

    def scan_tokens(self, toks: list[str]) -> list[Mention]:
        """`scan` on a text already split by `words` (fidelity needs the tokens too: split once)."""
        # most texts deny nothing: then no word is negated, and the negation pass is skipped
        negated = (self._negated_positions(toks) if not self.negation_cues.isdisjoint(toks)
                   or any(t.endswith("n't") for t in toks if "'" in t) else None)
        mentions, i, n = [], 0, len(toks)
        lengths_from, named_by = self._lengths_from, self._named_by
        while i < n:
            lengths = lengths_from.get(toks[i])
            if lengths is None:
                i += 1
                continue
            for length in lengths:
                if length > n - i:
                    continue
                form = tuple(toks[i:i + length])
                if form in named_by:
                    named = named_by[form]
                    if named is not None:  # None: a phrase that names no tag ("the key of A minor")
                        mentions.append(Mention(i, i + length, named[0], named[1], bool(negated and negated[i])))
                    break
            else:
                i += 1
                continue
            i += length
        return mentions

    def has_negation_cue(self, text: str) -> bool:
        """A word of `text` starts a negated stretch ("no", "without", "...n't")."""
        cached = self._cue_cache.get(text)
        if cached is None:
            if len(self._cue_cache) >= 1 << 16:  # bounded: free-form tags can be endless
                self._cue_cache.clear()
            cached = self._cue_cache[text] = any(t in self.negation_cues or t.endswith("n't") for t in words(text))
        return cached

    def own_tag(self, tag_text: str) -> OwnTag:
        """What `fidelity_of_own_tags` needs of a tag string, looked up once (cached, bounded)."""
        cached = self._own_cache.get(tag_text)
        if cached is None:
            names, all_of, supports = self.input_tag(tag_text)
            mentions = tuple(self.scan(tag_text))
            if names is None:
                itself = bool(_content_words(tag_text))
            else:
                read = {t for m in mentions if not m.negated for t in m.tags}
                itself = all(n in read for n in names) if all_of else any(n in read for n in names)
            cached = OwnTag(self.has_negation_cue(tag_text), itself, supports, mentions, _form(tag_text))
            if len(self._own_cache) >= 1 << 16:  # bounded: free-form tags can be endless
                self._own_cache.clear()
            self._own_cache[tag_text] = cached
        return cached

    def input_tag(self, tag_text: str) -> tuple[list[str] | None, bool, frozenset[str]]:
        """What an input tag denotes: (vocabulary names it is exactly, or None; all_of; the vocabulary
        tags it supports: those names, the tags its non-negated mentions name, and their parents).
        Cached: the same tag strings come back on every row, and this was a third of the `tags`
        method's time."""
        cached = self._input_cache.get(tag_text)
        if cached is None:
            tag = self.vocabulary.get(tag_text)
            exact = ([tag.name], True) if tag is not None else self.exact_form(tag_text)
            names, all_of = (list(exact[0]), exact[1]) if exact is not None else (None, False)
            supports = {t for m in self.scan(tag_text) if not m.negated for t in m.tags} | set(names or ())
            # parents per tag, not per row: with_parents of a union is the union of with_parents
            supports = frozenset(self.with_parents(supports))
            if len(self._input_cache) >= 1 << 16:  # bounded: free-form tags can be endless
                self._input_cache.clear()
            cached = self._input_cache[tag_text] = (names, all_of, supports)
        return cached

    def exact_form(self, tag_text: str) -> tuple[list[str], bool] | None:
        """The vocabulary tags a whole string names when it is exactly one surface form, else None."""
        form = _form(tag_text)
        if form in self.compounds:
            return self.compounds[form], True
        if form in self.forms:
            return self.forms[form], False
        return None


_MATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def matcher_for(vocabulary, aliases: str | Path | None = None) -> TagMatcher:
    """A cached TagMatcher for this vocabulary object (packaged alias table unless `aliases` is given)."""
    if aliases is not None:
        return TagMatcher(vocabulary, aliases)
    cached = _MATCHERS.get(vocabulary)
    if cached is None:
        cached = _MATCHERS[vocabulary] = TagMatcher(vocabulary)
    return cached


@functools.lru_cache(maxsize=1 << 16)  # tag strings: the same ones on every row
def _content_words(tag_text: str) -> tuple[str, ...]:
    toks = [t for t in words(tag_text) if t not in _SENTENCE_END and t != ","]
    content = [t for t in toks if t not in STOPWORDS and t not in GENERIC_WORDS]
    return tuple(content or [t for t in toks if t not in STOPWORDS] or toks)


def _dedupe(tags: Iterable[InputTag]) -> list[InputTag]:
    seen, out = set(), []
    for t in tags:
        key = _form(t.tag)
        if key and key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _default_matcher(vocabulary) -> TagMatcher:
    if vocabulary is None:
        from pipelines.tag.vocabulary import Vocabulary

        vocabulary = Vocabulary.load()
    return matcher_for(vocabulary)


def fidelity(text: str, tags: Sequence[InputTag], vocabulary=None, matcher: TagMatcher | None = None) -> Fidelity:
    """Fidelity of one generated `text` to its input `tags` (see the module docstring for the rules)."""
    matcher = matcher or _default_matcher(vocabulary)
    text_toks = words(text)
    mentions = matcher.scan(text) if len(text) <= 64 else matcher.scan_tokens(text_toks)
    return _fidelity(text_toks, mentions, tags, matcher)


def fidelity_of_list(parts: Sequence[str], tags: Sequence[InputTag], matcher: TagMatcher) -> Fidelity:
    """fidelity(", ".join(parts), tags), from the cached scans of the parts (the `tags` method's text is
    its tags joined by commas: the same few thousand tag strings on every row).

    Exact: no form spans a comma (forms hold no "," token) and the tokens of the joined text are the
    parts' tokens with a "," between them. Only negation reaches past a comma ("no drums, bass or
    vocals"), so a part with a negation cue sends the row to the full scan."""
    if any(matcher.has_negation_cue(part) for part in parts):
        return fidelity(", ".join(parts), tags, matcher=matcher)
    toks: list[str] = []
    mentions: list[Mention] = []
    for i, part in enumerate(parts):
        if i:
            toks.append(",")
        toks += words(part)
        mentions += matcher.scan(part)
    return _fidelity(toks, mentions, tags, matcher)


def fidelity_of_own_tags(parts: Sequence[str], tags: Sequence[InputTag], matcher: TagMatcher) -> Fidelity:
    """fidelity(", ".join(parts), tags) when `parts` are the tags' own texts, in any order (the `tags`
    method's text).

    An input tag *names itself* when a text holding its words unnegated surely mentions it: a free-form
    tag with content words (all of them are in the text), or a tag whose own text has a mention naming
    what it denotes (an ambiguous mention is read as every candidate an input supports, and a tag
    supports its own names). When every input does and no part negates, nothing is missing, negated or
    partial, and what is left to find is which vocabulary tags the text names, in order, and which of
    them no input supports. Otherwise the row goes to ``fidelity_of_list``; tests compare both with a
    full scan over thousands of random lists. This was a third of the `tags` method's per-row work."""
    if sorted(parts) != sorted(t.tag for t in tags):
        raise ValueError("fidelity_of_own_tags: parts must be the tags' own texts")
    own = matcher.own_tag
    seen: set[tuple] = set()
    mentioned: list[str] = []
    supported: set[str] = set()
    for t in tags:  # _dedupe, then each input's support
        info = own(t.tag)
        if info.negation_cue:
            return fidelity_of_list(parts, tags, matcher)
        if not info.form or info.form in seen:
            continue
        if not info.names_itself:
            return fidelity_of_list(parts, tags, matcher)
        seen.add(info.form)
        mentioned.append(t.tag)
        supported |= info.supports
    text_tags: list[str] = []
    for part in parts:
        for m in own(part).mentions:
            if m.all_of or len(m.tags) == 1:
                chosen = m.tags
            else:  # as in _fidelity: the supported candidates, else the most likely; one reading kept
                chosen = ([c for c in m.tags if c in supported] or [m.tags[0]])[:1]
            for r in chosen:
                if r not in text_tags:
                    text_tags.append(r)
    hallucinated = [t for t in text_tags if t not in supported]
    return Fidelity(
        mentioned=mentioned, missing=[], hallucinated=hallucinated, coverage=1.0,
        hallucination_rate=len(hallucinated) / len(text_tags) if text_tags else 0.0, partial={},
        soft_coverage=1.0, negated=[], text_tags=text_tags)


def _fidelity(text_toks: list[str], mentions: list[Mention], tags: Sequence[InputTag], matcher: TagMatcher) -> Fidelity:
    """Fidelity of a text given as its `words` and its `scan`."""
    inputs = _dedupe(tags)

    # What each input tag denotes, and which vocabulary tags the inputs support.
    denotes: list[tuple[InputTag, list[str] | None, bool]] = []
    supported: set[str] = set()
    for t in inputs:
        names, all_of, supports = matcher.input_tag(t.tag)
        denotes.append((t, names, all_of))
        supported |= supports

    # What the text names.
    # An ambiguous form ("bass") is read as the supported candidates, else as its most likely reading;
    # `text_tags` keeps one reading per form, `readings` all of them (to credit input tags).
    text_tags: list[str] = []
    readings: set[str] = set()
    negated_tags: set[str] = set()
    for m in mentions:
        if m.all_of:
            resolved = chosen = m.tags
        elif len(m.tags) == 1:  # most forms name one tag: it is the reading, supported or not
            resolved = chosen = m.tags
        else:
            resolved = [c for c in m.tags if c in supported] or [m.tags[0]]
            chosen = resolved[:1]
        if m.negated:
            negated_tags.update(resolved)
            continue
        readings.update(resolved)
        for r in chosen:
            if r not in text_tags:
                text_tags.append(r)
    named = matcher.with_parents(readings)
    hallucinated = [t for t in text_tags if t not in supported]

    text_words = {w for w in text_toks if w not in _SENTENCE_END and w != ","}
    text_stems = None  # stemmed only once a free-form tag has a word the text does not have as is

    mentioned, missing, negated, partial = [], [], [], {}
    for t, names, all_of in denotes:
        hit = False
        if names is not None:
            found = [n in named for n in names]
            hit = all(found) if all_of else any(found)
            if not hit:
                if any(n in negated_tags for n in names):
                    negated.append(t.tag)
                elif any(matcher.parents.get(n, set()) & readings for n in names):
                    partial[t.tag] = 0.5
        if not hit and names is None:
            content = _content_words(t.tag)
            found_words = 0
            for w in content:
                if w not in text_words:
                    if text_stems is None:
                        text_stems = {porter_stem(x) for x in text_words}
                    if porter_stem(w) not in text_stems:
                        continue
                found_words += 1
            if content and found_words == len(content):
                hit = True
            elif found_words and t.tag not in negated:
                partial[t.tag] = max(partial.get(t.tag, 0.0), found_words / len(content))
        if hit:
            mentioned.append(t.tag)
            partial.pop(t.tag, None)
        else:
            missing.append(t.tag)

    n = len(inputs)
    return Fidelity(
        mentioned=mentioned,
        missing=missing,
        hallucinated=hallucinated,
        coverage=len(mentioned) / n if n else 1.0,
        hallucination_rate=len(hallucinated) / len(text_tags) if text_tags else 0.0,
        partial=partial,
        soft_coverage=(len(mentioned) + sum(partial.values())) / n if n else 1.0,
        negated=negated,
        text_tags=text_tags,
    )


def best_of(candidates: Sequence[str], tags: Sequence[InputTag], vocabulary=None,
            matcher: TagMatcher | None = None) -> int:
    """Index of the most faithful candidate: highest coverage, then fewest hallucinations, then first."""
    if not candidates:
        raise ValueError("best_of needs at least one candidate")
    matcher = matcher or _default_matcher(vocabulary)
    best, best_key = 0, None
    for i, text in enumerate(candidates):
        f = fidelity(text, tags, matcher=matcher)
        key = (f.coverage, -len(f.hallucinated))
        if best_key is None or key > best_key:
            best, best_key = i, key
    return best
