"""Rewriters: templated sentences (one per tag category) -> one fluent description.

The three stages follow Kasner & Dusek (2022), "Neural pipeline for zero-shot data-to-text":
ordering (which facts come first), aggregation (which facts share a sentence) and paragraph
compression (fusing the facts of one sentence into clauses).

* ``BuiltinRewriter``: no model, deterministic given the ``random.Random`` it receives. It never
  drops or invents a tag: every fragment it writes comes from a template of the bank (so wording
  stays data), and it checks after every fragment which tags the text expresses; tags a fragment
  left out are written by a later sentence.
* ``Seq2SeqRewriter``: any transformers seq2seq model (hub id or local folder). The templated
  sentences go in as one paragraph; ``model.generate`` writes the output. Outputs that lose tags are
  flagged per row (``meta["lost_tags"]``) and, by default, replaced by a fallback rewriter's text.
* ``JoinRewriter``: the templated sentences as they are (the "no rewriting" ablation).
"""
from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.synthesize.data2text.grammar import found_in, join_and, mentions, missing
from pipelines.synthesize.data2text.templates import (
    FRAME,
    RenderedSentence,
    TemplateBank,
    end_sentence,
    finish_sentence,
)


@dataclass
class RewriteResult:
    text: str
    meta: dict = field(default_factory=dict)


class RewriteLossError(RuntimeError):
    """A model's output lost tags and the rewriter was told to raise (``on_loss="raise"``)."""


def all_tags(sentences: Sequence[RenderedSentence]) -> list[str]:
    out, seen = [], set()
    for s in sentences:
        for t in s.tags:
            if t.lower() not in seen:
                seen.add(t.lower())
                out.append(t)
    return out


def dedupe(tags: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Drop exact duplicates (case-insensitive) and tags whose text another tag of the list already
    contains ("bass" next to "groovy bass", "male vocal" next to "male vocals"). Returns the kept
    tags in order and {dropped: kept tag that expresses it}. Every input tag stays expressed."""
    if len(tags) < 2:  # nothing to merge (and no memo entry to spend on it)
        return list(tags), {}
    kept, merged = _dedupe(tuple(tags))
    return list(kept), dict(merged)


@functools.lru_cache(maxsize=1 << 15)  # pairwise regex tests per list; the same lists recur across rows
def _dedupe(tags: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    uniq, seen = [], set()
    merged: dict[str, str] = {}
    for t in tags:
        key = " ".join(t.lower().split())
        if key in seen:
            first = next(u for u in uniq if " ".join(u.lower().split()) == key)
            if first != t:
                merged.setdefault(t, first)
            continue
        seen.add(key)
        uniq.append(t)
    kept = []
    # mentions(o, t) for every pair, with each host's lower-case form made once rather than once a pair
    lowered = [(o, o.lower() if o.isascii() else None) for o in uniq]
    for t in uniq:
        blank, size, host = not t.strip(), len(t), None  # mentions() says a blank tag is in every text
        for o, low in lowered:
            if len(o) > size and o is not t and (blank or found_in(o, low, t)):
                host = o
                break
        if host is None:
            kept.append(t)
        else:
            merged[t] = host
    # a host may itself have been absorbed by a longer one: point at the final carrier
    for k, v in list(merged.items()):
        while v in merged and merged[v] != v:
            v = merged[v]
        merged[k] = v
    return tuple(kept), tuple(merged.items())


class Rewriter:
    """Interface: ``rewrite(sentences, rng) -> RewriteResult``."""

    name = "rewriter"

    def params(self) -> dict:
        return {}

    def describe(self) -> dict:
        return {"name": self.name, **self.params()}

    def rewrite(self, sentences: Sequence[RenderedSentence], rng: random.Random) -> RewriteResult:
        raise NotImplementedError

    def rewrite_many(self, batch: Sequence[Sequence[RenderedSentence]],
                     rngs: Sequence[random.Random]) -> list[RewriteResult]:
        if len(batch) != len(rngs):
            raise ValueError(f"{len(batch)} rows but {len(rngs)} random generators")
        return [self.rewrite(s, r) for s, r in zip(batch, rngs, strict=True)]


class JoinRewriter(Rewriter):
    """The templated sentences joined as they are, in the given order."""

    name = "join"

    def rewrite(self, sentences, rng):
        return RewriteResult(" ".join(s.text for s in sentences if s.text), {"sentences": len(sentences)})


# ------------------------------------------------------------------------------------ builtin
DEFAULT_ORDER = ("genre", "production", "vocals", "instrument", "mood", "tempo", "key", "quality", "other")
# which categories may follow which subject as a predicate ("frame" = a subject naming no tag)
DEFAULT_PREDICATES = {
    "genre": ("instrument", "vocals", "mood", "tempo", "key", "other"),
    "quality": ("genre", "instrument", "vocals", "production", "mood"),
    "production": ("genre", "instrument", "vocals", "mood"),
    FRAME: ("instrument", "vocals", "mood", "tempo", "key", "other", "production"),
}
DEFAULT_MODIFIERS = ("instrument", "vocals", "mood", "tempo", "key", "quality", "other")
SUBJECT_CATEGORIES = ("genre", "quality", "production")
CLAUSE_CATEGORIES = ("genre", "production")
# related categories whose tags may share one list ("features a male vocal, a piano and claps")
DEFAULT_MERGES = {"instrument": ("vocals",)}
# neighbouring categories of the canonical order that may swap places (each pair with p_shuffle)
SWAPPABLE_PAIRS = (("vocals", "instrument"), ("mood", "tempo"), ("instrument", "mood"), ("genre", "production"))
# categories that may open the first sentence as "the recording" ("The low quality recording features ...")
RECORDING_SUBJECT_CATEGORIES = ("quality", "production")
# categories whose tags can share one "voices over instruments" fragment
VOICE_AND_INSTRUMENT = ("vocals", "instrument")

# Fixed probabilities and limits of the fused-sentence plan (the tunable ones are BuiltinRewriter's p_* params).
P_CLAUSE_OPENING = 0.5  # a genre/production focus opens with a clause/noun phrase rather than as a subject
P_NOUN_PHRASE_OPENING = 0.35  # ... and that opening is verbless ("Rock song with ...") rather than a clause
P_MERGED_TAGS_FIRST = 0.5  # a merged related list goes before the category's own tags ("a male vocal, a piano")
P_SKIP_LATER_MODIFIER = 0.3  # after the first modifier, chance to leave a category for a later sentence
MAX_PREDICATES = 2  # "sounds X and has a slow tempo", never three
MAX_MODIFIERS = 2  # "..., with a piano, at a slow tempo", never three
STEM_CHARS = 5  # fragments whose first words share 5 letters ("features" / "featuring") count as alike
RELATIVE_CLAUSE_STARTS = ("that ", "which ")  # modifiers allowed only right after the noun "song"
BARE_JOIN_STARTS = ("that ", "which ", "who ")  # parts joined with a space, not a comma
# modifiers that are clauses of their own ("and it sounds sad", "while the recording is noisy"): not after a
# verbless opening ("Rock song with a piano, and it sounds sad") nor after two coordinated predicates
CLAUSE_MODIFIER_STARTS = ("and ", "while ")
MAX_SENTENCES = 200  # loop guard: only reached if templates misbehave


def stem(text: str) -> str:
    """The first word's first letters: two fragments with the same stem would read repetitively."""
    return text.split(" ", 1)[0].lower()[:STEM_CHARS]


def not_starting_like(stems: set[str]):
    """Template filter: fragments whose stem is none of `stems`."""
    return lambda t: stem(t) not in stems


def modifier_filter(firsts: set[str], after_song: bool, clause_ok: bool = True):
    """Template filter for a modifier: no two modifiers (nor the predicate) start alike, a relative
    clause ("that consists of ...") only right after the noun it describes, and a clause of its own
    ("and it sounds sad") only where `clause_ok`."""

    def accept(t: str) -> bool:
        w = t.split(" ", 1)[0].lower()
        if w[:STEM_CHARS] in firsts or w in firsts:
            return False
        if not clause_ok and t.startswith(CLAUSE_MODIFIER_STARTS):
            return False
        return not t.startswith(RELATIVE_CLAUSE_STARTS) or after_song

    return accept


def coordinate(predicates: Sequence[str]) -> str:
    """One or two predicates as one ("sounds X and has a slow tempo"); a comma before "and" when the first
    predicate is itself a list."""
    if len(predicates) == 2:
        first = predicates[0]
        sep = ", and " if ("," in first or " and " in first) else " and "
        return first + sep + predicates[1]
    return predicates[0]


def take(left: dict[str, list[str]], category: str, covered: Sequence[str]) -> None:
    """Mark `covered` tags of `category` as written."""
    left[category] = [t for t in left[category] if t not in covered]


class BuiltinRewriter(Rewriter):
    """Rule-based ordering, aggregation and compression over template fragments.

    Parameters are probabilities of the seeded choices and size limits:
    ``max_list`` tags per list fragment (longer lists continue in an "also" sentence),
    ``max_sentence_tags`` tags per sentence (so 15+ tags come out as 2-3 sentences),
    ``p_fuse`` chance that a category joins the current sentence rather than getting its own
    templated sentence, ``p_merge`` chance that related categories share one list,
    ``p_coordinate`` chance of a second predicate ("sounds X and has a slow tempo"),
    ``p_over`` chance that voices and instruments share one fragment ("a male vocal singing over ..."),
    ``p_recording_subject`` chance that a recording opens the text ("The low quality recording features ...").
    """

    name = "builtin"

    def __init__(self, bank: TemplateBank | None = None, *, max_list: int = 7, max_sentence_tags: int = 10,
                 p_fuse: float = 0.3, p_merge: float = 0.5, p_coordinate: float = 0.3, p_shuffle: float = 0.25,
                 p_over: float = 0.35, p_recording_subject: float = 0.8,
                 order: Sequence[str] = DEFAULT_ORDER, predicates: dict | None = None,
                 modifiers: Sequence[str] = DEFAULT_MODIFIERS, merges: dict | None = None):
        self.bank = bank or TemplateBank.load()
        self.max_list = max_list
        self.max_sentence_tags = max_sentence_tags
        self.p_fuse, self.p_merge, self.p_coordinate, self.p_shuffle = p_fuse, p_merge, p_coordinate, p_shuffle
        self.p_over = p_over
        self.p_recording_subject = p_recording_subject
        self.order = tuple(order)
        self.predicates = dict(DEFAULT_PREDICATES if predicates is None else predicates)
        self.modifiers = tuple(modifiers)
        self.merges = dict(DEFAULT_MERGES if merges is None else merges)

    def params(self) -> dict:
        return {
            "bank_version": self.bank.version,
            "max_list": self.max_list,
            "max_sentence_tags": self.max_sentence_tags,
            "p_fuse": self.p_fuse,
            "p_merge": self.p_merge,
            "p_coordinate": self.p_coordinate,
            "p_shuffle": self.p_shuffle,
            "p_over": self.p_over,
            "p_recording_subject": self.p_recording_subject,
        }

    # ------------------------------------------------------------------ stage 1: ordering
    def order_categories(self, categories: Sequence[str], rng: random.Random) -> list[str]:
        """Canonical order (genre, production, vocals, instruments, mood, tempo, quality, other) with
        seeded local swaps; categories the order does not know go before 'other'."""
        rank = {c: i for i, c in enumerate(self.order)}
        fallback = rank.get("other", len(rank)) - 0.5
        cats = sorted(categories, key=lambda c: (rank.get(c, fallback), c))
        for a, b in SWAPPABLE_PAIRS:
            if a in cats and b in cats and rng.random() < self.p_shuffle:
                i, j = cats.index(a), cats.index(b)
                cats[i], cats[j] = cats[j], cats[i]
        return cats

    # ------------------------------------------------------------------ helpers
    def _fragment(self, category: str, role: str, tags: list[str], rng: random.Random, used: list, accept=None,
                  rest: Sequence[str] = ()):
        """(text, covered tags) for one role template of `category`, or None."""
        if role == "anaphor" or category == FRAME:
            r = self.bank.render(FRAME, [], rng, role, accept=accept)
            if r is None or not r.text:
                return None
            covered = [t for t in list(tags) + list(rest) if mentions(r.text, t)]
        else:  # None, without a draw from rng, when the category has no template for the role
            found = self.bank.render_with_lost(category, tags, rng, role, accept=accept, rest=rest)
            if found is None or not found[0].text:
                return None
            r, lost = found
            # the tags the text mentions: those the render did not leave out (no second regex search)
            covered = [*tags, *rest]
            if lost:
                covered = [t for t in covered if t not in lost]
        if category != FRAME and not covered:
            return None
        used.append((r.template_id, r.template_hash))
        return r.text, covered

    @staticmethod
    def _group(sentences: Sequence[RenderedSentence]):
        """{category: deduplicated tags}, {category: its templated sentence}, {dropped tag: tag expressing it}."""
        groups: dict[str, list[str]] = {}
        originals: dict[str, RenderedSentence] = {}
        merged_tags: dict[str, str] = {}
        for s in sentences:
            groups.setdefault(s.category, []).extend(s.tags)
            originals.setdefault(s.category, s)
        for c in list(groups):
            groups[c], m = dedupe(groups[c])
            merged_tags.update(m)
            if not groups[c]:
                del groups[c]
        return groups, originals, merged_tags

    # ------------------------------------------------------------------ stages 2+3
    def rewrite(self, sentences: Sequence[RenderedSentence], rng: random.Random) -> RewriteResult:
        """Order the categories, then write sentences until every tag is written: each sentence fuses
        several categories (with probability p_fuse, always tried for the first sentence) or is the focus
        category's own templated sentence."""
        groups, originals, merged_tags = self._group(sentences)
        order = self.order_categories(list(groups), rng)
        left = {c: list(groups[c]) for c in order}  # tags not written yet
        used: list[tuple[str, str]] = []
        out: list[str] = []
        stats = {"fused": 0, "kept": 0, "also": 0, "last_resort": 0, "merged_lists": 0}

        for _ in range(MAX_SENTENCES):
            cats = [c for c in order if left[c]]
            if not cats:
                break
            focus = cats[0]
            text = None
            if rng.random() < self.p_fuse or (not out and self.p_fuse > 0):
                text = _FusedSentence(self, cats, left, rng, used, stats).plan(first=not out)
            if text is None:
                said_before = len(left[focus]) < len(groups[focus])
                text = self._own_sentence(focus, left, originals, said_before, rng, used, stats)
            out.append(text)

        final = " ".join(out)
        lost = missing(final, all_tags(sentences))
        meta = {
            "order": order,
            "sentences": len(out),
            "templates": [{"id": i, "hash": h} for i, h in used],
            "merged_tags": merged_tags,
            **stats,
        }
        if lost:
            meta["lost_tags"] = lost
        return RewriteResult(final, meta)

    def _own_sentence(self, focus, left, originals, said_before, rng, used, stats) -> str:
        """The focus category's templated sentence as rendered before rewriting (aggregation kept it
        separate), or, for the rest of a long list, an 'also' sentence."""
        chunk = left[focus][: self.max_list]
        orig = originals.get(focus)
        if orig is not None and list(orig.tags) == chunk and not missing(orig.text, chunk):
            take(left, focus, chunk)
            used.append((orig.template_id, orig.template_hash))
            stats["kept"] += 1
            return orig.text
        for role in (("also", "sentence") if said_before else ("sentence", "also")):
            frag = self._fragment(focus, role, chunk, rng, used)
            if frag:
                take(left, focus, frag[1])
                stats["also" if role == "also" else "kept"] += 1
                return end_sentence(frag[0])  # rendered text is tidy
        # last resort (only reached when templates leave tags out): say them plainly
        frag = self._fragment("other", "sentence", chunk, rng, used)
        stats["last_resort"] += 1
        if frag:
            take(left, focus, frag[1])
            return end_sentence(frag[0])
        take(left, focus, chunk)
        return finish_sentence("The song also has " + join_and(chunk))


class _FusedSentence:
    """The plan of one sentence fusing several categories, read top to bottom in ``plan``:

    1. opening: a recording subject, a clause / noun phrase, a tag subject or a frame ("The song");
    2. predicates after a subject: "features ...", "sounds ... and has a slow tempo";
    3. modifiers: "with ...", "featuring ...", "at a slow tempo";
    4. joining the parts into one sentence.

    Each step records which tags it expressed (``claimed``); only when the sentence is written are they
    taken off ``left``. The random draws happen in this order, so a seed gives the same text.
    """

    def __init__(self, rewriter: BuiltinRewriter, cats: list[str], left: dict[str, list[str]],
                 rng: random.Random, used: list, stats: dict):
        self.rw = rewriter
        self.bank = rewriter.bank
        self.cats = cats  # categories with tags left, in order
        self.focus = cats[0]
        self.left = left
        self.rng = rng
        self.used = used
        self.stats = stats
        self.claimed: dict[str, list[str]] = {}  # category -> tags this sentence expresses
        self.parts: list[str] = []
        self.subject_cat: str | None = None  # set when the opening is a subject that takes predicates
        self.ends_with_song = False  # does the text so far end with the noun "... song" (for "that ..." clauses)?
        self.nominal = False  # verbless opening ("Rock song with ..."): no comma before the first modifier
        self.coordinated = False  # two predicates ("sounds X and has Y"): no clause modifier ("and ...") after

    def plan(self, first: bool) -> str | None:
        """The sentence, or None when the focus category cannot lead one."""
        if not self.choose_opening(first):
            return None
        if self.subject_cat is not None and not self.add_predicates():
            return None
        self.add_modifiers()
        if not self.claimed:
            return None
        return self.write()

    # ------------------------------------------------------------------ bookkeeping
    def free(self, category: str) -> list[str]:
        """Tags of `category` neither written before nor claimed by this sentence."""
        claimed = self.claimed.get(category)
        left = self.left.get(category, [])
        return [t for t in left if t not in claimed] if claimed else list(left)

    def has_free(self, category: str) -> bool:
        """bool(free(category)) without building the list (most calls only ask whether it is empty)."""
        left = self.left.get(category)
        if not left:
            return False
        claimed = self.claimed.get(category)
        return not claimed or any(t not in claimed for t in left)

    def fits(self, n_tags: int) -> bool:
        """Would `n_tags` more tags keep the sentence within max_sentence_tags?"""
        return sum(len(v) for v in self.claimed.values()) + n_tags <= self.rw.max_sentence_tags

    def add(self, category: str, role: str, tags: list[str], accept=None, rest: Sequence[str] = ()) -> str | None:
        """Render one fragment and claim the free tags it expresses; None if no template fits."""
        frag = self.rw._fragment(category, role, tags, self.rng, self.used, accept=accept, rest=rest)
        if not frag:
            return None
        text, covered = frag
        claimed = self.claimed
        for c in self.cats:  # claim the free tags of each category that `covered` holds
            mine = claimed.get(c)
            new = [t for t in self.left[c] if t in covered and not (mine and t in mine)]
            if new:
                claimed.setdefault(c, []).extend(new)
        return text

    def list_tags(self, category: str) -> list[str]:
        """Tags for a fragment of `category` (at most max_list), maybe with a related category's merged in
        (with p_merge, before or after its own)."""
        tags = self.free(category)[: self.rw.max_list]
        for other in self.rw.merges.get(category, ()):
            if other in self.cats and self.rng.random() < self.rw.p_merge:
                g = self.bank.grammar
                extra = [t for t in self.free(other) if not g.is_adjective(t) and not g.is_negated(t)]
                if extra and len(tags) + len(extra) <= self.rw.max_list:
                    tags = extra + tags if self.rng.random() < P_MERGED_TAGS_FIRST else tags + extra
                    self.stats["merged_lists"] += 1
        return tags

    def voices_over_instruments(self, role: str, accept=None) -> str | None:
        """With p_over, voices over the instruments in one fragment ("a male vocal singing over a piano")."""
        if "vocals" not in self.cats or "instrument" not in self.cats or self.rng.random() >= self.rw.p_over:
            return None
        voices = self.free("vocals")
        g = self.bank.grammar
        room = max(self.rw.max_list - len(voices), 0)
        inst = [t for t in self.free("instrument") if not g.is_negated(t)][:room]
        if not voices or not inst or not self.fits(len(voices) + len(inst)):
            return None
        return self.add("vocals", role, voices, accept=accept, rest=inst)

    # ------------------------------------------------------------------ 1. opening
    def choose_opening(self, first: bool) -> bool:
        """Try, in turn: the recording as subject (first sentence only, with p_recording_subject), a clause
        or noun phrase ("This is a rock song", with P_CLAUSE_OPENING), the focus tags as subject, and a
        frame subject naming no tag ("The song", "It")."""
        if first and self.rng.random() < self.rw.p_recording_subject:
            self.open_with_recording()
        if not self.parts and self.focus in CLAUSE_CATEGORIES and self.rng.random() < P_CLAUSE_OPENING:
            self.open_with_clause()
        if not self.parts and self.focus in SUBJECT_CATEGORIES:
            self.open_with_subject(self.focus)
        if not self.parts:
            return self.open_with_frame(first)
        return True

    def open_with_recording(self) -> None:
        """"The low quality recording features ...", "This live performance ..."."""
        for c in RECORDING_SUBJECT_CATEGORIES:
            if c in self.cats and self.has_free(c) and self.open_with_subject(c):
                break

    def open_with_clause(self) -> None:
        """"This is a rock song" or, with P_NOUN_PHRASE_OPENING, the verbless "Rock song"."""
        focus = self.focus
        # decided before rendering and kept even if no template fits (it then shapes how parts are joined)
        self.nominal = self.rng.random() < P_NOUN_PHRASE_OPENING and self.bank.has(self.bank.resolve(focus), "np")
        text = self.add(focus, "np" if self.nominal else "clause", self.free(focus)[: self.rw.max_list])
        if text:
            self.parts.append(text)
            self.ends_with_song = True

    def open_with_subject(self, category: str) -> bool:
        """`category`'s tags as the subject of predicates ("The rock song features ...")."""
        text = self.add(category, "subject", self.free(category)[: self.rw.max_list])
        if text:
            self.parts.append(text)
            self.subject_cat = category
        return bool(text)

    def open_with_frame(self, first: bool) -> bool:
        """A subject naming no tag: "The song" for the first sentence, an anaphor ("It") after."""
        if self.focus not in self.rw.predicates.get(FRAME, ()):
            return False
        frag = self.rw._fragment(FRAME, "subject" if first else "anaphor", [], self.rng, self.used)
        if frag is None:
            return False
        self.parts.append(frag[0])
        self.subject_cat = FRAME
        return True

    # ------------------------------------------------------------------ 2. predicates
    def add_predicates(self) -> bool:
        """Up to MAX_PREDICATES predicates of the categories the subject allows ("features ...", "sounds
        ...", "has a slow tempo"); the second with p_coordinate and only if the sentence has room. False
        when none could be written."""
        allowed = self.rw.predicates.get(self.subject_cat, ())
        preds: list[str] = []
        pred_cats: list[str] = []
        for c in self.cats:
            if c not in allowed or c == self.subject_cat or not self.has_free(c):
                continue
            if preds and (len(preds) >= MAX_PREDICATES or self.rng.random() >= self.rw.p_coordinate):
                break
            unlike = not_starting_like({stem(p) for p in preds})  # not "features ... and features ..."
            text = self.voices_over_instruments("over", accept=unlike) if c in VOICE_AND_INSTRUMENT else None
            if text is None:
                tags = self.list_tags(c)
                if preds and not self.fits(len(tags)):
                    break
                text = self.add(c, "predicate", tags, accept=unlike)
            if text:
                preds.append(text)
                pred_cats.append(c)
                if c == "genre":  # "the low quality recording features a rock song" + modifiers
                    break
        if not preds:
            return False
        self.parts.append(coordinate(preds))
        self.coordinated = len(preds) > 1
        self.ends_with_song = self.ends_with_song or (len(preds) == 1 and pred_cats[-1] == "genre")
        return True

    # ------------------------------------------------------------------ 3. modifiers
    def add_modifiers(self) -> None:
        """Up to MAX_MODIFIERS modifiers ("with ...", "featuring ...", "at a slow tempo"), no two starting
        alike nor like the predicate ("features ..., featuring ..."); each after the first is skipped with
        P_SKIP_LATER_MODIFIER."""
        firsts: set[str] = {stem(p) for p in self.parts[1:]}
        if any(", with " in p for p in self.parts):
            firsts.add("with")
        mods = 0
        for c in self.cats:
            if mods >= MAX_MODIFIERS or c not in self.rw.modifiers or not self.has_free(c):
                continue
            tags = self.list_tags(c)
            if not tags or not self.fits(len(tags)):
                continue
            if mods and self.rng.random() < P_SKIP_LATER_MODIFIER:
                continue
            accept = modifier_filter(firsts, after_song=self.ends_with_song and mods == 0,
                                     clause_ok=not self.nominal and not self.coordinated)
            text = self.voices_over_instruments("with_over", accept=accept) if c in VOICE_AND_INSTRUMENT else None
            if text is None:
                text = self.add(c, "modifier", tags, accept=accept)
            if text:
                firsts.add(stem(text))
                self.parts.append(text)
                mods += 1

    # ------------------------------------------------------------------ 4. writing
    def write(self) -> str:
        """Take the claimed tags off `left` and join the parts: subject and predicate with a space, the
        rest with commas (a space before relative clauses and after a verbless opening)."""
        for c, cov in self.claimed.items():
            take(self.left, c, cov)
        self.stats["fused"] += 1
        text = self.parts[0]
        rest = self.parts[1:]
        if self.subject_cat is not None and rest:
            text += " " + rest[0]
            rest = rest[1:]
        for i, p in enumerate(rest):
            bare = p.startswith(BARE_JOIN_STARTS) or (self.nominal and i == 0)
            text += (" " if bare else ", ") + p
        return finish_sentence(text)

# ------------------------------------------------------------------------------------ seq2seq
class Seq2SeqRewriter(Rewriter):
    """Rewrite the templated paragraph with a transformers seq2seq model (BART, T5, ...).

    ``model`` is a hub id or a local folder (set HF_HUB_OFFLINE=1 to stay offline). The model
    loads on first use (``load()``), never at construction, so the object pickles cheaply for Beam.
    ``on_loss``: what to do when the output does not contain every input tag:
    ``"fallback"`` (default) use the fallback rewriter's text, ``"keep"`` keep the model text,
    ``"raise"`` raise ``RewriteLossError``. Either way ``meta["lost_tags"]`` lists the lost tags.
    """

    name = "seq2seq"

    def __init__(self, model: str, *, tokenizer: str | None = None, device: str = "cpu", max_new_tokens: int = 128,
                 num_beams: int = 4, batch_size: int = 8, max_input_tokens: int = 512, input_prefix: str = "",
                 on_loss: str = "fallback", fallback: Rewriter | None = None, generation_kwargs: dict | None = None):
        if on_loss not in ("fallback", "keep", "raise"):
            raise ValueError(f"on_loss must be fallback, keep or raise, not {on_loss!r}")
        self.model_name = str(model)
        self.tokenizer_name = str(tokenizer or model)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self.input_prefix = input_prefix
        self.on_loss = on_loss
        self._fallback = fallback
        self.generation_kwargs = dict(generation_kwargs or {})
        self._model = None
        self._tokenizer = None

    def params(self) -> dict:
        return {
            "model": self.model_name,
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
            "input_prefix": self.input_prefix,
            "on_loss": self.on_loss,
            **({"generation_kwargs": self.generation_kwargs} if self.generation_kwargs else {}),
        }

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = state["_tokenizer"] = None
        return state

    @property
    def fallback(self) -> Rewriter:
        if self._fallback is None:
            self._fallback = BuiltinRewriter()
        return self._fallback

    def load(self) -> Seq2SeqRewriter:
        if self._model is None:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_name)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(self.model_name).to(self.device).eval()
        return self

    def paragraph(self, sentences: Sequence[RenderedSentence]) -> str:
        return self.input_prefix + " ".join(s.text for s in sentences if s.text)

    def generate(self, texts: Sequence[str]) -> list[str]:
        """Model outputs for input paragraphs, in batches of ``batch_size``."""
        import torch

        self.load()
        outs: list[str] = []
        for i in range(0, len(texts), self.batch_size):
            chunk = list(texts[i: i + self.batch_size])
            enc = self._tokenizer(chunk, return_tensors="pt", padding=True, truncation=True,
                                  max_length=self.max_input_tokens)
            enc.pop("token_type_ids", None)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.no_grad():
                ids = self._model.generate(**enc, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams,
                                           do_sample=False, **self.generation_kwargs)
            outs.extend(" ".join(t.split()) for t in self._tokenizer.batch_decode(ids, skip_special_tokens=True))
        return outs

    def rewrite(self, sentences, rng):
        return self.rewrite_many([sentences], [rng])[0]

    def rewrite_many(self, batch, rngs):
        if len(batch) != len(rngs):
            raise ValueError(f"{len(batch)} rows but {len(rngs)} random generators")
        results: list[RewriteResult | None] = [None] * len(batch)
        todo = [i for i, s in enumerate(batch) if any(x.text for x in s)]
        for i in set(range(len(batch))) - set(todo):
            results[i] = RewriteResult("", {"empty": True})
        outputs = self.generate([self.paragraph(batch[i]) for i in todo]) if todo else []
        for i, out in zip(todo, outputs, strict=True):  # generate returns one output per input
            tags = all_tags(batch[i])
            lost = missing(out, tags)
            meta = {"model_output": out, "fallback": False}
            if not lost:
                results[i] = RewriteResult(out, meta)
                continue
            meta["lost_tags"] = lost
            if self.on_loss == "raise":
                raise RewriteLossError(f"model output lost tags {lost}: {out!r}")
            if self.on_loss == "keep":
                results[i] = RewriteResult(out, meta)
                continue
            fb = self.fallback.rewrite(batch[i], rngs[i])
            meta.update(fallback=True, fallback_rewriter=self.fallback.name, fallback_meta=fb.meta)
            results[i] = RewriteResult(fb.text, meta)
        return results  # type: ignore[return-value]
