"""Sanity check of the text metrics against a published baseline.

LP-MusicCaps scores "shuffled MusicCaps aspect tags joined with ', '" against the human captions of the
MusicCaps test split: BLEU-1 .203, BLEU-4 .054, METEOR .232 (NLTK, with WordNet synonyms), ROUGE-L .195,
mean length 20.6. This script computes the same baseline on MusicCaps train rows (../shared/data/
musiccaps_train.csv) with pipelines.evaluate (NLTK BLEU and METEOR, rouge-score ROUGE-L). A cross-paper
comparison, not a reproduction: other rows (train, not test), another tokenizer for BLEU (LP-MusicCaps
went through HF `evaluate`: 13a tokens, case kept, shortest-reference length), so only the neighbourhood
is expected to match.

    .venv/bin/python bench/text_metrics_sanity.py [--rows 2000] [--seed 0] [--no-embed]
"""
from __future__ import annotations

import argparse
import ast
import csv
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
SHARED = Path(os.environ.get("VIML_SYNTH_SHARED", PROJECT.parent / "shared"))

from pipelines.evaluate import text_metrics as tm  # noqa: E402
from pipelines.evaluate.wordnet import find as find_wordnet  # noqa: E402

LP_MUSICCAPS = {"bleu1": 0.203, "bleu4": 0.054, "meteor": 0.232, "rouge_l": 0.195, "mean_length": 20.6}


def load_rows(path: Path, n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            aspects = [str(a) for a in ast.literal_eval(row["aspect_list"])]
            rng.shuffle(aspects)
            out.append((", ".join(aspects), row["caption"]))
            if len(out) == n:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "musiccaps_train.csv")
    ap.add_argument("--no-embed", action="store_true")
    args = ap.parse_args()

    rows = load_rows(args.data, args.rows, args.seed)
    hyps, refs = [h for h, _ in rows], [r for _, r in rows]
    print(f"{len(rows)} rows of {args.data.name}: shuffled aspect tags joined with ', ' vs. caption")
    figures = {}
    t = time.perf_counter()
    bleu = tm.corpus_bleu(hyps, refs)
    figures.update({f"bleu{k}": bleu[f"bleu{k}"] for k in range(1, 5)})
    t_bleu = time.perf_counter() - t
    t = time.perf_counter()
    figures["rouge_l"] = tm.rouge_l(hyps, refs)
    t_rouge = time.perf_counter() - t
    t = time.perf_counter()
    wordnet = find_wordnet()
    if wordnet is not None:
        figures["meteor"] = tm.meteor(hyps, refs, wordnet)
    else:
        print("  (no WordNet: no METEOR; `viml-synth wordnet` fetches it)")
    t_meteor = time.perf_counter() - t
    figures["mean_length"] = tm.mean_length(hyps)
    if not args.no_embed:
        t = time.perf_counter()
        figures["embedding_similarity"] = tm.embedding_similarity(hyps, refs)
        t_embed = time.perf_counter() - t
    print(f"  brevity penalty {bleu['brevity_penalty']:.3f} (hyp {bleu['hyp_len']} / ref {bleu['ref_len']} tokens), "
          f"precisions " + " ".join(f"{p:.3f}" for p in bleu["precisions"]))
    print(f"  {'metric':<22}{'ours (train rows)':>18}{'LP-MusicCaps (test split, other paper)':>40}")
    for key, value in figures.items():
        ref = LP_MUSICCAPS.get(key)
        print(f"  {key:<22}{value:>18.3f}{'' if ref is None else f'{ref:.3f}':>40}")
    print(f"  time: bleu {t_bleu:.1f}s, rouge-l {t_rouge:.1f}s, meteor {t_meteor:.1f}s"
          + ("" if args.no_embed else f", embedding {t_embed:.1f}s (incl. model load)"))


if __name__ == "__main__":
    main()
