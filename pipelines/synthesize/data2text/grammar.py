"""Small English helpers for writing tags into sentences: articles, plurals, adjectives, lists.

Word lists come from the `grammar` section of ``pipelines/data/tag_lexicon.yaml``; these
functions are the Jinja filters and tests that data2text templates use (see templates.py).
Nothing here changes a tag's words: helpers only add articles or frame words around them,
or change the case of letters (``display``).
"""
from __future__ import annotations

import re
from functools import lru_cache

from pipelines.synthesize.categorize import Lexicon, default_lexicon, normalize, words_of
from pipelines.synthesize.memo import MAX_ENTRIES, memoized

_IRREGULAR_PLURALS = frozenset({"people", "children", "men", "women", "feet", "teeth", "mice", "geese", "folks"})
_VOWELS = "aeiou"
_LETTER_NAMES_WITH_VOWEL_SOUND = "aefhilmnorsx"
_GENERIC_HEADS = frozenset({"music", "song", "songs", "track", "piece", "tune", "ballad", "anthem", "hymn", "lullaby"})


class Grammar:
    """Grammar decisions for tag phrases, driven by the lexicon's word lists."""

    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or default_lexicon()
        g = self.lexicon.grammar

        def s(key: str) -> frozenset[str]:
            return frozenset(normalize(str(w)) for w in g.get(key) or ())

        self.mass = s("mass_nouns")
        self.not_plural = s("not_plural")
        self.determiners = s("determiners")
        self.nouns = s("nouns")
        self.nominal_ing = s("nominal_ing")
        self.a_before = tuple(sorted(s("a_before"), key=len, reverse=True))
        self.an_before = tuple(sorted(s("an_before"), key=len, reverse=True))
        self.display_case = {normalize(str(k)): str(v) for k, v in (g.get("display_case") or {}).items()}
        self._articles: dict[tuple, str] = {}  # see article

    # ------------------------------------------------------------------ analysis
    @memoized  # pure in `tag`: the same tag strings come back on every row
    def head(self, tag: str) -> str:
        """The head noun of a tag phrase: last word before a preposition; for a trailing participle
        after a noun ("male voice singing") the noun before it."""
        ws = self.lexicon.head_words(tag)
        if not ws:
            return ""
        head = ws[-1]
        if (len(ws) > 1 and head.endswith("ing") and head not in self.nominal_ing
                and not self.lexicon.is_adjective(ws[-2])):
            prev = ws[-2]
            if prev in self.nouns or prev in _IRREGULAR_PLURALS or self.lexicon.word_category(prev):
                head = prev
        return head

    @memoized
    def is_negated(self, tag: str) -> bool:
        ws = words_of(tag)
        return bool(ws) and ws[0] in ("no", "without", "non", "none", "not")

    @memoized
    def is_adjective(self, tag: str) -> bool:
        """True when the phrase works as a predicate adjective ("sounds ___"): its head is one."""
        ws = self.lexicon.head_words(tag)
        return bool(ws) and self.lexicon.is_adjective(ws[-1]) and not self.is_negated(tag)

    @memoized
    def is_plural(self, tag: str) -> bool:
        head = self.head(tag)
        tail = head.rsplit("-", 1)[-1]
        if head in _IRREGULAR_PLURALS:
            return True
        if head in self.not_plural or tail in self.not_plural or len(tail) <= 3:
            return False
        return tail.endswith("s") and not tail.endswith(("ss", "us", "is", "ous"))

    @memoized
    def is_mass(self, tag: str) -> bool:
        """Used without an article: listed mass nouns and bare gerunds ("screaming", "percussive playing")."""
        head = self.head(tag)
        tail = re.split(r"[-/]", head)[-1]
        if head in self.mass or tail in self.mass:
            return True
        if tail.endswith(("ity", "ness", "ism", "ship", "dom", "hood")):  # abstract nouns: "with simplicity"
            return True
        return tail.endswith("ing") and len(tail) > 4 and tail not in self.nominal_ing

    def article(self, tag: str) -> str:
        """'a', 'an' or '' (plural, mass noun, adjective, negation, phrase with its own determiner).

        Remembered by what decides it: the first word (determiner, negation, vowel sound) and the last two
        head words (adjective, plural, mass noun; see ``head``). Templates ask about phrases they built
        ("rock, jazz and pop song"): a new string on most rows, which cost a pass through every test below,
        each leaving an entry in its memo; now most are one lookup (tests compare with ``_article``)."""
        ws = words_of(tag)
        if not ws:
            return ""
        key = (ws[0], tuple(self.lexicon.head_words(tag)[-2:]))
        table = self._articles
        found = table.get(key)
        if found is None:
            if len(table) >= MAX_ENTRIES:
                table.clear()
            found = table[key] = self._article(tag)
        return found

    def _article(self, tag: str) -> str:
        ws = words_of(tag)
        if not ws or ws[0] in self.determiners or self.is_negated(tag):
            return ""
        if self.is_adjective(tag) or self.is_plural(tag) or self.is_mass(tag):
            return ""
        return "an" if self._vowel_sound(ws[0]) else "a"

    def _vowel_sound(self, word: str) -> bool:
        w = word.lower()
        if w.startswith(self.an_before):  # any of the prefixes (str.startswith takes a tuple)
            return True
        if w.startswith(self.a_before):
            return False
        if not w:
            return False
        letters = re.sub(r"[^a-z0-9]", "", w)
        if letters and len(letters) <= 3 and not any(c in _VOWELS for c in letters) and letters.isalpha():
            return letters[0] in _LETTER_NAMES_WITH_VOWEL_SOUND  # initialisms: "an MC", "a DJ"
        if w[0].isdigit():
            return w.startswith(("8", "11", "18"))
        return w[0] in _VOWELS

    # ------------------------------------------------------------------ writing
    @memoized
    def display(self, tag: str) -> str:
        """The tag with known initialisms/proper spellings cased (R&B, DJ, EDM); words unchanged."""
        text = " ".join(str(tag).split())
        if not self.display_case:
            return text
        out = []
        for w in text.split(" "):
            core = w.strip(".,;:!?()\"'")
            rep = self.display_case.get(core.lower())
            out.append(w.replace(core, rep) if rep and core else w)
        return " ".join(out)

    @memoized  # the `a` filter's work: one lookup instead of two calls
    def with_article(self, tag: str) -> str:
        art = self.article(tag)
        return f"{art} {tag}" if art else tag

    def list_articles(self, items, min_items: int = 3) -> list[str]:
        """Articles for the items of a list, as MusicCaps annotators write long lists: every item for a
        short list ("a piano and a guitar"), only the first from `min_items` items on ("a piano, claps,
        bass guitar and drums"). The repeated "a" of long lists made data2text texts repetitive
        (", a" was one of their most frequent word pairs, a rare one in the captions)."""
        items = [items] if isinstance(items, str) else [str(i) for i in items]
        if len(items) < min_items:
            return [self.with_article(i) for i in items]
        return [self.with_article(items[0]), *items[1:]]

    def with_head(self, tag: str, head: str, *keep: str) -> str:
        """"rock" -> "rock song"; unchanged when the phrase already ends with the head noun, or with a
        generic head such as "music"/"song", or with one of `keep`."""
        ws = words_of(tag)
        if not ws:
            return tag
        last = ws[-1]
        if last.endswith(head) or head in ws or last in _GENERIC_HEADS or last in keep:
            return tag
        return f"{tag} {head}"

    def be(self, items) -> str:
        """"is" or "are" for a list of tag phrases ("there is a piano", "there are claps")."""
        items = [items] if isinstance(items, str) else [str(i) for i in items]
        if len(items) == 1 and not self.is_plural(items[0]):
            return "is"
        return "are" if items else "is"

    def there_be(self, items) -> str:
        """"is" or "are" after "there": agrees with the first item ("there is a piano and claps")."""
        items = [items] if isinstance(items, str) else [str(i) for i in items]
        return "are" if items and self.is_plural(items[0]) else "is"


def join_and(items, conj: str = "and", sep: str = ", ", oxford: bool = False) -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    items = [str(i) for i in items if str(i).strip()]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    return sep.join(items[:-1]) + ("," if oxford else "") + f" {conj} {items[-1]}"


def capfirst(text: str) -> str:
    text = str(text)
    for i, c in enumerate(text):
        if c.isalpha():
            return text[:i] + c.upper() + text[i + 1:]
        if c.isdigit():
            return text
    return text


@lru_cache(maxsize=4)
def default_grammar() -> Grammar:
    return Grammar()


def mention_pattern(tag: str) -> re.Pattern:
    """Regex that finds a tag's text in a sentence: case-insensitive, any whitespace between its
    words, not inside a longer word ("rap" is not found in "trap"); a plural ending on the last word
    counts ("male vocal" is expressed by "male vocals")."""
    ws = str(tag).split()
    body = ""
    for i, w in enumerate(ws):
        if i:  # tidy() may remove the space before punctuation ("a , b" is written "a, b")
            body += r"\s*" if not w[0].isalnum() else r"\s+"
        body += re.escape(w)
    plural = "(?:s|es)?" if ws and ws[-1][-1:].isalnum() else ""
    return re.compile(rf"(?<![\w]){body}{plural}(?![\w])", re.IGNORECASE)


_PATTERNS: dict[str, tuple[re.Pattern, str]] = {}


def _pattern(tag) -> tuple[re.Pattern, str]:
    """The tag's mention pattern and its first word in lower case (where any match must start)."""
    found = _PATTERNS.get(tag)
    if found is None:
        if len(_PATTERNS) > 50_000:
            _PATTERNS.clear()
        ws = str(tag).split()
        found = _PATTERNS[tag] = (mention_pattern(tag), ws[0].lower() if ws and ws[0].isascii() else "")
    return found


def found_in(text: str, lower: str | None, tag) -> bool:
    """``mentions`` for a tag that is not blank, with `lower` = text.lower() when the text is ASCII (else None).

    A regex search tries every position of the text (~25 ns a character, 5 us for a description) since
    the pattern opens with a lookbehind; in ASCII text a match can only start where the tag's first word
    is, which str.find finds far faster, so the pattern is only tried there (same answer as a search)."""
    rx, first = _pattern(tag)
    if lower is None or not first:
        return rx.search(text) is not None
    at = lower.find(first)
    while at >= 0:
        if rx.match(text, at):
            return True
        at = lower.find(first, at + 1)
    return False


def mentions(text: str, tag: str) -> bool:
    """True when `tag` appears in `text` (see ``mention_pattern``).

    Not memoized: the texts asked about are nearly all new (a fresh render, a row's description); a memo
    here hit 27% of checks."""
    if not str(tag).strip():
        return True
    return found_in(text, text.lower() if text.isascii() else None, tag)


def missing(text: str, tags) -> list[str]:
    """Tags (in order) whose text does not appear in `text`."""
    lower = text.lower() if text.isascii() else None
    return [t for t in tags if str(t).strip() and not found_in(text, lower, t)]
