"""WordNet 3.0 for METEOR: Debian's files laid out for NLTK's WordNetCorpusReader (the real one, when
`make install` fetched it; skipped otherwise), and what happens without it."""
import gzip

import pytest

from pipelines.evaluate import wordnet as wordnet_module
from pipelines.evaluate.text_report import evaluate_texts, format_table
from pipelines.evaluate.wordnet import WordNetUnavailable, lexnames_from_manual


def test_real_wordnet_through_nltk(wordnet):
    assert wordnet.get_version() == "3.0"
    assert sum(1 for _ in wordnet.all_synsets()) == 117659  # WordNet 3.0's synsets
    assert {"vocal", "strain"} <= {lemma.name() for s in wordnet.synsets("songs") for lemma in s.lemmas()}
    assert wordnet.morphy("geese") == "goose"  # the exception lists are read
    assert type(wordnet).__module__ == "nltk.corpus.reader.wordnet"


def test_report_has_meteor_only_with_wordnet(wordnet):
    rows = [{"text": "an upbeat fast song", "method": "m", "reference": "a cheerful quick song"}]
    with_wn = evaluate_texts(rows, embed=False, wordnet=wordnet)
    without = evaluate_texts(rows, embed=False)
    # "song" exact and "fast" ~ "quick" (one synset): P = R = 2/4, one chunk -> 0.5 * (1 - 0.5 / 8)
    assert with_wn["methods"]["m"]["meteor"] == pytest.approx(0.46875) and without["methods"]["m"]["meteor"] is None
    assert with_wn["wordnet"]["wordnet"] == "3.0" and without["wordnet"] is None
    assert "meteor_score" in with_wn["notes"]["meteor"] and "needs WordNet" in without["notes"]["meteor"]
    assert "no METEOR" not in format_table(with_wn) and "no METEOR" in format_table(without)


def test_lexnames_from_the_manual_page(tmp_path):
    rows = "".join(f"{i:02d}\t{name}\tsome contents\n" for i, name in
                   enumerate(["adj.all", "adj.pert", "adv.all"] + [f"noun.n{i}" for i in range(26)] +
                             [f"verb.v{i}" for i in range(15)] + ["adj.ppl"]))
    manual = tmp_path / "lexnames.5WN.gz"
    with gzip.open(manual, "wt") as fh:
        fh.write(".TS\ncenter ;\nl l l.\n\\fBFile Number\\fP\t\\fBName\\fP\t\\fBContents\\fP\n_\n" + rows + ".TE\n")
    lines = lexnames_from_manual(manual).splitlines()
    assert lines[0] == "00\tadj.all\t3" and lines[2] == "02\tadv.all\t4" and lines[3] == "03\tnoun.n0\t1"
    assert lines[44] == "44\tadj.ppl\t3" and len(lines) == 45
    with gzip.open(manual, "wt") as fh:
        fh.write(rows.split("\n", 1)[1])  # one row short
    with pytest.raises(ValueError, match="45 lexicographer files"):
        lexnames_from_manual(manual)


def test_missing_wordnet_is_explained(tmp_path, monkeypatch):
    with pytest.raises(WordNetUnavailable, match="run `viml-synth wordnet`"):
        wordnet_module.load(tmp_path)
    monkeypatch.setenv("VIML_SYNTH_WORDNET", str(tmp_path))
    assert wordnet_module.find() is None  # not there: the report has no METEOR and says why
    assert wordnet_module.find("none") is None
    with pytest.raises(WordNetUnavailable):
        wordnet_module.find(str(tmp_path))  # asked for by name: an error
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get
    with pytest.raises(WordNetUnavailable, match="apt-get not found"):
        wordnet_module.fetch(tmp_path / "wn")
