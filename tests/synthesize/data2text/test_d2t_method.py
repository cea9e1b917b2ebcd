"""data2text(): categorize -> one templated sentence per category -> rewrite, with full metadata."""
import json
import pickle
import random

from pipelines.synthesize.data2text import BuiltinRewriter, JoinRewriter, data2text, data2text_many, plan
from pipelines.synthesize.data2text.grammar import missing
from pipelines.synthesize.surface import unexpressed
from pipelines.synthesize.tagset import InputTag

PAPER = [
    ["rock", "lead vocals", "electric bass", "frantic", "powerful", "vocals", "electric guitar", "angry", "slow",
     "male vocals", "acoustic drumset"],
    ["relaxing", "male vocals", "lead vocals", "dreamy", "nostalgic", "acoustic guitar", "sad", "vocals", "piano",
     "acoustic"],
]
MUSICCAPS = ["low quality", "hip hop", "dj scratching sounds", "punchy kick", "punchy snare", "shimmering hi hats",
             "syncopated open hat", "noisy", "mono", "plastic tapping sounds", "groovy"]


def tagger_tags(vocab, names):
    return [InputTag(n, vocab.get(n).category if vocab.get(n) else None, 0.8) for n in names]


def test_plan_renders_one_sentence_per_category(vocab, bank):
    sentences, meta = plan(tagger_tags(vocab, PAPER[0]), random.Random(0), bank, vocab)
    cats = [s.category for s in sentences]
    assert sorted(cats) == sorted({"genre", "vocals", "instrument", "mood", "tempo"})
    vocals = next(s for s in sentences if s.category == "vocals")
    assert vocals.tags == ("lead vocals", "male vocals")  # "vocals" is expressed by both
    assert meta["merged_tags"] == {"vocals": "lead vocals"}
    assert meta["categories"]["male vocals"] == "vocals" and meta["categories"]["slow"] == "tempo"


def test_metadata_names_templates_bank_and_rewriter(vocab, bank):
    rw = BuiltinRewriter(bank)
    text, meta = data2text(tagger_tags(vocab, PAPER[0]), random.Random(7), bank, rw, vocab)
    json.dumps(meta)  # serialisable as a row column
    assert meta["method"] == "data2text" and meta["bank_version"] == bank.version
    assert meta["rewriter"] == rw.describe()
    assert meta["templates"] and len({t["id"] for t in meta["templates"]}) == len(meta["templates"])
    for t in meta["templates"]:
        assert bank.get(t["id"]).hash == t["hash"]
    assert meta["templated_text"] and text != meta["templated_text"]
    assert not unexpressed(text, PAPER[0], vocab)  # by name or a surface form
    assert "lost_tags" not in meta["rewrite"]


def test_deterministic_given_the_rng(vocab, bank):
    rw = BuiltinRewriter(bank)
    tags = [InputTag(t) for t in MUSICCAPS]
    assert data2text(tags, random.Random(5), bank, rw, vocab) == data2text(tags, random.Random(5), bank, rw, vocab)


def test_batch_equals_rows(vocab, bank):
    rw = BuiltinRewriter(bank)
    rows = [tagger_tags(vocab, p) for p in PAPER] + [[InputTag(t) for t in MUSICCAPS]]
    batch = data2text_many(rows, [random.Random(i) for i in range(3)], bank, rw, vocab)
    single = [data2text(r, random.Random(i), bank, rw, vocab) for i, r in enumerate(rows)]
    assert batch == single


def test_musiccaps_aspects_read_like_a_caption(vocab, bank):
    rw = BuiltinRewriter(bank)
    texts = {data2text([InputTag(t) for t in MUSICCAPS], random.Random(s), bank, rw, vocab)[0] for s in range(30)}
    for text in texts:
        assert not missing(text, MUSICCAPS)
    assert len(texts) >= 10
    assert any(t.startswith("The low quality recording") for t in texts)


def test_rewriters_and_bank_pickle_for_workers(vocab, bank):
    rw = pickle.loads(pickle.dumps(BuiltinRewriter(bank)))
    tags = tagger_tags(vocab, PAPER[1])
    assert data2text(tags, random.Random(1), rw.bank, rw, vocab) == data2text(
        tags, random.Random(1), bank, BuiltinRewriter(bank), vocab)
    text, meta = data2text(tags, random.Random(1), bank, JoinRewriter(), vocab)
    assert meta["rewriter"] == {"name": "join"}
