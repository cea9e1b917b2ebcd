"""Pins the exact texts, selected tags and metadata of `synthesize --methods tags,data2text` on 300
MusicCaps-style rows with a fixed seed, so speed work on the synthesize steps cannot change a byte.

The fixture holds the input rows and the expected triplets. Regenerate it ONLY for an intended change
of output: VIML_REPIN=1 .venv/bin/python -m pytest tests/synthesize/test_synthesize_pinned.py
"""
import json
import os
import random
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.cli import EXIT_OK, main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "synthesize_pinned.json"
VOLATILE = {"latency_s"}  # wall-clock measurements: not part of the output's identity
SEED = 7

# MusicCaps-like aspects: vocabulary names and free phrases, some unknown to the tag vocabulary
ASPECTS = [
    "rock", "pop", "jazz", "classical", "electronic", "hip hop", "metal", "folk", "ambient", "blues",
    "country", "reggae", "funk", "soul", "techno", "punk", "acoustic guitar", "electric guitar", "piano",
    "drums", "bass", "synthesizer", "strings", "violin", "flute", "saxophone", "male vocals",
    "female vocals", "choir", "organ", "happy", "sad", "calm", "energetic", "mellow", "dark", "romantic",
    "epic", "low quality", "mellow piano melody", "slow tempo", "fast tempo", "soft female vocal",
    "groovy bassline", "emotional", "live performance", "sustained strings melody", "reverberant",
    "instrumental", "medium tempo",
]


def _make_rows(n: int = 300, tagged: int = 100) -> list[dict]:
    """n user rows (plain aspect lists) and `tagged` rows as a tagger writes them (every tag with a
    confidence), so threshold selection and its fallback are pinned too."""
    rng = random.Random(1)
    rows = [{"music_id": f"m{i:04d}", "video_id": f"v{i:04d}" if i % 3 else None,
             "tags": rng.sample(ASPECTS, rng.randint(1, 12))} for i in range(n)]
    rows += [{"music_id": f"t{i:04d}", "video_id": None,
              "tags": [{"tag": t, "confidence": round(rng.random() ** 4, 4)} for t in ASPECTS[:38]]}
             for i in range(tagged)]
    return rows


def _triplets(out: Path) -> list[dict]:
    rows = []
    for path in sorted(out.glob("triplets-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    for row in rows:
        for key in VOLATILE:
            row["metadata"].pop(key, None)
    return sorted(rows, key=lambda r: (r["music_id"], r["method"], r["sample"]))


def test_tags_and_data2text_outputs_are_pinned(tmp_path):
    repin = os.environ.get("VIML_REPIN") == "1"
    inputs = _make_rows() if repin else json.loads(FIXTURE.read_text())["inputs"]
    src = tmp_path / "tags.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in inputs))
    out = tmp_path / "out"
    assert main(["synthesize", "--log-level", "WARNING", "--input", str(src), "--out", str(out),
                 "--methods", "tags,data2text", "--samples-per-track", "2", "--seed", str(SEED)]) == EXIT_OK
    got = _triplets(out)
    counts = json.loads((out / "summary.json").read_text())["counts"]
    if repin:
        # one record a line: a changed output shows as a readable diff
        lines = ",\n".join(json.dumps(r, sort_keys=True) for r in got)
        FIXTURE.write_text(f'{{"seed": {SEED}, "counts": {json.dumps(counts)},\n"inputs": {json.dumps(inputs)},\n'
                           f'"expected": [\n{lines}\n]}}\n')
    pinned = json.loads(FIXTURE.read_text())
    assert counts == pinned["counts"]
    expected = pinned["expected"]
    assert len(got) == len(expected) > 3 * len(inputs)
    for g, e in zip(got, expected, strict=True):
        assert g == e, (g["music_id"], g["method"], g["sample"])
