"""Build prompts/examples/musiccaps_tagger.jsonl: the analogy pool in the tagger's style.

The paper's analogy examples pair a human description with the tags a *tagger* gave the track, so the
examples' tags look like the query's. MusicCaps' aspect lists ("shimmering shakers", "low quality") look
nothing like vocabulary tags; here each caption keeps only the vocabulary tags its aspects name, matched
with the same surface forms, aliases and negation rules the fidelity check uses
(pipelines/data/tag_aliases.yaml, vocabulary.yaml `surface:`), plus tempo tags ("slow tempo", "medium
tempo", "fast tempo") from tempo aspects. Aspects that name no tag are left out; negated ones ("no
voices") never count. Kept: captions of 12-40 words with at least 3 matched tags. Tags are ordered genre,
mood, instrument, tempo as the tag stage's selection would list them.

    .venv/bin/python prompts/build_tagger_pool.py ../shared/data/musiccaps_train.csv [--n 64]
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipelines.synthesize.fidelity import matcher_for
from pipelines.synthesize.prompt2text.examples import iter_musiccaps, write_pool
from pipelines.tag.vocabulary import Vocabulary

# tempo aspects -> the descriptor tags of pipelines/data/descriptor_tags.yaml
TEMPO = [(re.compile(r"\b(slow|slower|downtempo|down tempo)\b.*\btempo\b|\bslow(ly)?[- ]paced\b"), "slow tempo"),
         (re.compile(r"\b(medium|mid|moderate)\b.*\btempo\b|\bmid-tempo\b"), "medium tempo"),
         (re.compile(r"\b(fast|quick|uptempo|up tempo|high)\b.*\btempo\b|\bfast[- ]paced\b|\buptempo\b"), "fast tempo")]
CATEGORY_ORDER = {"genre": 0, "mood": 1, "instrument": 2}


def tagger_tags(aspects: list[str], vocabulary: Vocabulary, matcher) -> list[str]:
    tags: list[str] = []
    tempo = None
    for aspect in aspects:
        low = aspect.lower()
        for rx, tag in TEMPO:
            if rx.search(low):
                tempo = tempo or tag
                break
        else:
            for mention in matcher.scan(aspect):
                # an ambiguous form ("bass") names several tags: keep its first (most likely) reading
                if not mention.negated:
                    tags.extend(t for t in (mention.tags if mention.all_of else mention.tags[:1]) if t not in tags)
    # the tempo a tagger-style example states is its measured tempo tag, not musicnn's mood "slow"/"fast"
    if tempo:
        tags = [t for t in tags if t not in ("slow", "fast")]
    tags.sort(key=lambda t: CATEGORY_ORDER[vocabulary.get(t).category])
    return tags + ([tempo] if tempo else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "examples" / "musiccaps_tagger.jsonl"))
    args = parser.parse_args()

    vocabulary = Vocabulary.load()
    matcher = matcher_for(vocabulary)
    candidates = []
    for example_id, aspects, caption in iter_musiccaps(args.csv):
        if not 12 <= len(caption.split()) <= 40:
            continue
        tags = tagger_tags(aspects, vocabulary, matcher)
        if len(tags) >= 3:
            candidates.append({"id": example_id, "tags": tags, "description": caption})
    chosen = write_pool(candidates, args.n, args.seed, args.out)
    print(f"{len(chosen)} of {len(candidates)} candidates -> {args.out}")


if __name__ == "__main__":
    main()
