"""Launcher memory and submitted-pipeline size against the number of input rows (issue 9 §1).

For each size N it writes
  tag:        a manifest of the 4 demo clips plus N rows naming audio files that do not exist
  synthesize: a JSONL input of N rows of MusicCaps-style tag lists
runs `viml-synth tag` (musicnn) / `viml-synth synthesize --methods tags` on the local runner (1 worker:
the launcher runs the pipeline itself, so its peak is the whole run's) in a child process, and prints
the child's peak RSS (from wait4), the wall time, whether every row is accounted for (outputs + errors
== rows) and the size of the serialized pipeline (Beam's runner API proto, what a runner is sent).

    .venv/bin/python bench/launcher_memory.py [--sizes 10000,100000,1000000] [--stages tag,synthesize]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "demo"
TAGS = ["rock", "jazz", "pop", "electronic", "ambient", "piano", "guitar", "drums", "violin", "synthesizer",
        "calm", "energetic", "sad", "happy", "slow tempo", "fast tempo", "male vocal", "female vocal",
        "low quality", "reverb", "bass", "strings", "mellow", "aggressive", "acoustic", "live"]


def write_manifest(folder: Path, n: int) -> Path:
    audio = sorted((DEMO / "audio").glob("*.ogg"))
    path = folder / f"manifest-{n}.csv"
    with open(path, "w") as fh:
        fh.write("music_id,audio_path\n")
        for i, clip in enumerate(audio):
            fh.write(f"real{i},{clip}\n")
        for i in range(n):
            fh.write(f"missing{i:07d},{folder}/no-such-dir/clip{i:07d}.wav\n")
    return path


def write_jsonl(folder: Path, n: int) -> Path:
    rng = random.Random(0)
    path = folder / f"tags-{n}.jsonl"
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"music_id": f"track{i:07d}", "tags": rng.sample(TAGS, rng.randint(4, 12))}) + "\n")
    return path


def run_child(argv: list[str]) -> tuple[int, float, int]:
    """(exit status, wall s, peak RSS in MB of the child and its waited-for descendants)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *argv, "--log-level", "WARNING"],
                            cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        print(stderr[-2000:], file=sys.stderr)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss // 1024  # KB on Linux


def pipeline_bytes(stage: str, input_path: Path, out: Path) -> int:
    """Size of the pipeline proto as built for this input (the rows are not in it: they are read later)."""
    import apache_beam as beam

    from pipelines.options import build_runner

    runner, options = build_runner("local", 1, [])
    p = beam.Pipeline(runner=runner, options=options)
    if stage == "tag":
        from pipelines.io.manifest import read_manifest
        from pipelines.tag.backends import from_spec
        from pipelines.tag.pipeline import TagJob, build
        from pipelines.tag.vocabulary import Vocabulary

        build(p, TagJob(read_manifest(str(input_path)), from_spec("musicnn"), str(out), Vocabulary.load()), str(out))
    else:
        from pipelines.synthesize.methods import make_method
        from pipelines.synthesize.pipeline import SynthesizeJob, build

        build(p, SynthesizeJob(str(input_path), str(out), [make_method("tags")]), str(out))
    return len(p.to_runner_api().SerializeToString())


def accounted(out: Path, stage: str) -> tuple[int, int, int]:
    summary = json.loads(((out / "failed-run" / "summary.json") if (out / "failed-run").exists()
                          else out / "summary.json").read_text())
    c = summary["counts"]
    if stage == "tag":
        return c["inputs"], c["tagged"], c["failed"]
    return c["input_rows"], c["texts"], c["failed"] + c["bad_input_rows"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--stages", default="tag,synthesize")
    parser.add_argument("--work", help="folder for inputs and outputs (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="launcher-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'stage':<11} {'rows':>9} {'peak RSS MB':>12} {'wall s':>8} {'pipeline KB':>12}  "
          "accounted (inputs = outputs + errors)")
    for stage in args.stages.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            out = work / f"{stage}-{n}-out"
            if stage == "tag":
                path = write_manifest(work, n)
                argv = ["tag", "--manifest", str(path), "--out", str(out)]
            else:
                path = write_jsonl(work, n)
                argv = ["synthesize", "--methods", "tags", "--input", str(path), "--out", str(out)]
            size = pipeline_bytes(stage, path, work / "proto-out")
            status, wall, peak = run_child(argv)
            inputs, ok, errors = accounted(out, stage)
            rows = n + (len(list((DEMO / "audio").glob("*.ogg"))) if stage == "tag" else 0)
            check = "yes" if inputs == rows == ok + errors else "NO"
            print(f"{stage:<11} {rows:>9} {peak:>12} {wall:>8.1f} {size / 1024:>12.1f}  {check}: {inputs} = "
                  f"{ok} + {errors} (exit {status})", flush=True)


if __name__ == "__main__":
    main()
