"""The data2text synthesis method: tags -> categories -> one templated sentence per category -> rewrite.

    text, meta = data2text(tags, rng, bank, rewriter, vocabulary)

Deterministic given ``rng`` (and the rewriter's model, if any). ``meta`` is JSON-serialisable:
the bank version and every template id+hash used, the rewriter's name and parameters, the
category of each tag, merged near-duplicate tags, and the rewriter's own report (e.g. tags a
model lost and whether the fallback was used).
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from pipelines.synthesize.categorize import Lexicon, categorize
from pipelines.synthesize.data2text.rewriter import Rewriter, RewriteResult, dedupe
from pipelines.synthesize.data2text.templates import RenderedSentence, TemplateBank
from pipelines.synthesize.memo import MAX_ENTRIES
from pipelines.synthesize.surface import surface_forms, with_surface
from pipelines.synthesize.tagset import InputTag

METHOD = "data2text"


_SINGLE_SPACED: dict = {}  # tag text -> its words joined by single spaces (the same tags on every row)


def group_by_category(tags: Sequence[InputTag]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """{category: [tag texts]} in order of first appearance, with duplicates and near-duplicates
    merged (see ``rewriter.dedupe``); also returns {merged tag: tag that expresses it}."""
    groups: dict[str, list[str]] = {}
    spaced = _SINGLE_SPACED
    for t in tags:
        text = spaced.get(t.tag)
        if text is None:
            if len(spaced) >= MAX_ENTRIES:  # bounded: free-form tags can be endless
                spaced.clear()
            text = spaced[t.tag] = " ".join(str(t.tag).split())
        if text:
            groups.setdefault(t.category or "other", []).append(text)
    merged: dict[str, str] = {}
    for c in groups:
        groups[c], m = dedupe(groups[c])
        merged.update(m)
    return groups, merged


class TagWords:
    """A tag categorized (``categorize``) and its surface forms (``surface_forms``), remembered per tag.

    Both are pure in the tag for one vocabulary and lexicon (neither changes once loaded), and the same
    few thousand tags come back on every row; the tables are emptied when full, so a stream of free-form
    tags cannot grow them without bound."""

    def __init__(self, vocabulary=None, lexicon: Lexicon | None = None):
        self.vocabulary, self.lexicon = vocabulary, lexicon
        self._categories: dict[tuple, InputTag] = {}
        self._forms: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def categorized(self, tags: Sequence[InputTag]) -> list[InputTag]:
        """``categorize(tags, vocabulary, lexicon)``: the same (frozen) InputTag objects for the same tags."""
        out = []
        for t in tags:
            key = (t.tag, t.category, t.confidence, t.value)
            found = self._categories.get(key)
            if found is None:
                if len(self._categories) >= MAX_ENTRIES:
                    self._categories.clear()
                found = self._categories[key] = categorize([t], self.vocabulary, self.lexicon)[0]
            out.append(found)
        return out

    def forms(self, tag: InputTag) -> tuple[str, ...]:
        key = (tag.tag, tag.category)
        found = self._forms.get(key)
        if found is None:
            if len(self._forms) >= MAX_ENTRIES:
                self._forms.clear()
            found = self._forms[key] = surface_forms(tag, self.vocabulary)
        return found


_TAG_WORDS: list[TagWords] = []  # the last few (vocabulary, lexicon) pairs' memos


def tag_words(vocabulary=None, lexicon: Lexicon | None = None) -> TagWords:
    """The memo for this vocabulary and lexicon (by identity: a method keeps the ones it loaded)."""
    for memo in _TAG_WORDS:
        if memo.vocabulary is vocabulary and memo.lexicon is lexicon:
            return memo
    if len(_TAG_WORDS) >= 4:
        _TAG_WORDS.pop(0)
    _TAG_WORDS.append(TagWords(vocabulary, lexicon))
    return _TAG_WORDS[-1]


def plan(tags: Sequence[InputTag], rng: random.Random, bank: TemplateBank, vocabulary=None,
         lexicon: Lexicon | None = None) -> tuple[list[RenderedSentence], dict]:
    """Stage 1 of the method (no rewriting): one templated sentence per category, plus metadata."""
    words = tag_words(vocabulary, lexicon)
    tagged = words.categorized(tags)
    # natural words for tags ("drums" for acoustic drumset, "a medium tempo of 92 BPM"); ids stay in meta
    worded = with_surface(tagged, rng, vocabulary, words.forms)
    groups, merged = group_by_category(worded)
    sentences = []
    for category, texts in groups.items():
        s = bank.render(category, texts, rng)
        if s is not None:
            sentences.append(s)
    meta = {
        "method": METHOD,
        "bank_version": bank.version,
        "categories": {t.tag: t.category for t in tagged},
        "merged_tags": merged,
        # the text's words -> tag id
        "words": {w.tag: t.tag for w, t in zip(worded, tagged, strict=True) if w.tag != t.tag},
        "sentence_templates": [{"id": s.template_id, "hash": s.template_hash} for s in sentences],
    }
    return sentences, meta


def finish(sentences: Sequence[RenderedSentence], meta: dict, result: RewriteResult,
           rewriter: Rewriter, described: dict | None = None) -> tuple[str, dict]:
    """The text and its metadata; `described` is ``rewriter.describe()`` when the caller made it already
    (a batch makes it once, not once a row)."""
    rewrite_meta = dict(result.meta)
    if rewrite_meta.get("lost_tags"):  # reported as tag ids, whatever words the text was to use
        rewrite_meta["lost_tags"] = [meta["words"].get(t, t) for t in rewrite_meta["lost_tags"]]
    templates = list(meta["sentence_templates"])
    seen = {t["id"] for t in templates}
    for t in rewrite_meta.pop("templates", []):
        if t["id"] not in seen:
            seen.add(t["id"])
            templates.append(t)
    out = {k: v for k, v in meta.items() if k != "sentence_templates"}
    out.update(
        templates=templates,
        templated_text=" ".join(s.text for s in sentences),
        rewriter=described if described is not None else rewriter.describe(),
        rewrite=rewrite_meta,
    )
    return result.text, out


def data2text(tags: Sequence[InputTag], rng: random.Random, bank: TemplateBank, rewriter: Rewriter,
              vocabulary=None, lexicon: Lexicon | None = None) -> tuple[str, dict]:
    """Description text and metadata for one track's tags."""
    sentences, meta = plan(tags, rng, bank, vocabulary, lexicon)
    return finish(sentences, meta, rewriter.rewrite(sentences, rng), rewriter)


def data2text_many(rows: Sequence[Sequence[InputTag]], rngs: Sequence[random.Random], bank: TemplateBank,
                   rewriter: Rewriter, vocabulary=None, lexicon: Lexicon | None = None) -> list[tuple[str, dict]]:
    """``data2text`` for a batch; model rewriters generate the whole batch at once. The rows' metadata
    share one ``rewriter`` dict (the rewriter's description, made once): copy it before changing it."""
    planned = [plan(tags, rng, bank, vocabulary, lexicon) for tags, rng in zip(rows, rngs, strict=True)]
    results = rewriter.rewrite_many([p[0] for p in planned], list(rngs))
    described = rewriter.describe()
    return [finish(s, m, r, rewriter, described) for (s, m), r in zip(planned, results, strict=True)]
