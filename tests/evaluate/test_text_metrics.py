"""Text metrics: the libraries (NLTK, rouge-score) called the way we say, checked on the papers' own
examples and known properties; drift on real rows is caught by test_reference_scores.py."""
import math

import pytest

from pipelines.evaluate import text_metrics as tm

# Papineni et al. (2002), candidate 1 and its three references (final period left out).
PAPINENI_HYP = "It is a guide to action which ensures that the military always obeys the commands of the party"
PAPINENI_REFS = [
    "It is a guide to action that ensures that the military will forever heed Party commands",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party",
    "It is the practical guide for the army always to heed the directions of the party",
]


def test_tokenize_lowercases_and_splits_punctuation():
    # NLTK's wordpunct_tokenize: word runs and punctuation runs
    assert tm.tokenize("Hip-hop, with DRUMS. Don\u2019t stop!") == [
        "hip", "-", "hop", ",", "with", "drums", ".", "don", "'", "t", "stop", "!"]
    assert tm.tokenize("Hip-hop, with DRUMS. Don't", punctuation=False) == ["hip", "hop", "with", "drums", "don't"]


# ---------------------------------------------------------------------------------------------- BLEU

def test_bleu_textbook_example_by_hand():
    # Candidate n-grams matched against the clipped reference counts, counted by hand:
    #   unigrams 17/18 (only "obeys" unmatched; "the" x3 clipped by ref 2's four),
    #   bigrams 10/17, trigrams 7/16, 4-grams 4/15; c = 18 = |ref 2|, so BP = 1.
    out = tm.corpus_bleu([PAPINENI_HYP], [PAPINENI_REFS])
    assert out["precisions"] == pytest.approx([17 / 18, 10 / 17, 7 / 16, 4 / 15])
    assert out["brevity_penalty"] == 1.0
    assert out["bleu1"] == pytest.approx(17 / 18)
    assert out["bleu2"] == pytest.approx(math.sqrt(17 / 18 * 10 / 17))
    assert out["bleu4"] == pytest.approx((17 / 18 * 10 / 17 * 7 / 16 * 4 / 15) ** 0.25)
    assert out["bleu4"] == pytest.approx(0.504567, abs=1e-6)


def test_bleu_identical_is_one():
    out = tm.corpus_bleu(["a rock song with electric guitars and drums"] * 2,
                         ["a rock song with electric guitars and drums"] * 2)
    for n in range(1, 5):
        assert out[f"bleu{n}"] == pytest.approx(1.0)


def test_bleu_modified_precision_clips_repeats():
    # Papineni's "the the the ..." example: modified unigram precision 2/7.
    out = tm.corpus_bleu(["the the the the the the the"], [["the cat is on the mat", "there is a cat on the mat"]])
    assert out["precisions"][0] == pytest.approx(2 / 7)


def test_bleu_brevity_penalty():
    # c = 2, r = 6: BP = exp(1 - 6/2) = exp(-2); all n-grams of the hypothesis match.
    out = tm.corpus_bleu(["the cat"], ["the cat sat on the mat"], max_n=2)
    assert out["brevity_penalty"] == pytest.approx(math.exp(-2))
    assert out["bleu1"] == pytest.approx(math.exp(-2))
    assert out["bleu2"] == pytest.approx(math.exp(-2))
    # no penalty for hypotheses longer than the reference
    assert tm.corpus_bleu(["the cat sat on the mat"], ["the cat"], max_n=1)["brevity_penalty"] == 1.0


def test_bleu_closest_reference_length_ties_to_shorter():
    # c = 4; references of 3 and 5 words are equally close: the shorter (3) is used, so c > r, BP = 1.
    out = tm.corpus_bleu(["a b c d"], [["a b c", "a b c d e"]], max_n=1)
    assert out["ref_len"] == 3 and out["brevity_penalty"] == 1.0
    # with 2 and 5 words the 5-word one is closest: BP = exp(1 - 5/4)
    out = tm.corpus_bleu(["a b c d"], [["a b", "a b c d e"]], max_n=1)
    assert out["ref_len"] == 5 and out["brevity_penalty"] == pytest.approx(math.exp(1 - 5 / 4))


def test_bleu_is_pooled_over_the_corpus_not_averaged():
    # row 1: 4/4 unigrams match, row 2: 0/2; corpus p1 = 4/6 (the mean of sentence scores would be 0.5)
    out = tm.corpus_bleu(["a b c d", "e f"], ["a b c d", "x y"], max_n=1)
    assert out["bleu1"] == pytest.approx(4 / 6)


def test_bleu_without_any_4gram_match_is_zero_for_bleu4():
    out = tm.corpus_bleu(["a b c x d"], ["a b c y d"])
    assert out["bleu4"] < 1e-50 and out["bleu3"] > 0.1  # NLTK: exp(log(tiny float)), not exactly 0


def test_bleu_counts_punctuation_tokens():
    assert tm.corpus_bleu(["rock, pop"], ["rock , pop"], max_n=1)["bleu1"] == pytest.approx(1.0)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        tm.corpus_bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        tm.rouge_l(["a"], [])
    with pytest.raises(ValueError, match="WordNet"):
        tm.meteor(["a"], ["a"], None)


def test_bleu1_is_unigram_precision_times_brevity_penalty():
    out = tm.corpus_bleu(["a loud rock song", "jazz"], ["a loud rock song with guitars", "smooth jazz tune"])
    assert out["bleu1"] == pytest.approx(out["precisions"][0] * out["brevity_penalty"])
    assert out["precisions"][0] == 1.0 and out["brevity_penalty"] == pytest.approx(math.exp(1 - 9 / 5))


# ------------------------------------------------------------------------------------------- ROUGE-L

def test_rouge_l_lin_example():
    # Lin (2004): LCS("police kill the gunman", "police killed the gunman") = 3 -> F = 0.75;
    # "the gunman kill police" has LCS 2 -> F = 0.5.
    assert tm.rouge_l(["police kill the gunman"], ["police killed the gunman"]) == pytest.approx(0.75)
    assert tm.rouge_l(["the gunman kill police"], ["police killed the gunman"]) == pytest.approx(0.5)
    assert tm.rouge_l(["police kill the gunman", "the gunman kill police"],
                      ["police killed the gunman"] * 2) == pytest.approx(0.625)


def test_rouge_l_multi_reference():
    # LCS 2, P = 1, R = 0.5: F1 = 2/3; the best of several references counts
    assert tm.rouge_l(["the gunman"], ["police killed the gunman"]) == pytest.approx(2 / 3)
    assert tm.rouge_l(["the gunman"], [["nothing alike", "the gunman"]]) == pytest.approx(1.0)
    assert tm.rouge_l(["abc def"], ["xyz"]) == 0.0


# -------------------------------------------------------------------------------------------- METEOR
# NLTK's meteor_score with the real WordNet 3.0 (the `wordnet` fixture skips when it was not fetched).

def test_meteor_banerjee_lavie_style_example(wordnet):
    # 6 matches, |hyp| 6, |ref| 7; chunks "the president" + "spoke to the audience" = 2.
    p, r = 1.0, 6 / 7
    fmean = p * r / (0.9 * p + 0.1 * r)
    got = tm.meteor(["the president spoke to the audience"], ["the president then spoke to the audience"], wordnet)
    assert got == pytest.approx(fmean * (1 - 0.5 * (2 / 6) ** 3))


def test_meteor_fragmentation_and_identity(wordnet):
    assert tm.meteor(["the dog sat"], ["the dog sat"], wordnet) == pytest.approx(1 - 0.5 / 27)
    assert tm.meteor(["sat the dog"], ["the dog sat"], wordnet) == pytest.approx(1 - 0.5 * (2 / 3) ** 3)


def test_meteor_stem_and_synonym_stages(wordnet):
    assert tm.meteor(["the cats sat"], ["the cat sat"], wordnet) == pytest.approx(1 - 0.5 / 27)  # Porter stem
    # WordNet: "fast" and "quick" share a synset
    assert tm.meteor(["a fast song"], ["a quick song"], wordnet) == pytest.approx(1 - 0.5 / 27)
    assert tm.meteor(["a fast song"], [["nothing here", "a quick song"]], wordnet) == pytest.approx(1 - 0.5 / 27)
    assert tm.meteor(["xyzzy"], ["plugh"], wordnet) == 0.0


# ----------------------------------------------------------------------------------------- diversity

def test_distinct_n_vocabulary_and_length():
    texts = ["a b a b", "a c"]
    assert tm.distinct_n(texts, 1) == pytest.approx(3 / 6)
    assert tm.distinct_n(texts, 2) == pytest.approx(3 / 4)  # (a,b) (b,a) (a,b) (a,c)
    assert tm.vocabulary_size(texts) == 3
    assert tm.mean_length(texts) == pytest.approx(3.0)
    assert tm.distinct_n([], 2) == 0.0 and tm.mean_length([]) == 0.0


def test_tag_fidelity_summary():
    from pipelines.synthesize.tagset import InputTag

    tags = [InputTag("rock", "genre"), InputTag("male vocals", "instrument")]
    out = tm.tag_fidelity_summary(
        ["A rock song with a male singer.", "A rock song with a female vocal."], [tags, tags])
    assert out["n"] == 2
    assert out["coverage"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["hallucination_rate"] == pytest.approx((0 + 1 / 2) / 2)
    assert out["rows_with_hallucination"] == pytest.approx(0.5)
    assert out["top_hallucinated"] == {"female vocals": 1}
