"""WordNet for METEOR's synonym stage: the database format, WordNet's morphology, and the real WordNet 3.0
when `make install` fetched it (skipped otherwise)."""
import pytest

from pipelines.evaluate import text_metrics as tm
from pipelines.evaluate import wordnet
from pipelines.evaluate.text_report import evaluate_texts, format_table
from pipelines.evaluate.wordnet import WordNet, WordNetUnavailable

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
# real data.* lines (trimmed glosses): offset lex_filenum ss_type w_cnt(hex) word lex_id ... | gloss
DATA = {
    "noun": ["00546389 04 n 02 song 0 strain 1 000 | the act of singing",
             "07048000 10 n 02 song 0 vocal 0 000 | a short musical composition with words",
             "01855672 05 n 01 goose 0 000 | web-footed long-necked typically gregarious migratory aquatic birds",
             "03467517 06 n 01 guitar 0 000 | a stringed instrument"],
    "verb": ["01729431 36 v 02 sing 0 vocalize 0 000 | produce tones with the voice"],
    "adj": ["00979862 00 s 03 fast 0 quick 0 speedy 0 000 | acting or moving or capable of acting quickly",
            "01123148 00 a 01 good(a) 0 000 | having desirable or positive qualities"],
    "adv": [],
}
EXCEPTIONS = {"noun": ["geese goose"], "verb": ["sang sing", "sung sing"], "adj": ["better good well"], "adv": []}


@pytest.fixture
def tiny(tmp_path):
    for pos in wordnet.POS:
        (tmp_path / f"data.{pos}").write_text(HEADER + "".join(line + "  \n" for line in DATA[pos]))
        (tmp_path / f"{pos}.exc").write_text("".join(line + "\n" for line in EXCEPTIONS[pos]))
    return WordNet.load(tmp_path)


def test_synonyms_are_every_lemma_of_every_synset(tiny):
    assert tiny.synonyms("song") == {"song", "strain", "vocal"}
    assert tiny.synonyms("Songs") == {"song", "strain", "vocal"}  # case and the noun rule s -> ""
    assert tiny.synonyms("singing") == {"sing", "vocalize"}  # verb rule ing -> ""
    assert tiny.synonyms("geese") == {"goose"} and tiny.synonyms("sang") == {"sing", "vocalize"}  # exceptions
    assert tiny.synonyms("good") == {"good"}  # the adjective marker "(a)" is not part of the lemma
    assert tiny.synonyms("better") == {"good"}
    assert tiny.synonyms("xylophone") == frozenset()
    assert tiny.describe()["synsets"] == 7


def test_base_forms_keep_only_known_lemmas(tiny):
    assert tiny.base_forms("guitars", "noun") == ["guitar"]
    assert tiny.base_forms("sings", "verb") == ["sing"]
    assert tiny.base_forms("s", "noun") == []  # a rule never strips a word to nothing


def test_meteor_synonym_stage_with_wordnet(tiny):
    hyp, ref = ["a quick song"], ["a fast vocal"]
    assert tm.meteor(hyp, ref) < tm.meteor(hyp, ref, synonyms=tiny.synonyms) == pytest.approx(1 - 0.5 / 27)
    # one-directional, as NLTK: the reference word must be a lemma of the hypothesis word's synsets
    assert tm.meteor(["a strain"], ["a vocal"], synonyms=tiny.synonyms) == tm.meteor(["a strain"], ["a vocal"])


def test_report_says_whether_meteor_had_synonyms(tiny):
    rows = [{"text": "a quick song", "method": "m", "reference": "a fast vocal"}]
    with_wn = evaluate_texts(rows, embed=False, wordnet=tiny)
    without = evaluate_texts(rows, embed=False)
    assert with_wn["methods"]["m"]["meteor"] > without["methods"]["m"]["meteor"]
    assert with_wn["wordnet"]["synsets"] == 7 and without["wordnet"] is None
    assert "synonym stages" in with_wn["notes"]["meteor"] and "no synonym stage" in without["notes"]["meteor"]
    assert "without the WordNet" not in format_table(with_wn) and "without the WordNet" in format_table(without)


def test_missing_wordnet_is_explained(tmp_path, monkeypatch):
    with pytest.raises(WordNetUnavailable, match="run `viml-synth wordnet`"):
        WordNet.load(tmp_path)
    monkeypatch.setenv("VIML_SYNTH_WORDNET", str(tmp_path))
    assert wordnet.find() is None  # not there: METEOR runs without synonyms
    assert wordnet.find("none") is None
    with pytest.raises(WordNetUnavailable):
        wordnet.find(str(tmp_path))  # asked for by name: an error
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get
    with pytest.raises(WordNetUnavailable, match="apt-get not found"):
        wordnet.fetch(tmp_path / "wn")


def test_real_wordnet_if_installed():
    try:
        real = WordNet.load()
    except WordNetUnavailable:
        pytest.skip("WordNet not fetched (make install runs `viml-synth wordnet`)")
    assert real.describe()["synsets"] == 117659  # WordNet 3.0
    assert {"vocal", "strain"} <= real.synonyms("songs") and "quick" in real.synonyms("fast")
    assert tm.meteor(["an upbeat fast song"], ["a cheerful quick song"], synonyms=real.synonyms) > \
        tm.meteor(["an upbeat fast song"], ["a cheerful quick song"])
