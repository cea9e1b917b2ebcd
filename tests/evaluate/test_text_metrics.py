"""Text metrics against hand-computed values and known properties."""
import math

import pytest

from pipelines.evaluate import text_metrics as tm
from pipelines.evaluate.porter import stem

# Papineni et al. (2002), candidate 1 and its three references (final period left out).
PAPINENI_HYP = "It is a guide to action which ensures that the military always obeys the commands of the party"
PAPINENI_REFS = [
    "It is a guide to action that ensures that the military will forever heed Party commands",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party",
    "It is the practical guide for the army always to heed the directions of the party",
]


def test_tokenize_lowercases_and_splits_punctuation():
    assert tm.tokenize("Hip-hop, with DRUMS. Don't stop!") == [
        "hip", "-", "hop", ",", "with", "drums", ".", "don't", "stop", "!"]
    assert tm.tokenize("Hip-hop, with DRUMS.", punctuation=False) == ["hip", "hop", "with", "drums"]


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
    assert out["bleu4"] == 0.0 and out["bleu3"] > 0.0


def test_bleu_counts_punctuation_tokens():
    assert tm.corpus_bleu(["rock, pop"], ["rock , pop"], max_n=1)["bleu1"] == pytest.approx(1.0)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        tm.corpus_bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        tm.meteor(["a"], [])


# ------------------------------------------------------------------------------------------- ROUGE-L

def test_rouge_l_lin_example():
    # Lin (2004): LCS("police kill the gunman", "police killed the gunman") = 3 -> F = 0.75;
    # "the gunman kill police" has LCS 2 -> F = 0.5.
    assert tm.rouge_l(["police kill the gunman"], ["police killed the gunman"]) == pytest.approx(0.75)
    assert tm.rouge_l(["the gunman kill police"], ["police killed the gunman"]) == pytest.approx(0.5)
    assert tm.rouge_l(["police kill the gunman", "the gunman kill police"],
                      ["police killed the gunman"] * 2) == pytest.approx(0.625)


def test_rouge_l_beta_and_multi_reference():
    # LCS 2, P = 1, R = 0.5: F1 = 2/3; beta = 2: 5 * 0.5 / (0.5 + 4) = 5/9
    assert tm.rouge_l(["the gunman"], ["police killed the gunman"]) == pytest.approx(2 / 3)
    assert tm.rouge_l(["the gunman"], ["police killed the gunman"], beta=2.0) == pytest.approx(5 / 9)
    assert tm.rouge_l(["the gunman"], [["nothing alike", "the gunman"]]) == pytest.approx(1.0)
    assert tm.rouge_l(["abc def"], ["xyz"]) == 0.0


def test_lcs_length():
    assert tm.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


# -------------------------------------------------------------------------------------------- METEOR

def test_porter_stemmer_paper_examples():
    pairs = {
        "caresses": "caress", "ponies": "poni", "cats": "cat", "feed": "feed", "agreed": "agre",
        "plastered": "plaster", "motoring": "motor", "sing": "sing", "conflated": "conflat", "hopping": "hop",
        "falling": "fall", "filing": "file", "happy": "happi", "sky": "sky", "relational": "relat",
        "rational": "ration", "conditional": "condit", "vietnamization": "vietnam", "hopefulness": "hope",
        "sensibiliti": "sensibl", "electrical": "electr", "adjustment": "adjust", "replacement": "replac",
        "adoption": "adopt", "probate": "probat", "rate": "rate", "cease": "ceas", "controll": "control",
        "roll": "roll", "generalizations": "gener", "oscillators": "oscil",
    }
    assert {w: stem(w) for w in pairs} == pairs


def test_meteor_banerjee_lavie_style_example():
    # 6 matches, |hyp| 6, |ref| 7; chunks "the president" + "spoke to the audience" = 2.
    p, r = 1.0, 6 / 7
    fmean = p * r / (0.9 * p + 0.1 * r)
    expected = fmean * (1 - 0.5 * (2 / 6) ** 3)
    got = tm.meteor(["the president spoke to the audience"], ["the president then spoke to the audience"])
    assert got == pytest.approx(expected)
    assert got == pytest.approx(0.853462, abs=1e-6)


def test_meteor_identical_is_just_below_one():
    # one chunk of 6 matches: penalty 0.5 * (1/6)^3
    assert tm.meteor(["a b c d e f"], ["a b c d e f"]) == pytest.approx(1 - 0.5 / 216)


def test_meteor_fragmentation_penalty():
    # all 3 words match but in 2 chunks ("the cat" | "sat"): penalty 0.5 * (2/3)^3
    assert tm.meteor(["sat the cat"], ["the cat sat"]) == pytest.approx(1 - 0.5 * (2 / 3) ** 3)
    # fully scrambled: 3 chunks of 1, penalty 0.5
    assert tm.meteor(["c b a"], ["a b c"]) == pytest.approx(0.5)


def test_meteor_stem_stage():
    # "cats" ~ "cat" by Porter stem: 3 matches in one chunk
    assert tm.meteor(["the cats sat"], ["the cat sat"]) == pytest.approx(1 - 0.5 / 27)
    assert tm.meteor(["relaxing guitars"], ["relaxed guitar"]) == pytest.approx(1 - 0.5 / 8)


def test_meteor_precision_recall_weighting():
    # 2 matches, P = 1, R = 2/6, one chunk
    p, r = 1.0, 2 / 6
    expected = p * r / (0.9 * p + 0.1 * r) * (1 - 0.5 * (1 / 2) ** 3)
    assert tm.meteor(["cat sat"], ["the cat sat on a mat"]) == pytest.approx(expected)
    assert tm.meteor(["xyz"], ["abc"]) == 0.0


def test_meteor_prefers_alignment_without_crossings():
    # "a" occurs twice in the hypothesis; linking the first one keeps "a b" one chunk (no crossing):
    # P = 2/3, R = 1, 1 chunk. (Linking the last "a" instead would give 2 chunks.)
    p, r = 2 / 3, 1.0
    expected = p * r / (0.9 * p + 0.1 * r) * (1 - 0.5 * (1 / 2) ** 3)
    assert tm.meteor(["a b a"], ["a b"]) == pytest.approx(expected)


def test_meteor_multi_reference_and_synonym_hook():
    assert tm.meteor(["a good song"], [["nothing", "a good song"]]) == pytest.approx(1 - 0.5 / 27)
    without = tm.meteor(["a good song"], ["a good track"])
    synonyms = {"song": {"track"}, "track": {"song"}}
    with_syn = tm.meteor(["a good song"], ["a good track"], synonyms=lambda w: synonyms.get(w, ()))
    assert without < with_syn == pytest.approx(1 - 0.5 / 27)


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
