"""Vocabulary tags are written in natural words (vocabulary.yaml `surface:`), picked with the row's seed."""
import random

import pytest

from pipelines.synthesize.data2text import BuiltinRewriter, data2text
from pipelines.synthesize.data2text.templates import TemplateBank
from pipelines.synthesize.fidelity import fidelity
from pipelines.synthesize.surface import surface_text, unexpressed
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary, VocabularyError

VOCAB = Vocabulary.load()


def test_surface_forms_are_loaded_and_checked(tmp_path):
    assert VOCAB.get("acoustic drumset").surface[0] == "drums"
    assert VOCAB.get("rock").surface == ()
    bad = tmp_path / "v.yaml"
    bad.write_text("categories:\n  genre:\n    rock: Rock\nsurface:\n  jazz: [jazzy]\n")
    with pytest.raises(VocabularyError, match="line 5: surface forms for 'jazz', which is not a vocabulary tag"):
        Vocabulary.load(str(bad))
    bad.write_text("categories:\n  genre:\n    rock: Rock\nsurface:\n  rock: []\n")
    with pytest.raises(VocabularyError, match="non-empty list"):
        Vocabulary.load(str(bad))


@pytest.mark.parametrize("tag", [t for t in VOCAB.tags if t.surface], ids=lambda t: t.name)
def test_fidelity_understands_every_surface_form(tag):
    for form in tag.surface:
        f = fidelity(f"The song has {form} in it.", [InputTag(tag.name, tag.category, 0.9)], VOCAB)
        assert f.mentioned == [tag.name] and f.hallucinated == [], (form, f)


def test_the_seed_picks_the_words():
    tag = InputTag("acoustic drumset", "instrument", 0.5)
    picks = {surface_text(tag, random.Random(seed), VOCAB) for seed in range(40)}
    assert picks == set(VOCAB.get("acoustic drumset").surface)
    assert surface_text(InputTag("rock", "genre", 0.5), random.Random(0), VOCAB) == "rock"
    # a free-form tag of another category that happens to share a name is not reworded
    assert surface_text(InputTag("strings", "other"), random.Random(0), VOCAB) == "strings"


def test_data2text_writes_natural_words_and_every_tag_is_expressed():
    bank = TemplateBank.load()
    rewriter = BuiltinRewriter(bank)
    tags = [InputTag(n, VOCAB.get(n).category, 0.9) for n in
            ("rock", "acoustic drumset", "synthesizer keyboard", "male vocals", "electric bass", "chill")]
    worded = 0
    for seed in range(30):
        text, meta = data2text(tags, random.Random(seed), bank, rewriter, VOCAB)
        assert unexpressed(text, tags, VOCAB) == [], text
        assert fidelity(text, tags, VOCAB).coverage == 1.0, text
        assert "acoustic drumset" not in text and "synthesizer keyboard" not in text  # labels, not words
        worded += bool(meta["words"])
        assert set(meta["words"].values()) <= {t.tag for t in tags}
    assert worded == 30
