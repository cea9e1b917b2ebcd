"""Retrieval ranks and metrics, vectorised and chunked (no argsort of the score matrix).

rank of a query = number of pool tracks whose score is >= the true track's score (the true track
included): 1 = best. Ties count against the query (pessimistic), so a collapsed model that gives
every track the same score ranks last, not first. A query whose true track is not in the pool (or
whose inputs have no features) gets rank 0 = a miss: it stays in every average, counts as not
retrieved at any K, and as rank pool_size + 1 in the median.

Pools: `window=None` ranks every query against the whole pool. `window=N` (N < pool) ranks each
query against N tracks: its own plus the N-1 that follow it in one seeded permutation of the pool
(cyclically), i.e. a fixed-size random pool per track, the same for every query of that track.
"""
from __future__ import annotations

import numpy as np
import torch

KS = (1, 5, 10)


def _chunk_rows(pool_size: int, budget_bytes: int) -> int:
    return max(1, budget_bytes // (4 * max(pool_size, 1)))


@torch.no_grad()
def rank_queries(queries: torch.Tensor, pool: torch.Tensor, gt: np.ndarray, window: int | None = None,
                 seed: int = 0, budget_bytes: int = 256 << 20) -> np.ndarray:
    """queries [Q, d], pool [M, d] (float), gt [Q] index into pool (-1 = miss) -> int64 ranks [Q]."""
    gt = np.asarray(gt, dtype=np.int64)
    ranks = np.zeros(len(gt), dtype=np.int64)
    valid = np.flatnonzero(gt >= 0)
    if len(valid) == 0 or len(pool) == 0:
        return ranks
    m = len(pool)
    if window is not None and window < m:
        perm = np.random.default_rng(seed).permutation(m)
        inverse = np.empty(m, dtype=np.int64)
        inverse[perm] = np.arange(m)
        pool = pool[torch.from_numpy(perm)]
        gt = np.where(gt >= 0, inverse[np.maximum(gt, 0)], -1)
    else:
        window = None
    step = _chunk_rows(m, budget_bytes)
    for a in range(0, len(valid), step):
        rows = valid[a:a + step]
        q = queries[torch.from_numpy(rows)]
        scores = q @ pool.t()  # [c, M]
        g = torch.from_numpy(gt[rows])
        true = scores.gather(1, g[:, None])
        ge = scores >= true
        if window is None:
            ranks[rows] = ge.sum(1).numpy()
            continue
        # count of ge over the cyclic window [g, g + window) via a cumulative sum with a leading 0
        cs = torch.nn.functional.pad(ge.to(torch.int32).cumsum(1), (1, 0))
        end = g + window
        wrapped = end > m
        direct = cs.gather(1, torch.minimum(end, torch.tensor(m))[:, None])[:, 0] - cs.gather(1, g[:, None])[:, 0]
        extra = torch.where(wrapped, cs.gather(1, (end - m).clamp(min=0)[:, None])[:, 0], torch.zeros_like(direct))
        ranks[rows] = (direct + extra).numpy()
    return ranks


def retrieval_metrics(ranks: np.ndarray, pool_size: int) -> dict:
    """Recall@1/5/10 (percent) and median rank over ALL queries (misses = rank 0 in `ranks`)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    n = len(ranks)
    hit_ranks = np.where(ranks > 0, ranks, pool_size + 1)
    out = {f"R@{k}": (float(100.0 * np.mean((ranks > 0) & (ranks <= k))) if n else 0.0) for k in KS}
    out["median_rank"] = float(np.median(hit_ranks)) if n else float("nan")
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
