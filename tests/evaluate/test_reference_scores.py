"""Drift check: pipelines/evaluate must give the scores the libraries themselves gave on 50 MusicCaps rows
(reference_scores/musiccaps_50.json, written by reference_scores/make_musiccaps_50.py). A change of
tokenizer, option or averaging shows up here. The texts are in the fixture: no ../shared needed."""
import json
from pathlib import Path

import pytest

from pipelines.evaluate import text_metrics as tm
from pipelines.evaluate.text_report import evaluate_texts

FIXTURE = json.loads((Path(__file__).parent / "reference_scores" / "musiccaps_50.json").read_text(encoding="utf-8"))
ROWS = FIXTURE["rows"]
HYPS, REFS = [r["hypothesis"] for r in ROWS], [r["reference"] for r in ROWS]


def test_fixture_is_what_it_says():
    assert len(ROWS) == 50 and len({r["id"] for r in ROWS}) == 50
    assert 0.05 < FIXTURE["corpus"]["bleu4"] < FIXTURE["corpus"]["bleu1"] < 1


def test_bleu_matches_nltk():
    bleu = tm.corpus_bleu(HYPS, REFS)
    for n in range(1, 5):
        assert bleu[f"bleu{n}"] == pytest.approx(FIXTURE["corpus"][f"bleu{n}"], abs=1e-12)


def test_rouge_l_matches_rouge_score_per_row():
    assert [tm.rouge_l_sentence(h, r) for h, r in zip(HYPS, REFS, strict=True)] == pytest.approx(
        [r["rouge_l"] for r in ROWS], abs=1e-12)
    assert tm.rouge_l(HYPS, REFS) == pytest.approx(FIXTURE["corpus"]["rouge_l"], abs=1e-12)


def test_meteor_matches_nltk_per_row(wordnet):
    assert [tm.meteor_sentence(h, r, wordnet) for h, r in zip(HYPS, REFS, strict=True)] == pytest.approx(
        [r["meteor"] for r in ROWS], abs=1e-12)


def test_report_carries_the_library_scores(wordnet):
    report = evaluate_texts([{"text": h, "method": "m", "reference": r} for h, r in zip(HYPS, REFS, strict=True)],
                            embed=False, wordnet=wordnet)
    m = report["methods"]["m"]
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l"):
        assert m[key] == pytest.approx(FIXTURE["corpus"][key], abs=1e-12), key
    assert m["bleu1"] == pytest.approx(m["unigram_precision"] * m["brevity_penalty"])
