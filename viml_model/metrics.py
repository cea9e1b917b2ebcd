"""Retrieval ranks and metrics, vectorised and chunked (no argsort of the score matrix).

rank of a query = number of pool tracks whose score is >= the true track's score (the true track
included): 1 = best. Ties count against the query (pessimistic), so a collapsed model that gives
every track the same score ranks last, not first. A query whose true track is not in the pool (or
whose inputs have no features) gets rank 0 = a miss: it stays in every average, counts as not
retrieved at any K, and as rank pool_size + 1 in the median.

Pools: `window=None` ranks every query against the whole pool. `window=N` (N < pool) ranks each
query against N tracks: its own plus the N-1 that follow it in one seeded permutation of the pool
(cyclically), i.e. a fixed-size random pool per track, the same for every query of that track.
Scores are computed in float32 with numpy's BLAS (faster here than torch's for this shape).
"""
from __future__ import annotations

import numpy as np
import torch

KS = (1, 5, 10)


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def rank_queries(queries, pool, gt: np.ndarray, window: int | None = None, seed: int = 0,
                 budget_bytes: int = 128 << 20) -> np.ndarray:
    """queries [Q, d], pool [M, d] (torch or numpy) and gt [Q] = index into pool (-1 = miss)
    -> int64 ranks [Q] (0 = miss). Query chunks of ~budget_bytes of scores: one BLAS matmul each,
    then a count of the scores >= the true one (read from the same matmul, so the true track counts
    itself exactly once). With `window`, the pool is permuted once and each row counts only the
    columns of its cyclic window, starting at its true track."""
    gt = np.asarray(gt, dtype=np.int64)
    ranks = np.zeros(len(gt), dtype=np.int64)
    valid = np.flatnonzero(gt >= 0)
    pool = _as_numpy(pool)
    m = len(pool)
    if len(valid) == 0 or m == 0:
        return ranks
    queries = _as_numpy(queries)
    if window is not None and window < m:
        perm = np.random.default_rng(seed).permutation(m)
        position = np.empty(m, dtype=np.int64)
        position[perm] = np.arange(m)
        pool, gt = pool[perm], np.where(gt >= 0, position[np.maximum(gt, 0)], -1)
    else:
        window = None
    pool_t = np.ascontiguousarray(pool.T)
    step = max(1, budget_bytes // (4 * m))
    buf = np.empty((min(step, len(valid)), m), dtype=np.float32)
    ge = np.empty(buf.shape, dtype=bool)
    for a in range(0, len(valid), step):
        rows = valid[a:a + step]
        n = len(rows)
        scores = np.matmul(queries[rows], pool_t, out=buf[:n])
        true = scores[np.arange(n), gt[rows]]
        np.greater_equal(scores, true[:, None], out=ge[:n])
        if window is None:
            ranks[rows] = np.count_nonzero(ge[:n], axis=1)
            continue
        for j, (row, p) in enumerate(zip(rows, gt[rows], strict=True)):
            count = np.count_nonzero(ge[j, p:p + window])
            if p + window > m:
                count += np.count_nonzero(ge[j, :p + window - m])
            ranks[row] = count
    return ranks


def retrieval_metrics(ranks: np.ndarray, pool_size: int) -> dict:
    """Recall@1/5/10 (percent), median and mean rank over ALL queries (misses = rank 0 in `ranks`)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    n = len(ranks)
    hit_ranks = np.where(ranks > 0, ranks, pool_size + 1)
    out = {f"R@{k}": (float(100.0 * np.mean((ranks > 0) & (ranks <= k))) if n else 0.0) for k in KS}
    out["median_rank"] = float(np.median(hit_ranks)) if n else float("nan")
    # the mean rank keeps moving after R@10 saturates (a small validation pool), so it can drive model selection
    out["mean_rank"] = float(np.mean(hit_ranks)) if n else float("nan")
    out["n_queries"] = int(n)
    out["n_missing"] = int(np.sum(ranks <= 0))
    out["pool_size"] = int(pool_size)
    out.update(chance(pool_size))
    return out


def chance(pool_size: int) -> dict:
    n = max(int(pool_size), 1)
    out = {f"chance_R@{k}": 100.0 * min(k, n) / n for k in KS}
    out["chance_median_rank"] = (n + 1) / 2
    return out
