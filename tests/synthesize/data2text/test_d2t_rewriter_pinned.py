"""Pinned outputs of the data2text method with the built-in rewriter: ~300 tag sets, fixed seeds.

The fixture (tests/fixtures/data2text_rewriter_pinned.json) holds the inputs (tags, seed, rewriter
settings) and the texts and metadata digests they produced, so a refactor of the rewriter that changes
any output (or the order of its random draws) fails here. The inputs are stored in the fixture, so the
test does not need ../shared. Regenerate (only when an output change is intended) with

    .venv/bin/python tests/synthesize/data2text/test_d2t_rewriter_pinned.py

(set VIML_SYNTH_SHARED when ../shared is elsewhere)
which takes tag sets from the tests' own examples, the packaged vocabulary and, when present,
../shared/data/musiccaps_train.csv aspects.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import random
from pathlib import Path

from pipelines.synthesize.data2text import BuiltinRewriter, data2text
from pipelines.synthesize.data2text.templates import TemplateBank
from pipelines.synthesize.tagset import InputTag
from pipelines.tag.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "data2text_rewriter_pinned.json"
# as tests/conftest.py finds ../shared (VIML_SYNTH_SHARED overrides it, e.g. from a worktree)
MUSICCAPS_CSV = Path(os.environ.get("VIML_SYNTH_SHARED", ROOT.parent / "shared")) / "data" / "musiccaps_train.csv"

# rewriter settings the cases rotate through: the defaults, and extremes that reach the other branches
SETTINGS = [
    {},
    {"p_fuse": 0.0},
    {"p_over": 1.0, "p_coordinate": 1.0, "p_merge": 1.0},
    {"p_recording_subject": 1.0, "p_shuffle": 1.0, "p_over": 0.0},
    {"max_list": 3, "max_sentence_tags": 4},
]

# the same hand-written examples the method tests use
EXAMPLES = [
    ["rock", "lead vocals", "electric bass", "frantic", "powerful", "vocals", "electric guitar", "angry", "slow",
     "male vocals", "acoustic drumset"],
    ["relaxing", "male vocals", "lead vocals", "dreamy", "nostalgic", "acoustic guitar", "sad", "vocals", "piano",
     "acoustic"],
    ["low quality", "hip hop", "dj scratching sounds", "punchy kick", "punchy snare", "shimmering hi hats",
     "syncopated open hat", "noisy", "mono", "plastic tapping sounds", "groovy"],
]


def meta_digest(meta: dict) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def run_case(case: dict, vocab: Vocabulary, bank: TemplateBank) -> dict:
    tags = [InputTag(name, category) for name, category in case["tags"]]
    rewriter = BuiltinRewriter(bank, **SETTINGS[case["settings"]])
    text, meta = data2text(tags, random.Random(case["seed"]), bank, rewriter, vocab)
    return {"text": text, "meta_sha256": meta_digest(meta)}


def build_cases(vocab: Vocabulary) -> list[dict]:
    """~300 varied tag sets: examples, vocabulary samples (with the tagger's categories), MusicCaps
    aspects (uncategorized, as the aspect input path gives them) and mixes of both."""
    rng = random.Random(20261130)
    sets: list[list[list]] = []
    for names in EXAMPLES:
        sets.append([[n, vocab.get(n).category if vocab.get(n) else None] for n in names])
        sets.append([[n, None] for n in names])
    vocab_tags = [[t.name, t.category] for t in vocab.tags]
    for _ in range(130):
        sets.append(rng.sample(vocab_tags, rng.randint(1, 16)))
    aspects: list[list[str]] = []
    if MUSICCAPS_CSV.exists():
        with MUSICCAPS_CSV.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                aspects.append([str(a) for a in ast.literal_eval(row["aspect_list"]) if str(a).strip()])
        aspects = [a for a in aspects if a]
    for names in rng.sample(aspects, min(130, len(aspects))):
        sets.append([[n, None] for n in names])
    for _ in range(35 if aspects else 0):
        mix = rng.sample(vocab_tags, rng.randint(1, 6)) + [[n, None] for n in rng.choice(aspects)[:6]]
        rng.shuffle(mix)
        sets.append(mix)
    return [{"tags": tags, "seed": i, "settings": i % len(SETTINGS)} for i, tags in enumerate(sets)]


def regenerate() -> None:
    vocab, bank = Vocabulary.load(), TemplateBank.load()
    if not MUSICCAPS_CSV.exists():
        raise SystemExit(f"{MUSICCAPS_CSV} not found: the cases need MusicCaps aspects (set VIML_SYNTH_SHARED)")
    cases = build_cases(vocab)
    for case in cases:
        case["expected"] = run_case(case, vocab, bank)
    # one case per line, so a diff of the fixture shows which outputs changed
    lines = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
    FIXTURE.write_text(f'{{"settings": {json.dumps(SETTINGS)},\n"cases": [\n{lines}\n]}}\n', encoding="utf-8")
    print(f"wrote {len(cases)} cases to {FIXTURE}")


def test_builtin_rewriter_outputs_are_pinned(vocab, bank):
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert data["settings"] == SETTINGS
    assert len(data["cases"]) >= 250
    changed = []
    for i, case in enumerate(data["cases"]):
        got = run_case(case, vocab, bank)
        if got != case["expected"]:
            changed.append((i, case["expected"]["text"], got["text"]))
    assert not changed, f"{len(changed)} of {len(data['cases'])} outputs changed; first: {changed[:3]}"


if __name__ == "__main__":
    regenerate()
