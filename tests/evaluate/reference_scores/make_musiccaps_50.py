"""Writes musiccaps_50.json: reference scores computed by the libraries themselves on 50 MusicCaps rows,
so test_reference_scores.py catches any change in how pipelines/evaluate calls them (tokens, options,
averaging). Run from the project root, with WordNet fetched (`viml-synth wordnet`):

    .venv/bin/python tests/evaluate/reference_scores/make_musiccaps_50.py [../shared/data/musiccaps_train.csv]

Rows: 50 drawn with seed 50 from MusicCaps (Agostinelli et al. 2023, Google; CC BY-SA 4.0; the caption is
the reference). Hypotheses: data2text (built-in rewriter) from the row's shuffled aspect list, and for
every fifth row the plain tag concatenation, so scores spread. The texts are stored with the scores: the
test needs neither ../shared nor today's templates.

Computed here straight from the libraries (not through pipelines/evaluate), as the metrics are specified:
  tokens      nltk.tokenize.wordpunct_tokenize(NFKC-normalised lowercase text, curly apostrophe -> ')
  BLEU-1..4   nltk.translate.bleu_score.corpus_bleu, uniform weights, no smoothing
  METEOR      nltk.translate.meteor_score.meteor_score per row (NLTK's WordNetCorpusReader, WordNet 3.0)
  ROUGE-L     rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(reference, hypothesis).fmeasure
"""
from __future__ import annotations

import ast
import csv
import json
import os
import random
import sys
import unicodedata
import warnings
from pathlib import Path

import nltk
import rouge_score
from nltk.tokenize import wordpunct_tokenize
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.meteor_score import meteor_score
from rouge_score.rouge_scorer import RougeScorer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from pipelines.evaluate import wordnet as wordnet_module  # noqa: E402  (only to find the WordNet files)
from pipelines.synthesize.data2text import BuiltinRewriter, TemplateBank, data2text  # noqa: E402
from pipelines.synthesize.tagset import InputTag  # noqa: E402
from pipelines.tag.vocabulary import Vocabulary  # noqa: E402

N_ROWS, SEED = 50, 50


def tokens(text: str) -> list[str]:
    return wordpunct_tokenize(unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'"))


def main() -> None:
    shared = Path(os.environ.get("VIML_SYNTH_SHARED", ROOT.parent / "shared"))
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "data" / "musiccaps_train.csv"
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(SEED).shuffle(rows)
    bank, vocabulary = TemplateBank.load(), Vocabulary.load()
    rewriter = BuiltinRewriter(bank)
    items = []
    for i, row in enumerate(rows[:N_ROWS]):
        aspects = [a for a in ast.literal_eval(row["aspect_list"]) if str(a).strip()]
        random.Random(f"{SEED}:{row['ytid']}").shuffle(aspects)
        if i % 5 == 4:
            hypothesis = ", ".join(aspects)
        else:
            hypothesis, _ = data2text([InputTag(a) for a in aspects], random.Random(f"{SEED}:{i}"), bank, rewriter,
                                      vocabulary)
        items.append({"id": f"{row['ytid']}:{row['start_s']}", "hypothesis": hypothesis, "reference": row["caption"]})

    wordnet = wordnet_module.load()
    scorer = RougeScorer(["rougeL"])
    hyps = [tokens(it["hypothesis"]) for it in items]
    refs = [[tokens(it["reference"])] for it in items]
    for it, hyp, ref in zip(items, hyps, refs, strict=True):
        it["meteor"] = meteor_score(ref, hyp, wordnet=wordnet)
        it["rouge_l"] = scorer.score(it["reference"], it["hypothesis"])["rougeL"].fmeasure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bleu = {f"bleu{n}": corpus_bleu(refs, hyps, weights=(1.0 / n,) * n) for n in range(1, 5)}
    out = {
        "source": f"{source.name}: {N_ROWS} rows drawn with seed {SEED} (MusicCaps, CC BY-SA 4.0)",
        "made_by": "tests/evaluate/reference_scores/make_musiccaps_50.py",
        "libraries": {"nltk": nltk.__version__, "rouge-score": getattr(rouge_score, "__version__", "0.1.2"),
                      "wordnet": wordnet.get_version()},
        "corpus": {**bleu, "meteor": sum(it["meteor"] for it in items) / len(items),
                   "rouge_l": sum(it["rouge_l"] for it in items) / len(items)},
        "rows": items,
    }
    (HERE / "musiccaps_50.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(out["corpus"], indent=1))


if __name__ == "__main__":
    main()
