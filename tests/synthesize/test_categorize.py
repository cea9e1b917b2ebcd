"""categorize(): vocabulary first, then the data-driven lexicon, never touching tag text."""
import ast
import csv
import os
from pathlib import Path

import pytest

from pipelines.synthesize.categorize import Lexicon, LexiconError, categorize, default_lexicon
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary

SHARED = Path(os.environ.get("VIML_SYNTH_SHARED", Path(__file__).resolve().parents[3] / "shared"))
MUSICCAPS = SHARED / "data" / "musiccaps_train.csv"


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.load()


def cat(text, vocab=None, **kw):
    return categorize([InputTag(text)], vocab, **kw)[0].category


def test_vocabulary_tags_take_the_vocabulary_category(vocab):
    assert cat("rock", vocab) == "genre"
    assert cat("Hip-Hop", vocab) == "genre"  # case-insensitive lookup
    assert cat("angry", vocab) == "mood"
    assert cat("electric guitar", vocab) == "instrument"


def test_refine_moves_vocal_and_tempo_tags_to_finer_categories(vocab):
    assert cat("male vocals", vocab) == "vocals"
    assert cat("choir", vocab) == "vocals"
    assert cat("slow", vocab) == "tempo"
    # without refinement the vocabulary's category stays
    assert cat("male vocals", vocab, refine=False) == "instrument"
    assert cat("slow", vocab, refine=False) == "mood"
    # a tag that arrives with a category keeps it unless refine applies
    t = categorize([InputTag("electric guitar", "instrument", 0.7), InputTag("lead vocals", "instrument", 0.6)], vocab)
    assert [x.category for x in t] == ["instrument", "vocals"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("mellow piano melody", "instrument"),
        ("shimmering hi hats", "instrument"),
        ("e-bass", "instrument"),
        ("repetitive melody on different octaves", "instrument"),
        ("no percussion", "instrument"),
        ("low quality", "quality"),
        ("poor audio quality", "quality"),
        ("noisy", "quality"),
        ("mono", "quality"),
        ("slow tempo", "tempo"),
        ("medium to uptempo", "tempo"),
        ("120 bpm", "tempo"),
        ("uptempo", "tempo"),
        ("male voice singing", "vocals"),
        ("flat male vocal", "vocals"),
        ("no voices", "vocals"),
        ("instrumental", "vocals"),
        ("rapping", "vocals"),
        ("live performance", "production"),
        ("amateur recording", "production"),
        ("folk music", "genre"),
        ("hip hop", "genre"),
        ("country feel", "genre"),
        ("drum & bass", "genre"),
        ("electronic dance music", "genre"),
        ("passionate", "mood"),
        ("happy mood", "mood"),
        ("emotional song", "mood"),
        ("heart-touching", "mood"),
        ("crowd cheering", "other"),
        ("zxqv blorp", "other"),
    ],
)
def test_free_form_tags(text, expected, vocab):
    assert cat(text, vocab) == expected


def test_text_confidence_and_order_are_never_changed(vocab):
    tags = [InputTag("  Mellow Piano Melody ", None, 0.3), InputTag("rock", None, None), InputTag("x", "genre", 1.0),
            InputTag("rock", None, None)]
    out = categorize(tags, vocab)
    assert [t.tag for t in out] == [t.tag for t in tags]
    assert [t.confidence for t in out] == [t.confidence for t in tags]
    assert len(out) == 4 and all(t.category for t in out)
    assert out[2].category == "genre"


def test_works_without_a_vocabulary():
    assert cat("rock") == "genre"
    assert cat("male vocals") == "vocals"


def test_lexicon_categories_are_declared():
    lx = default_lexicon()
    assert {"genre", "mood", "instrument", "vocals", "tempo", "quality", "production", "other"} <= set(lx.categories)
    assert set(lx.words.values()) <= set(lx.categories)


def test_bad_lexicon_names_the_file(tmp_path):
    bad = tmp_path / "lex.yaml"
    bad.write_text("categories: [genre]\nphrases:\n  rock: genre\n  foo: colour\n")
    with pytest.raises(LexiconError, match=r"lex\.yaml.*colour"):
        Lexicon.load(bad)
    bad.write_text("categories: [genre]\npatterns:\n  - {category: genre, regex: '(('}\n")
    with pytest.raises(LexiconError, match=r"lex\.yaml: patterns\[0\]"):
        Lexicon.load(bad)
    bad.write_text("categories: [genre\n")
    with pytest.raises(LexiconError, match="not valid YAML"):
        Lexicon.load(bad)


def test_a_custom_lexicon_file(tmp_path):
    f = tmp_path / "lex.yaml"
    f.write_text("categories: [genre, era, other]\nfallback: other\nadjective_category: other\n"
                 "phrases:\n  eighties: era\nwords:\n  era: [1980s, 1990s]\n")
    lx = Lexicon.load(f)
    out = categorize([InputTag("eighties"), InputTag("late 1980s"), InputTag("rock")], None, lx)
    assert [t.category for t in out] == ["era", "era", "other"]


@pytest.mark.skipif(not MUSICCAPS.is_file(), reason="MusicCaps csv not available")
def test_every_musiccaps_aspect_gets_a_known_category(vocab):
    with open(MUSICCAPS, newline="", encoding="utf-8") as f:
        aspects = [InputTag(a) for r in csv.DictReader(f) for a in ast.literal_eval(r["aspect_list"])]
    out = categorize(aspects, vocab)
    assert len(out) == len(aspects)
    assert all(o.tag == a.tag for o, a in zip(out, aspects, strict=True))
    lx = default_lexicon()
    counts = {}
    for o in out:
        assert o.category in lx.categories
        counts[o.category] = counts.get(o.category, 0) + 1
    # the lexicon knows most aspects: less than 10% fall through to 'other'
    assert counts["other"] / len(out) < 0.10
