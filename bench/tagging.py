"""Tagging throughput: seconds of audio tagged per wall second, bare loop vs. the Beam pipeline.

  (a) bare loop: decode + mel + musicnn forward in plain Python, same batching as the pipeline
  (b) the Beam pipeline, local runner, 1 worker (writes Parquet, errors, summary)
  (c) the Beam pipeline, local runner, 2 worker processes
Prints each, the ratios (b)/(a) and (c)/(b), and model-only ms per 3 s patch.

    .venv/bin/python bench/tagging.py [--clips 200] [--batch-clips 16]
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


def bare_loop(manifest, backend, batch_clips: int) -> tuple[float, float, float, int]:
    """Returns (wall s, audio s, model-only s, patches)."""
    state = backend.load()
    started, model_s, audio_s, patches = time.perf_counter(), 0.0, 0.0, 0
    clips = manifest.clips
    for i in range(0, len(clips), batch_clips):
        batch = [backend.prepare(c) for c in clips[i:i + batch_clips]]
        t = time.perf_counter()
        backend.predict(state, batch)
        model_s += time.perf_counter() - t
        audio_s += sum(p.duration_s for p in batch)
        patches += sum(p.n_patches for p in batch)
    return time.perf_counter() - started, audio_s, model_s, patches


def pipeline_run(manifest, backend, vocabulary, out: Path, workers: int, batch_clips: int) -> tuple[float, float]:
    from pipelines.tag.pipeline import TagJob, run

    started = time.perf_counter()
    summary = run(TagJob(manifest, backend, str(out), vocabulary, workers=workers, batch_clips=batch_clips))
    assert summary["counts"]["tagged"] == len(manifest.clips), summary["counts"]
    return time.perf_counter() - started, summary["timing"]["audio_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--batch-clips", type=int, default=16)
    args = parser.parse_args()

    import torch

    from pipelines.io.manifest import read_manifest
    from pipelines.tag.backends import from_spec
    from pipelines.tag.vocabulary import Vocabulary

    work = Path(tempfile.mkdtemp(prefix="bench-tagging-"))
    try:
        manifest = read_manifest(str(make_manifest(work, args.clips)))
        backend, vocabulary = from_spec("musicnn"), Vocabulary.load()
        print(f"{args.clips} clips of 10 s, batch {args.batch_clips} clips, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads, {os.cpu_count()} cores")

        wall_a, audio_a, model_s, patches = bare_loop(manifest, backend, args.batch_clips)
        # musicnn = two models per patch; report per patch for both together and per model
        print(f"(a) bare loop        {audio_a / wall_a:8.1f} audio s / wall s   ({wall_a:.1f} s wall)")
        print(f"    model only       {1000 * model_s / patches:8.1f} ms per 3 s patch (both models), "
              f"{500 * model_s / patches:.1f} ms per model")
        wall_b, audio_b = pipeline_run(manifest, backend, vocabulary, work / "out1", 1, args.batch_clips)
        print(f"(b) Beam, 1 worker   {audio_b / wall_b:8.1f} audio s / wall s   ({wall_b:.1f} s wall)")
        wall_c, audio_c = pipeline_run(manifest, backend, vocabulary, work / "out2", 2, args.batch_clips)
        print(f"(c) Beam, 2 workers  {audio_c / wall_c:8.1f} audio s / wall s   ({wall_c:.1f} s wall)")
        ratio_ba = (audio_b / wall_b) / (audio_a / wall_a)
        print(f"(b)/(a) = {ratio_ba:.3f}  (Beam overhead {100 * (1 - ratio_ba):.1f} %)")
        print(f"(c)/(b) = {(audio_c / wall_c) / (audio_b / wall_b):.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
