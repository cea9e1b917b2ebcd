"""data2text variety: caption-style lists, clause modifiers only where a verb carries them, wordings spread out."""
import random
import re
from collections import Counter, defaultdict

from pipelines.synthesize.data2text import BuiltinRewriter, data2text
from pipelines.synthesize.data2text.grammar import default_grammar
from pipelines.synthesize.data2text.rewriter import modifier_filter
from pipelines.synthesize.tagset import InputTag

# a finite verb somewhere before a clause modifier ("..., and it sounds sad") makes it a sentence
VERB = re.compile(r"\b(is|are|features|contains|has|have|sounds|consists|feels|includes|moves|can)\b", re.I)
CLAUSE_MODIFIER = re.compile(r", (and it sounds|and the recording is|while the recording is) ")


def test_long_lists_take_one_article_as_captions_write_them(bank):
    g = default_grammar()
    assert g.list_articles(["piano", "electric guitar"]) == ["a piano", "an electric guitar"]
    assert g.list_articles(["electric guitar", "piano", "claps"]) == ["an electric guitar", "piano", "claps"]
    assert g.list_articles(["claps", "piano", "bass"]) == ["claps", "piano", "bass"]
    assert g.list_articles("piano") == ["a piano"]
    assert g.list_articles(["piano", "bass", "drums"], min_items=4) == ["a piano", "a bass", "drums"]
    rendered = [bank.render_template(t, ["piano", "electric guitar", "claps"])
                for t in bank.templates("instrument", "sentence")]
    assert any("a piano, electric guitar and claps" in text for text in rendered), rendered
    assert not any("an electric guitar" in text for text in rendered), rendered


def test_clause_modifiers_only_after_a_verb():
    assert modifier_filter(set(), after_song=False)("and it sounds sad")
    assert not modifier_filter(set(), after_song=False, clause_ok=False)("and it sounds sad")
    assert not modifier_filter(set(), after_song=False, clause_ok=False)("while the recording is noisy")
    assert modifier_filter(set(), after_song=False, clause_ok=False)("with a piano")


def test_no_clause_modifier_after_a_verbless_opening_or_two_predicates(vocab, bank):
    """"Rock song with a piano, and it sounds sad" has no main verb; "sounds sad and has a slow tempo, and
    the recording is noisy" piles up clauses."""
    rewriter = BuiltinRewriter(bank, p_fuse=1.0, p_coordinate=1.0)
    tags = [InputTag(t) for t in ("rock", "sad", "emotional", "piano", "slow tempo", "noisy", "mono")]
    seen = 0
    for seed in range(400):
        text, _ = data2text(tags, random.Random(seed), bank, rewriter, vocab)
        for sentence in re.split(r"(?<=\.) ", text):
            m = CLAUSE_MODIFIER.search(sentence)
            if m is None:
                continue
            seen += 1
            head = sentence[: m.start()]
            assert VERB.search(head), sentence
            assert not re.search(r"\b(sounds|is|has|feels|features|contains)\b[^,]* and (has|is|sounds|feels)\b",
                                 head), sentence
    assert seen > 20  # the clause modifiers are in use


def test_wordings_are_spread_over_the_templates(vocab, bank):
    """No wording of a role with several applicable templates takes most of the uses (that wastes variety)."""
    rng = random.Random(7)
    names = [t.name for t in vocab.tags]
    rewriter = BuiltinRewriter(bank)
    uses: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for i in range(600):
        chosen = rng.sample(names, rng.randint(3, 14))
        tags = [InputTag(n, vocab.get(n).category, 0.9) for n in chosen]
        _, meta = data2text(tags, random.Random(i), bank, rewriter, vocab)
        for t in meta["templates"]:
            category, role, name = t["id"].split(".", 2)
            uses[(category, role)][name] += 1
    checked = 0
    for (category, role), counts in uses.items():
        total = sum(counts.values())
        if len(bank.templates(category, role)) >= 4 and total >= 200:
            checked += 1
            top, n = counts.most_common(1)[0]
            assert n / total <= 0.5, (category, role, top, n, total)
    assert checked >= 5
