"""Synthesize-stage figures (prints them; not a test).

  1. rows/s of `tags` and `data2text` (built-in rewriter) through the Beam pipeline on N tracks
  2. prompt2text through the pipeline against the loopback LLM server at 200 ms per request:
     achieved requests/s at concurrency 8/32/128 as a fraction of concurrency / latency
  3. a cached rerun of the same prompt2text rows: LLM requests made (must be 0) and rows/s
  4. peak memory (VmHWM) of `tags`+`data2text` runs at several sizes, each in a fresh process, and
     RSS sampled every second through each run: bounded means the larger run's peak is not
     proportionally larger and RSS stops rising once the run is under way; printed as bytes retained
     per track (peak growth between the sizes, and RSS's rise through each run's second half)

The LLM server runs in a separate process (pipelines.testing.llm_server.ServerProcess), as a real
one would; steady state is measured from the server's first to last request arrival.

    .venv/bin/python bench/synthesize.py [--rows 100000] [--llm-rows 10000] [--concurrency 8,32,128]
        [--memory-rows 50000,200000] [--only methods|llm|memory]
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write_tags(path: Path, n: int, seed: int = 0) -> None:
    """n tracks tagged like the tag stage writes them: every vocabulary tag with a confidence."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.io.schemas import TAG_STRUCT
    from pipelines.tag.vocabulary import Vocabulary

    vocab = Vocabulary.load()
    rng = random.Random(seed)
    writer = pq.ParquetWriter(path, pa.schema([("music_id", pa.string()), ("video_id", pa.string()),
                                               ("tags", pa.list_(TAG_STRUCT))]))
    for start in range(0, n, 10_000):
        ids = range(start, min(n, start + 10_000))
        tags = [[{"tag": t.name, "category": t.category, "confidence": rng.random() ** 4} for t in vocab.tags]
                for _ in ids]
        writer.write_table(pa.table({"music_id": [f"m{i:07d}" for i in ids], "video_id": [f"v{i:07d}" for i in ids],
                                     "tags": pa.array(tags, pa.list_(TAG_STRUCT))}))
    writer.close()


def synthesize(argv: list[str]) -> dict:
    from pipelines.cli import main

    out = argv[argv.index("--out") + 1]
    started = time.perf_counter()
    status = main(["synthesize", "--log-level", "WARNING", *argv])
    wall = time.perf_counter() - started
    assert status == 0, status
    summary = json.loads(Path(out, "summary.json").read_text())
    summary["bench_wall_s"] = wall
    return summary


def bench_methods(work: Path, rows: int) -> None:
    tags = work / f"tags-{rows}.parquet"
    write_tags(tags, rows)
    for method in ("tags", "data2text"):
        s = synthesize(["--input", str(tags), "--out", str(work / f"out-{method}"), "--methods", method])
        n = s["counts"]["texts"]
        print(f"{method:10s} {n:8d} rows  {n / s['bench_wall_s']:9.0f} rows/s wall "
              f"({s['per_method'][method]['rows_per_busy_s']} rows/s inside the step)")


def bench_llm(work: Path, rows: int, concurrencies: list[int]) -> None:
    from pipelines.testing.llm_server import ServerProcess

    tags = work / f"llm-tags-{rows}.parquet"
    write_tags(tags, rows, seed=1)
    latency = 0.2
    # the server runs in its own process, as a real LLM server would: in this one it would take its
    # share of the pipeline's GIL
    with ServerProcess(1000 * latency) as server:
        for concurrency in concurrencies:
            n = min(rows, concurrency * 30)
            small = work / f"llm-{n}.parquet"
            write_tags(small, n, seed=concurrency)
            server.reset()
            s = synthesize(["--input", str(small), "--out", str(work / f"llm-out-{concurrency}"), "--methods",
                            "prompt2text", "--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback",
                            "--max-concurrency", str(concurrency), "--no-cache"])
            stats = server.stats()
            achieved, ideal, fraction = steady_state(stats, concurrency, latency)
            print(f"prompt2text concurrency {concurrency:3d}: {stats['posts']} requests, {achieved:6.1f} req/s while "
                  f"generating = {fraction:.2f} of {ideal:.0f}; whole run incl. Beam start-up "
                  f"{s['bench_wall_s']:.1f} s = {stats['posts'] / s['bench_wall_s'] / ideal:.2f}")
        cache = work / "llm-cache"
        server.reset()
        args = ["--input", str(tags), "--methods", "prompt2text", "--llm-base-url", f"{server.url}/v1",
                "--llm-model", "loopback", "--max-concurrency", "128", "--cache-dir", str(cache)]
        first = synthesize([*args, "--out", str(work / "llm-first")])
        stats = server.stats()
        server.reset()
        again = synthesize([*args, "--out", str(work / "llm-again")])
        print(f"prompt2text {rows} rows, concurrency 128, writing the cache: {stats['posts']} requests in "
              f"{first['bench_wall_s']:.1f} s ({steady_state(stats, 128, latency)[2]:.2f} of ideal while generating); "
              f"cached rerun {server.stats()['posts']} requests, {rows / again['bench_wall_s']:.0f} rows/s")


def steady_state(stats: dict, concurrency: int, latency: float) -> tuple[float, float, float]:
    """(achieved, ideal, fraction) requests/s from the first request's arrival to the last one's answer,
    so Beam's start-up does not count."""
    busy = stats["last_received"] - stats["first_received"] + latency
    achieved, ideal = stats["posts"] / busy, concurrency / latency
    return achieved, ideal, achieved / ideal


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_rss_mb() -> float:
    """This process's high-water mark (VmHWM). Not ru_maxrss: Linux carries that across exec, so a
    child would report its parent's size when that was larger."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def peak_rss_child(tags: str, out: str) -> None:
    """Runs tags+data2text and samples RSS every second: a bounded run's RSS levels off over time,
    a leaking one keeps climbing until the end."""
    import threading

    trace, done = [], threading.Event()
    started = time.perf_counter()

    def sample():
        while not done.wait(1.0):
            trace.append((round(time.perf_counter() - started, 1), round(current_rss_mb(), 1)))

    threading.Thread(target=sample, daemon=True).start()
    synthesize(["--input", tags, "--out", out, "--methods", "tags,data2text"])
    done.set()
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "trace": trace}))


def bench_memory(work: Path, sizes: list[int]) -> None:
    peaks, late_rise = {}, {}
    for n in sizes:
        tags = work / f"mem-{n}.parquet"
        write_tags(tags, n, seed=2)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, __file__, "--peak-rss-child", str(tags), str(work / f"mem-out-{n}")],
                                capture_output=True, text=True, check=True)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"tags+data2text {n:8d} tracks ({2 * n} texts): peak RSS {report['peak_rss_mb']:7.0f} MB, "
              f"{time.perf_counter() - started:.0f} s")
        peaks[n] = report["peak_rss_mb"]
        trace = report["trace"]
        if trace:  # RSS at each tenth of the run's duration: flat in the second half = bounded
            marks = [trace[min(len(trace) - 1, int(len(trace) * q / 10))] for q in range(1, 11)]
            print("  RSS over the run (s: MB): " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in marks))
            # the run's rate is steady once started: about n/2 tracks go by between its 45% and 95% marks
            late_rise[n] = (trace[int(len(trace) * 0.95)][1] - trace[int(len(trace) * 0.45)][1]) * 2 ** 20 / (n / 2)
    print_slope(peaks, late_rise)


def print_slope(peaks: dict[int, float], late_rise: dict[int, float]) -> None:
    """Bytes retained per track: the peak's growth between the smallest and largest run, and RSS's rise
    through the second half of each run per track processed there (~0 when memory is flat)."""
    if len(peaks) >= 2:
        small, large = min(peaks), max(peaks)
        per_track = (peaks[large] - peaks[small]) * 2 ** 20 / (large - small)
        print(f"retained per track: {per_track:.0f} bytes (peak RSS {peaks[small]:.0f} -> {peaks[large]:.0f} MB "
              f"from {small} to {large} tracks)")
    for n, rise in late_rise.items():
        print(f"  {n} tracks: RSS rise through the run's second half {rise:.0f} bytes per track")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--llm-rows", type=int, default=10_000)
    parser.add_argument("--concurrency", default="8,32,128", help="prompt2text concurrency levels")
    parser.add_argument("--memory-rows", default="50000,200000")
    parser.add_argument("--only", choices=["methods", "llm", "memory"])
    parser.add_argument("--peak-rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_rss_child:
        peak_rss_child(*args.peak_rss_child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        work = Path(tmp)
        if args.only in (None, "methods"):
            bench_methods(work, args.rows)
        if args.only in (None, "llm"):
            bench_llm(work, args.llm_rows, [int(x) for x in args.concurrency.split(",")])
        if args.only in (None, "memory"):
            bench_memory(work, [int(x) for x in args.memory_rows.split(",")])


if __name__ == "__main__":
    main()
