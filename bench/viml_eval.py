"""Retrieval evaluation speed and memory: 3,000 queries against a 100,000-track pool.

  (a) ranking only: chunked matmul + counting scores >= the true score (metrics.rank_queries), from
      L2-normalised random embeddings (d=256), whole pool and fixed-size pools of 2,000 (Table 1's
      protocol); wall time, and peak resident memory above the embeddings themselves
  (b) embedding throughput of the default (paper-sized) model: music tracks/s and queries/s with
      realistic feature sizes, i.e. what a full `evaluate` of a 100k pool adds before ranking
  (c) loading music features [16 x 200] of N tracks from Parquet (FeatureStore): seconds, MB held,
      peak RSS of a fresh process

    .venv/bin/python bench/viml_eval.py [--queries 3000] [--pool 100000] [--dim 256] [--threads 2]
                                        [--embed 2048] [--load-tracks 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from viml_model.config import load_config
from viml_model.metrics import rank_queries, retrieval_metrics
from viml_model.model import ViML


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
        return True
    except OSError:
        return False


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ranking(n_queries: int, n_pool: int, dim: int, window: int | None, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    pool = torch.nn.functional.normalize(torch.randn(n_pool, dim, generator=g), dim=-1)
    gt = np.random.default_rng(0).integers(0, n_pool, n_queries)
    gt[:30] = -1  # 1% misses: counted, never dropped
    # queries near their true track so ranks are spread out, not all at chance
    queries = torch.nn.functional.normalize(pool[torch.from_numpy(np.maximum(gt, 0))] * 0.3
                                            + torch.randn(n_queries, dim, generator=g) * 0.7 / dim ** 0.5, dim=-1)
    base = rss_mb()
    had_reset = reset_peak()
    tracemalloc.start()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        ranks = rank_queries(queries, pool, gt, window=window, seed=0)
        metrics = retrieval_metrics(ranks, window or n_pool)
        times.append(time.perf_counter() - t)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds_min": min(times), "seconds_median": float(np.median(times)),
            "peak_rss_above_inputs_mb": peak_mb() - base if had_reset else float("nan"),
            "peak_rss_mb": peak_mb(), "tracemalloc_peak_mb": py_peak / 2 ** 20,
            "inputs_mb": (pool.numel() + queries.numel()) * 4 / 2 ** 20, "R@10": metrics["R@10"],
            "n_missing": metrics["n_missing"]}


@torch.inference_mode()
def bench_embedding(n: int, batch: int) -> tuple[float, float]:
    cfg = load_config("viml").model
    dims = {"video": 512, "music": 200, "text": 384}
    model = ViML(cfg, dims).eval()
    music, video, text = torch.randn(batch, 16, 200), torch.randn(batch, 32, 512), torch.randn(batch, 384)
    model.encode_music(music), model.encode_query(video, None, text)  # warm-up
    t = time.perf_counter()
    for _ in range(max(1, n // batch)):
        model.encode_music(music)
    music_rate = max(1, n // batch) * batch / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(max(1, n // batch)):
        model.encode_query(video, None, text)
    query_rate = max(1, n // batch) * batch / (time.perf_counter() - t)
    return music_rate, query_rate


def bench_loading(n: int, steps: int = 16, dim: int = 200) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        inner = pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(n * steps * dim, dtype=np.float32)),
                                                  dim).cast(pa.list_(pa.float32()))
        outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * steps + 1, steps, dtype=np.int32)), inner)
        pq.write_table(pa.table({"music_id": [f"m{i}" for i in range(n)], "features": outer}),
                       Path(tmp) / "music-00000.parquet", row_group_size=8192)
        (Path(tmp) / "encoders.json").write_text(json.dumps({"music": {"name": "random", "dim": dim}}))
        del inner, outer
        code = ("import time, sys\n"
                "from viml_model.data import FeatureStore\n"
                "def hwm():\n"
                "    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) / 1024\n"
                "base = hwm()\n"
                "t = time.perf_counter()\n"
                "s = FeatureStore.load(sys.argv[1], modalities=('music',), dtype=sys.argv[2])\n"
                "print(f'{time.perf_counter() - t:.1f} s, {s.music.nbytes / 2**20:.0f} MB held, peak RSS '\n"
                "      f'+{hwm() - base:.0f} MB above the {base:.0f} MB of a fresh process with torch imported')\n")
        lines = []
        for dtype in ("float32", "float16"):
            out = subprocess.run([sys.executable, "-c", "import torch\n" + code, tmp, dtype], capture_output=True,
                                 text=True, check=True).stdout.strip()
            lines.append(f"{dtype}: {out}")
        return "; ".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--embed", type=int, default=2048, help="items per embedding measurement (0 = skip)")
    ap.add_argument("--load-tracks", type=int, default=20000, help="tracks for the loading measurement (0 = skip)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"viml eval bench: {args.queries:,} queries x {args.pool:,} tracks, d={args.dim}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} "
          "(other processes inflate the times)")
    for window in (None, 2000):
        r = bench_ranking(args.queries, args.pool, args.dim, window, args.repeats)
        label = "whole pool" if window is None else f"pools of {window:,} per track"
        print(f"  ranking, {label:<24} {r['seconds_min']:6.2f} s (median {r['seconds_median']:.2f} s); "
              f"peak RSS +{r['peak_rss_above_inputs_mb']:.0f} MB above the {r['inputs_mb']:.0f} MB of embeddings "
              f"(process peak {r['peak_rss_mb']:.0f} MB, Python-heap peak {r['tracemalloc_peak_mb']:.1f} MB); "
              f"R@10 {r['R@10']:.1f}%, {r['n_missing']} misses kept")
    if args.embed:
        music_rate, query_rate = bench_embedding(args.embed, 256)
        print(f"  embedding (paper-sized model, d=256, 2 layers): music [16 x 200] {music_rate:,.0f} tracks/s "
              f"-> a 100k pool in {args.pool / music_rate:.0f} s; queries (video [32 x 512] + text) "
              f"{query_rate:,.0f}/s -> 3k queries in {args.queries / query_rate:.1f} s")
    if args.load_tracks:
        print(f"  loading {args.load_tracks:,} tracks of music features [16 x 200]: {bench_loading(args.load_tracks)}")


if __name__ == "__main__":
    main()
