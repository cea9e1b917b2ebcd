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

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines.synthesize.data2text.grammar import join_and, mentions, missing
from pipelines.synthesize.data2text.templates import FRAME, RenderedSentence, TemplateBank, finish_sentence, tidy


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
    for t in uniq:
        host = next((o for o in uniq if o is not t and len(o) > len(t) and mentions(o, t)), None)
        if host is None:
            kept.append(t)
        else:
            merged[t] = host
    # a host may itself have been absorbed by a longer one: point at the final carrier
    for k, v in list(merged.items()):
        while v in merged and merged[v] != v:
            v = merged[v]
        merged[k] = v
    return kept, merged


class Rewriter:
    """Interface: ``rewrite(sentences, rng) -> RewriteResult``."""

    name = "rewriter"

    def params(self) -> dict:
        return {}

    def describe(self) -> dict:
        return {"name": self.name, **self.params()}

    def rewrite(self, sentences: Sequence[RenderedSentence], rng: random.Random) -> RewriteResult:
        raise NotImplementedError

    def rewrite_many(self, batch: Sequence[Sequence[RenderedSentence]], rngs: Sequence[random.Random]) -> list[RewriteResult]:
        if len(batch) != len(rngs):
            raise ValueError(f"{len(batch)} rows but {len(rngs)} random generators")
        return [self.rewrite(s, r) for s, r in zip(batch, rngs)]


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
                 p_fuse: float = 0.8, p_merge: float = 0.5, p_coordinate: float = 0.6, p_shuffle: float = 0.25,
                 p_over: float = 0.35, p_recording_subject: float = 0.5,
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
        for a, b in (("vocals", "instrument"), ("mood", "tempo"), ("instrument", "mood"), ("genre", "production")):
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
        else:
            if not self.bank.has(self.bank.resolve(category), role):
                return None
            r = self.bank.render(category, tags, rng, role, accept=accept, rest=rest)
        if r is None or not r.text:
            return None
        covered = [t for t in list(tags) + list(rest) if mentions(r.text, t)]
        if category != FRAME and not covered:
            return None
        used.append((r.template_id, r.template_hash))
        return r.text, covered

    # ------------------------------------------------------------------ stages 2+3
    def rewrite(self, sentences: Sequence[RenderedSentence], rng: random.Random) -> RewriteResult:
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
        order = self.order_categories(list(groups), rng)
        left = {c: list(groups[c]) for c in order}
        used: list[tuple[str, str]] = []
        out: list[str] = []
        stats = {"fused": 0, "kept": 0, "also": 0, "last_resort": 0, "merged_lists": 0}

        def remaining():
            return [c for c in order if left[c]]

        def take(category, covered):
            left[category] = [t for t in left[category] if t not in covered]

        guard = 0
        while remaining():
            guard += 1
            if guard > 200:  # cannot happen unless templates misbehave; keep the loop finite
                break
            cats = remaining()
            focus = cats[0]
            text = None
            if rng.random() < self.p_fuse or (not out and self.p_fuse > 0):
                text = self._fused_sentence(cats, left, rng, used, first=not out, stats=stats, take=take)
            if text is None:
                said_before = len(left[focus]) < len(groups[focus])
                text = self._own_sentence(focus, left, originals, said_before, rng, used, stats, take)
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

    def _own_sentence(self, focus, left, originals, said_before, rng, used, stats, take) -> str:
        """The focus category's templated sentence as rendered before rewriting (aggregation kept it
        separate), or, for the rest of a long list, an 'also' sentence."""
        chunk = left[focus][: self.max_list]
        orig = originals.get(focus)
        if orig is not None and list(orig.tags) == chunk and not missing(orig.text, chunk):
            take(focus, chunk)
            used.append((orig.template_id, orig.template_hash))
            stats["kept"] += 1
            return orig.text
        for role in (("also", "sentence") if said_before else ("sentence", "also")):
            frag = self._fragment(focus, role, chunk, rng, used)
            if frag:
                take(focus, frag[1])
                stats["also" if role == "also" else "kept"] += 1
                return finish_sentence(frag[0])
        # last resort (only reached when templates leave tags out): say them plainly
        frag = self._fragment("other", "sentence", chunk, rng, used)
        stats["last_resort"] += 1
        if frag:
            take(focus, frag[1])
            return finish_sentence(frag[0])
        take(focus, chunk)
        return finish_sentence("The song also has " + join_and(chunk))

    def _fused_sentence(self, cats, left, rng, used, *, first, stats, take) -> str | None:
        """One sentence fusing several categories: SUBJECT PREDICATE [and PREDICATE][, MODIFIER]...
        or CLAUSE[, MODIFIER]...; None when the focus category cannot lead such a sentence."""
        focus = cats[0]
        claimed: dict[str, list[str]] = {}  # category -> tags this sentence expresses

        def free(c):
            return [t for t in left.get(c, []) if t not in claimed.get(c, ())]

        def n_claimed():
            return sum(len(v) for v in claimed.values())

        def tags_for(c):
            """Tags for a fragment of `c` (at most max_list), maybe with a related category's merged in."""
            tags = free(c)[: self.max_list]
            for other in self.merges.get(c, ()):
                if other in cats and rng.random() < self.p_merge:
                    g = self.bank.grammar
                    extra = [t for t in free(other) if not g.is_adjective(t) and not g.is_negated(t)]
                    if extra and len(tags) + len(extra) <= self.max_list:
                        tags = extra + tags if rng.random() < 0.5 else tags + extra
                        stats["merged_lists"] += 1
            return tags

        def add(category, role, tags, accept=None, rest=()):
            frag = self._fragment(category, role, tags, rng, used, accept=accept, rest=rest)
            if not frag:
                return None
            text = frag[0]
            for c in cats:
                for t in free(c):
                    if (t in tags or t in rest) and mentions(text, t):
                        claimed.setdefault(c, []).append(t)
            return text

        def over(role, accept=None):
            """Voices over the instruments in one fragment ("a male vocal singing over a piano")."""
            if "vocals" not in cats or "instrument" not in cats or rng.random() >= self.p_over:
                return None
            voices = free("vocals")
            g = self.bank.grammar
            inst = [t for t in free("instrument") if not g.is_negated(t)][: max(self.max_list - len(voices), 0)]
            if not voices or not inst or n_claimed() + len(voices) + len(inst) > self.max_sentence_tags:
                return None
            return add("vocals", role, voices, accept=accept, rest=inst)

        def stem(text):
            return text.split(" ", 1)[0].lower()[:5]

        parts: list[str] = []
        subject_cat = None
        ends_with_song = False  # does the text so far end with the noun "... song" (for "that ..." clauses)?
        nominal = False  # verbless opening ("Rock song with ..."): no comma before the first modifier
        # opening: a clause ("this is a rock song"), a noun phrase ("a rock song") or a subject
        # (genre / recording / "the song") for predicates
        if first and rng.random() < self.p_recording_subject:
            # "The low quality recording features a hip hop song ...", "This live performance ..."
            for c in ("quality", "production"):
                if c in cats and free(c):
                    text = add(c, "subject", free(c)[: self.max_list])
                    if text:
                        parts.append(text)
                        subject_cat = c
                        break
        if not parts and focus in CLAUSE_CATEGORIES and rng.random() < 0.5:
            nominal = rng.random() < 0.35 and self.bank.has(self.bank.resolve(focus), "np")
            text = add(focus, "np" if nominal else "clause", free(focus)[: self.max_list])
            if text:
                parts.append(text)
                ends_with_song = True
        if not parts and focus in SUBJECT_CATEGORIES:
            text = add(focus, "subject", free(focus)[: self.max_list])
            if text:
                parts.append(text)
                subject_cat = focus
        if not parts:
            if focus not in self.predicates.get(FRAME, ()):
                return None
            frag = self._fragment(FRAME, "subject" if first else "anaphor", [], rng, used)
            if frag is None:
                return None
            parts.append(frag[0])
            subject_cat = FRAME

        # predicates (after a subject): "features ...", "sounds ...", "has a slow tempo"
        if subject_cat is not None:
            allowed = self.predicates.get(subject_cat, ())
            preds: list[str] = []
            pred_cats: list[str] = []
            for c in cats:
                if c not in allowed or c == subject_cat or not free(c):
                    continue
                if preds and (len(preds) >= 2 or rng.random() >= self.p_coordinate):
                    break
                not_like = {stem(p) for p in preds}
                text = over("over", accept=lambda t: stem(t) not in not_like) if c in ("vocals", "instrument") else None
                if text is None:
                    tags = tags_for(c)
                    if preds and n_claimed() + len(tags) > self.max_sentence_tags:
                        break
                    text = add(c, "predicate", tags, accept=lambda t: stem(t) not in not_like)
                if text:
                    preds.append(text)
                    pred_cats.append(c)
                    if c == "genre":  # "the low quality recording features a rock song" + modifiers
                        break
            if not preds:
                return None
            if len(preds) == 2:
                sep = ", and " if ("," in preds[0] or " and " in preds[0]) else " and "
                parts.append(preds[0] + sep + preds[1])
            else:
                parts.append(preds[0])
            ends_with_song = ends_with_song or (len(preds) == 1 and pred_cats[-1] == "genre")

        # modifiers: "with ...", "featuring ...", "at a slow tempo" (no two starting alike, nor like the
        # predicate: "features ..., featuring ..."); a relative clause ("that consists of ...") only
        # right after the noun it describes
        firsts: set[str] = {p.split(" ", 1)[0].lower()[:5] for p in parts[1:]}
        if any(", with " in p for p in parts):
            firsts.add("with")

        def acceptable(t, song=None):
            w = t.split(" ", 1)[0].lower()
            if w[:5] in firsts or w in firsts:
                return False
            return not t.startswith(("that ", "which ")) or bool(song)

        mods = 0
        for c in cats:
            if mods >= 2 or c not in self.modifiers or not free(c):
                continue
            tags = tags_for(c)
            if not tags or n_claimed() + len(tags) > self.max_sentence_tags:
                continue
            if mods and rng.random() < 0.3:
                continue
            song = ends_with_song and mods == 0
            text = None
            if c in ("vocals", "instrument"):
                text = over("with_over", accept=lambda t, song=song: acceptable(t, song))
            if text is None:
                text = add(c, "modifier", tags, accept=lambda t, song=song: acceptable(t, song))
            if text:
                firsts.add(text.split(" ", 1)[0].lower()[:5])
                parts.append(text)
                mods += 1

        if not claimed:
            return None
        for c, cov in claimed.items():
            take(c, cov)
        stats["fused"] += 1
        text = parts[0]
        rest = parts[1:]
        if subject_cat is not None and rest:
            text += " " + rest[0]
            rest = rest[1:]
        for i, p in enumerate(rest):
            bare = p.startswith(("that ", "which ", "who ")) or (nominal and i == 0)
            text += (" " if bare else ", ") + p
        return finish_sentence(tidy(text))


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
        for i, out in zip(todo, outputs):
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
