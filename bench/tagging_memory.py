"""Peak memory of `tag` (musicnn, local runner, 1 worker) on one long file vs. one 10 s clip.

Each run is a fresh process (peak RSS cannot be reset inside one), same code path: a one-row
manifest through pipelines.tag.pipeline.run. The long file is the demo clips tiled to --minutes and
written as Ogg Vorbis block by block (never held whole in memory). Prints both peaks and the ratio.

    .venv/bin/python bench/tagging_memory.py [--minutes 60] [--format ogg|flac|wav]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "demo" / "audio"


def write_long(path: Path, minutes: float, fmt: str) -> None:
    import numpy as np
    import soundfile as sf

    from pipelines.tag.audio import decode_audio

    sr = 44100
    pieces = [np.stack([c, c[::-1]], axis=1) for c in
              (decode_audio(str(p), sr).samples for p in sorted(DEMO.glob("*.ogg")))]  # stereo, channels differ
    total, i = int(minutes * 60 * sr), 0
    subtype = {"ogg": "VORBIS", "flac": "PCM_16", "wav": "PCM_16"}[fmt]
    with sf.SoundFile(str(path), "w", sr, 2, format=fmt.upper(), subtype=subtype) as f:
        written = 0
        while written < total:
            block = pieces[i % len(pieces)][: total - written]
            f.write(block)
            written, i = written + len(block), i + 1


def child(audio: str, out: str) -> None:
    """Runs in a fresh process: tag one file, print peak RSS and the summary's facts as JSON."""
    from pipelines.io.manifest import read_manifest
    from pipelines.tag.backends import from_spec
    from pipelines.tag.pipeline import TagJob, run
    from pipelines.tag.vocabulary import Vocabulary

    manifest_path = Path(out) / "manifest.csv"
    Path(out).mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(f"music_id,audio_path\nx,{audio}\n")
    started = time.perf_counter()
    # one torch thread: the peak does not depend on it, and on a shared machine 2 threads run 3-4x slower
    summary = run(TagJob(read_manifest(str(manifest_path)), from_spec("musicnn"), str(Path(out) / "tags"),
                         Vocabulary.load(), threads=1))
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "wall_s": time.perf_counter() - started, "tagged": summary["counts"]["tagged"],
                      "audio_s": summary["timing"]["audio_s"], "inference": summary["inference"]}))


def measure(audio: Path, work: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(audio), str(work)], check=True,
                         capture_output=True, text=True, cwd=PROJECT,
                         env={**os.environ, "PYTHONPATH": str(PROJECT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--format", default="ogg", choices=["ogg", "flac", "wav"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-tagmem-"))
    try:
        long_file = work / f"long.{args.format}"
        t = time.perf_counter()
        write_long(long_file, args.minutes, args.format)
        print(f"wrote {args.minutes:g} min {args.format} ({long_file.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.0f} s")
        short = measure(DEMO / "singularity_nebula.ogg", work / "short")
        long = measure(long_file, work / "long")
        for name, r in (("10 s clip", short), (f"{args.minutes:g} min file", long)):
            print(f"{name:>14}: peak RSS {r['peak_rss_mb']:7.1f} MB   tagged {r['tagged']}   "
                  f"audio {r['audio_s']:8.1f} s   wall {r['wall_s']:6.1f} s   "
                  f"model inputs {r['inference']['elements']} (blocks of <= 48 patches)")
        print(f"ratio long/short peak RSS = {long['peak_rss_mb'] / short['peak_rss_mb']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
