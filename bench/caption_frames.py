"""Which sentence frames MusicCaps annotators wrap around their own aspect tags (the source of data2text's
caption-like wordings, e.g. "This audio contains ...", "The recording is noisy and in mono").

For every caption of the split, each sentence has the row's aspects that it quotes literally replaced by
their category (``<INSTRUMENT>``, categories from the vocabulary and the tag lexicon, as data2text sees
them); lists of one category collapse to ``<INSTRUMENTs>`` and an article before a slot becomes ``<a ...>``.
Frames are counted per category. Only the `dev` split (the rows the templates are developed on, see
data2text_quality.py) is read by default: mining the held-out rows would leak them into the templates.

    .venv/bin/python bench/data2text_quality.py  # the quality bench; this script only counts frames
    .venv/bin/python bench/caption_frames.py [--split dev] [--top 25] [--category mood]
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.data2text_quality import DEFAULT_CSV, load_rows  # noqa: E402
from pipelines.synthesize.categorize import categorize  # noqa: E402
from pipelines.synthesize.tagset import InputTag  # noqa: E402
from pipelines.tag.vocabulary import Vocabulary  # noqa: E402

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def frame_of(sentence: str, categories: dict[str, str]) -> tuple[str, set[str]]:
    """The sentence with quoted aspects replaced by category slots, and the categories it quotes."""
    s = " ".join(sentence.lower().split())
    found = set()
    for aspect in sorted(categories, key=len, reverse=True):  # longest first: "male vocal" before "vocal"
        pattern = r"\b" + re.escape(aspect) + r"\b"
        if re.search(pattern, s):
            s = re.sub(pattern, f"<{categories[aspect].upper()}>", s)
            found.add(categories[aspect])
    for _ in range(3):  # "a <X>, <X> and a <X>" -> "<Xs>"
        s = re.sub(r"(?:an? )?<(\w+)>(?:, (?:an? )?<\1>)*(?:,? and (?:an? )?<\1>)", r"<\1s>", s)
    return re.sub(r"\ban? <(\w+)>", r"<a \1>", s), found


def count_frames(rows, vocabulary) -> dict[str, Counter]:
    frames: dict[str, Counter] = defaultdict(Counter)
    for aspects, caption in rows:
        categories = {t.tag.lower(): t.category for t in categorize([InputTag(a) for a in aspects], vocabulary)}
        for sentence in SENTENCE_END.split(caption.strip()):
            frame, found = frame_of(sentence, categories)
            for c in found:
                frames[c][frame] += 1
    return frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--split", default="dev", choices=["dev", "held-out", "all"],
                    help="dev (default): the rows templates may be developed on")
    ap.add_argument("--seed", type=int, default=0, help="shuffle that defines the split (as data2text_quality.py)")
    ap.add_argument("--top", type=int, default=25, help="frames shown per category")
    ap.add_argument("--category", default=None, help="only this category")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"MusicCaps csv not found: {args.csv}", file=sys.stderr)
        return 2
    rows = load_rows(args.csv, args.split, args.seed)
    frames = count_frames(rows, Vocabulary.load())
    print(f"{len(rows)} captions, split {args.split} (seed {args.seed}); sentences quoting aspects, by category")
    for category, counts in sorted(frames.items(), key=lambda kv: -sum(kv[1].values())):
        if args.category and category != args.category:
            continue
        print(f"\n== {category}: {sum(counts.values())} sentences")
        for frame, n in counts.most_common(args.top):
            print(f"{n:5d}  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
