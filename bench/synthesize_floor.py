"""The synthesize stage against Beam's own floor, in one process on the same input (issue 9 §3).

  (a) floor: a trivial Beam pipeline on the local FnApiRunner that reads the JSONL, shuffles each
      row's tags with a seeded RNG, joins them and writes Parquet
  (b) `viml-synth synthesize --methods tags`
  (c) `viml-synth synthesize --methods data2text` (built-in rewriter)

Prints each whole-run wall time and its ratio to the floor (targets: tags <= 2x, data2text <= 4x).
The input is MusicCaps-style: each row a list of free-text aspects ("low quality", "mellow piano
melody", ...) mixed with tagger vocabulary names.

    .venv/bin/python bench/synthesize_floor.py [--rows 20000] [--seed 0] [--profile DIR]

--profile DIR also writes a cProfile of (b) and (c) to DIR/<method>.prof (slower; ratios then mean
little).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# MusicCaps-like aspects: genres, instruments, moods and the free descriptive phrases its captions use
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


def write_input(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(rows):
            tags = rng.sample(ASPECTS, rng.randint(3, 12))
            fh.write(json.dumps({"music_id": f"m{i:07d}", "video_id": f"v{i:07d}", "tags": tags}) + "\n")


class ShuffleJoin:
    """The floor's only work per row: parse it, shuffle its tags with a per-row seeded RNG, join them."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, line: str) -> dict:
        row = json.loads(line)
        tags = list(row["tags"])
        random.Random(f"{self.seed}:{row['music_id']}").shuffle(tags)
        return {"music_id": row["music_id"], "video_id": row.get("video_id"), "text": ", ".join(tags)}


def run_floor(src: Path, out: Path, seed: int) -> float:
    import apache_beam as beam
    import pyarrow as pa
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    schema = pa.schema([("music_id", pa.string()), ("video_id", pa.string()), ("text", pa.string())])
    started = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions([])) as p:
        (p | beam.io.ReadFromText(str(src))
           | beam.Map(ShuffleJoin(seed))
           | beam.io.WriteToParquet(str(out / "floor"), schema, file_name_suffix=".parquet"))
    return time.perf_counter() - started


def run_synthesize(src: Path, out: Path, method: str, seed: int, profile_dir: Path | None) -> float:
    from pipelines.cli import main

    argv = ["synthesize", "--log-level", "WARNING", "--input", str(src), "--out", str(out / method),
            "--methods", method, "--seed", str(seed)]
    started = time.perf_counter()
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        status = profiler.runcall(main, argv)
        profiler.dump_stats(str(profile_dir / f"{method}.prof"))
    else:
        status = main(argv)
    wall = time.perf_counter() - started
    assert status == 0, status
    texts = json.loads((out / method / "summary.json").read_text())["counts"]["texts"]
    assert texts > 0, texts
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the synthesize runs here")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        work = Path(tmp)
        src = work / "tags.jsonl"
        write_input(src, args.rows, args.seed)
        floor = run_floor(src, work, args.seed)
        rows = [("floor (trivial Beam pipeline)", floor, None)]
        for method, target in (("tags", 2.0), ("data2text", 4.0)):
            wall = run_synthesize(src, work, method, args.seed, args.profile)
            rows.append((f"synthesize --methods {method}", wall, target))
    print(f"{args.rows} JSONL rows, whole-run wall time (same process)")
    print(f"| {'pipeline':34s} | {'wall s':>7s} | {'us/row':>7s} | {'vs floor':>8s} | target |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 10}|--------|")
    for name, wall, target in rows:
        print(f"| {name:34s} | {wall:7.1f} | {1e6 * wall / args.rows:7.0f} | {wall / floor:7.1f}x | "
              f"{f'{target:.0f}x' if target else '':>6s} |")


if __name__ == "__main__":
    main()
