"""Rebuild prompts/examples/musiccaps.jsonl: a default few-shot pool of human (tags, description) pairs.

Source: MusicCaps (Agostinelli et al. 2023, Google), CC BY-SA 4.0: free-form `aspect_list` tags and the
expert `caption` of the same 10 s clip. Kept: short captions (the paper's prompt2text outputs are 1-2
sentences) whose aspects name at least two of our vocabulary tags, so the A:A' pairs look like B.

    .venv/bin/python prompts/build_musiccaps_pool.py ../shared/data/musiccaps_train.csv [--n 64]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.synthesize.prompt2text.examples import iter_musiccaps, write_pool
from pipelines.tag.vocabulary import Vocabulary, normalize


def vocabulary_hits(aspects: list[str], vocab: Vocabulary) -> int:
    words = " ".join(normalize(a) for a in aspects)
    return sum(1 for t in vocab.tags if f" {t.name} " in f" {words} ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "examples" / "musiccaps.jsonl"))
    args = parser.parse_args()

    vocab = Vocabulary.load()
    candidates = []
    for example_id, aspects, caption in iter_musiccaps(args.csv):
        n_words = len(caption.split())
        if 4 <= len(aspects) <= 12 and 12 <= n_words <= 40 and vocabulary_hits(aspects, vocab) >= 2:
            candidates.append({"id": example_id, "tags": aspects, "description": caption})
    chosen = write_pool(candidates, args.n, args.seed, args.out)
    print(f"{len(chosen)} of {len(candidates)} candidates -> {args.out}")


if __name__ == "__main__":
    main()
