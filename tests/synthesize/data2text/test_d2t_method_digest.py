"""One digest over every text and metadata dict that `data2text_many` (built-in rewriter) writes for 600
seeded rows, in batches of 64 through one bank and rewriter (so memoized renders and mention checks are
reused across rows, as in the pipeline). Speed work on the method must keep this digest: any changed byte,
or any change in the order of the rows' random draws, changes it.

Rows: MusicCaps-style free aspects (as bench/synthesize_floor.py writes them, uncategorized), the packaged
tagger vocabulary's tags with their categories, and mixes with measured tempo/key descriptors. Print the
digest (only to re-record it for an intended change of output) with

    .venv/bin/python tests/synthesize/data2text/test_d2t_method_digest.py
"""
from __future__ import annotations

import hashlib
import json
import random

from pipelines.synthesize.data2text import BuiltinRewriter, TemplateBank, data2text_many
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary

# recorded from main at f7b45d2, before the method's speed work
EXPECTED = "a93e6b635931f1ad1b398fbd7aec24daf1af6674520175c7ee856199c75a0512"
ROWS = 600
BATCH = 64

# bench/synthesize_floor.py's MusicCaps-like aspects (copied: the bench may change its input, this may not)
ASPECTS = [
    "rock", "pop", "jazz", "classical", "electronic", "hip hop", "metal", "folk", "ambient", "blues",
    "country", "reggae", "funk", "soul", "techno", "house", "punk", "orchestral", "acoustic guitar",
    "electric guitar", "piano", "drums", "bass", "synthesizer", "strings", "violin", "cello", "flute",
    "saxophone", "trumpet", "male vocals", "female vocals", "choir", "harp", "organ", "happy", "sad",
    "calm", "energetic", "mellow", "dark", "uplifting", "romantic", "aggressive", "dreamy", "epic",
    "low quality", "mellow piano melody", "slow tempo", "fast tempo", "soft female vocal",
    "groovy bassline", "punchy kick", "emotional", "live performance", "amateur recording",
    "sustained strings melody", "distorted electric guitar", "catchy melody", "reverberant",
    "noisy", "instrumental", "medium tempo", "passionate male vocal", "shimmering hi hats",
]
DESCRIPTORS = [
    InputTag("slow tempo", "tempo", 0.7, value="68 BPM"),
    InputTag("medium tempo", "tempo", 0.6, value="92 BPM"),
    InputTag("fast tempo", "tempo", 0.8, value="141 BPM"),
    InputTag("A minor", "key", 0.8),
    InputTag("F# major", "key", 0.5),
]


def rows(vocab: Vocabulary) -> list[list[InputTag]]:
    rng = random.Random(9)
    vocab_tags = [InputTag(t.name, t.category) for t in vocab.tags]
    out = []
    for i in range(ROWS):
        kind = i % 3
        if kind == 0:  # a user's aspect list
            tags = [InputTag(a) for a in rng.sample(ASPECTS, rng.randint(3, 12))]
        elif kind == 1:  # a tagger's output
            tags = rng.sample(vocab_tags, rng.randint(1, 14))
        else:  # both, with measured descriptors
            tags = ([InputTag(a) for a in rng.sample(ASPECTS, rng.randint(1, 6))]
                    + rng.sample(vocab_tags, rng.randint(1, 6)) + rng.sample(DESCRIPTORS, rng.randint(0, 2)))
            rng.shuffle(tags)
        out.append(tags)
    return out


def digest() -> str:
    vocab, bank = Vocabulary.load(), TemplateBank.load()
    rewriter = BuiltinRewriter(bank)
    inputs = rows(vocab)
    h = hashlib.sha256()
    for start in range(0, len(inputs), BATCH):
        batch = inputs[start:start + BATCH]
        rngs = [random.Random(start + i) for i in range(len(batch))]
        for text, meta in data2text_many(batch, rngs, bank, rewriter, vocab):
            h.update(json.dumps([text, meta], sort_keys=True, ensure_ascii=False).encode())
            h.update(b"\n")
    return h.hexdigest()


def test_data2text_outputs_keep_their_digest():
    assert digest() == EXPECTED


if __name__ == "__main__":
    print(digest())
