"""Tagging throughput (seconds of audio tagged per wall second) and what --workers buys.

On a job long enough that start-up does not dominate (default 60 clips of 10 s = 10 minutes of
audio), the Beam pipeline (local runner, musicnn) in these configurations, each timed end to end
(process start of the workers, model loading, decoding, inference, Parquet, summary):
  (a) bare loop: decode + mel + musicnn in plain Python, 1 torch thread (optional, --bare)
  (b) 1 worker,  torch threads = all cores (what --workers 1 used before: cores // workers threads)
  (c) 1 worker,  1 torch thread (what --workers 1 uses now)
  (d) N workers, 1 torch thread each (what --workers N uses)
Prints each, the speedups (d)/(b) and (d)/(c), and RunInference's model time per 3 s patch. The
machine may be shared: run it twice (--repeat 2) and read the spread.

    .venv/bin/python bench/tagging.py [--clips 60] [--workers 2] [--repeat 2] [--bare]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "demo"


def make_manifest(folder: Path, n_clips: int) -> Path:
    """n_clips rows cycling over the demo excerpts (distinct music_ids, whole 10 s clips)."""
    audio = sorted((DEMO / "audio").glob("*.ogg"))
    lines = ["music_id,audio_path"] + [f"clip{i:05d},{audio[i % len(audio)]}" for i in range(n_clips)]
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def bare_loop(manifest, backend, batch_clips: int) -> tuple[float, float]:
    """(wall s, audio s) of decode + mel + forward in plain Python, one torch thread."""
    import torch

    torch.set_num_threads(1)
    state = backend.load()
    started, audio_s = time.perf_counter(), 0.0
    clips = manifest.clips
    for i in range(0, len(clips), batch_clips):
        batch = [backend.prepare(c) for c in clips[i:i + batch_clips]]
        backend.predict(state, batch)
        audio_s += sum(p.duration_s for p in batch)
    return time.perf_counter() - started, audio_s


def pipeline_run(manifest, backend, vocabulary, out: Path, workers: int, threads: int | None,
                 batch_clips: int) -> dict:
    from pipelines.tag.pipeline import TagJob, run

    started = time.perf_counter()
    summary = run(TagJob(manifest, backend, str(out), vocabulary, workers=workers, batch_clips=batch_clips,
                         threads=threads))
    wall = time.perf_counter() - started
    assert summary["counts"]["tagged"] == len(manifest.clips), summary["counts"]
    patches = summary["inference"]["elements"] * 3  # 10 s clips: 3 patches each, one element per clip
    return {"wall": wall, "audio": summary["timing"]["audio_s"],
            "model_ms_per_patch": 1000 * summary["inference"]["inference_s"] / patches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--batch-clips", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--bare", action="store_true", help="also time the bare loop")
    args = parser.parse_args()

    import torch

    from pipelines.io.manifest import read_manifest
    from pipelines.options import torch_threads_per_worker
    from pipelines.tag.backends import from_spec
    from pipelines.tag.vocabulary import Vocabulary

    work = Path(tempfile.mkdtemp(prefix="bench-tagging-"))
    try:
        manifest = read_manifest(str(make_manifest(work, args.clips)))
        backend, vocabulary = from_spec("musicnn"), Vocabulary.load()
        print(f"{args.clips} clips of 10 s ({args.clips / 6:.1f} min of audio), batch {args.batch_clips} clips, "
              f"torch {torch.__version__}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        cores = os.cpu_count() or 1
        default = torch_threads_per_worker(1)
        configs = [(f"(b) 1 worker, {cores} threads", 1, cores),
                   (f"(c) 1 worker, {default} thread(s)", 1, default),
                   (f"(d) {args.workers} workers, {default} thread(s) each", args.workers, default)]
        for rep in range(args.repeat):
            print(f"-- run {rep + 1} (load average {os.getloadavg()[0]:.1f})")
            if args.bare:
                wall, audio = bare_loop(manifest, backend, args.batch_clips)
                print(f"{'(a) bare loop, 1 thread':34s} {audio / wall:6.2f} audio s / wall s  ({wall:6.1f} s wall)")
            rates = {}
            for name, workers, threads in configs:
                r = pipeline_run(manifest, backend, vocabulary, work / f"out-{rep}-{name[1]}", workers, threads,
                                 args.batch_clips)
                rates[name[1]] = r["audio"] / r["wall"]
                print(f"{name:34s} {rates[name[1]]:6.2f} audio s / wall s  ({r['wall']:6.1f} s wall, "
                      f"model {r['model_ms_per_patch']:6.1f} ms per patch)")
            print(f"(d)/(b) = {rates['d'] / rates['b']:.2f}   (d)/(c) = {rates['d'] / rates['c']:.2f}   "
                  f"(c)/(b) = {rates['c'] / rates['b']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
