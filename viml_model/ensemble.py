"""Score ensembles of two models (supplement D): score = (1 - a) * s1 + a * s2, a tuned on validation.

With cosine scores s = q . p, the ensemble score equals one dot product of concatenated embeddings,
[(1-a) q1, a q2] . [p1, p2], so the same chunked ranking (metrics.rank_queries) serves ensembles.
`a` is chosen from a grid by the validation metric (default video_text R@10; ties -> the smaller a).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from viml_model import checkpoint as ckpt
from viml_model.data import read_triplets
from viml_model.evaluate import Embedded, build_task, embed_task, load_store_for, pool_extension, score
from viml_model.metrics import rank_queries, retrieval_metrics
from viml_model.runtime import pick_device

DEFAULT_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 21))


def combine(q1: torch.Tensor, p1: torch.Tensor, q2: torch.Tensor, p2: torch.Tensor, alpha: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and pool embeddings whose dot products are (1-a) q1.p1 + a q2.p2."""
    return torch.cat([(1 - alpha) * q1, alpha * q2], 1), torch.cat([p1, p2], 1)


def tune_alpha(q1, p1, q2, p2, gt: np.ndarray, grid=DEFAULT_GRID, metric: str = "R@10",
               window: int | None = None, seed: int = 0) -> tuple[float, list[dict]]:
    """Best `a` on the grid for one query set (gt = pool index, -1 = miss); returns (a, table)."""
    table = []
    for a in grid:
        q, p = combine(q1, p1, q2, p2, float(a))
        ranks = rank_queries(q, p, gt, window=window, seed=seed)
        table.append({"alpha": float(a), metric: retrieval_metrics(ranks, window or len(p))[metric]})
    lower_better = metric == "median_rank"
    best = min(table, key=lambda r: (r[metric] if lower_better else -r[metric], r["alpha"]))
    return best["alpha"], table


def combine_embedded(e1: Embedded, e2: Embedded, alpha: float) -> Embedded:
    out = Embedded(pool=None, queries={}, valid={}, missing={})
    for name in e1.queries:
        out.queries[name], out.pool = combine(e1.queries[name], e1.pool, e2.queries[name], e2.pool, alpha)
        out.valid[name] = e1.valid[name] & e2.valid[name]
        out.missing[name] = {k: max(e1.missing[name].get(k, 0), e2.missing[name].get(k, 0))
                             for k in set(e1.missing[name]) | set(e2.missing[name])}
    return out


def _embed_both(models, states, features_dir, triplets, extra, batch_size, dev):
    tasks, embs = [], []
    for (model, cfg), state in zip(models, states, strict=True):
        store = load_store_for(model, state, features_dir, triplets, extra, cfg.data.feature_dtype)
        task = build_task(triplets, store, extra)
        segment = cfg.data.segment_len if cfg.data.level == "segment" else None
        embs.append(embed_task(model, store, task, batch_size or cfg.train.eval_batch_size, dev, segment))
        tasks.append(task)
    if tasks[0].pool_ids != tasks[1].pool_ids:
        raise ValueError("the two models see different pools (features differ)")
    return tasks[0], embs


def run_ensemble(checkpoints, val_triplets, triplets, features_dir, *, pool_size=None, grid=DEFAULT_GRID,
                 metric: str = "video_text.R@10", val_split=None, seed: int = 0, methods=None, out=None,
                 device=None, batch_size=None, write: bool = True) -> dict:
    """Tune `a` on `val_triplets` (restricted to the validation videos of `val_split`, a split.json or a
    training out_dir, when given), then evaluate (1-a) s1 + a s2 on `triplets`."""
    if len(checkpoints) != 2:
        raise ValueError(f"an ensemble takes two checkpoints, got {len(checkpoints)}")
    section, _, key = metric.partition(".")
    if section not in ("video_only", "video_text") or key not in ("R@1", "R@5", "R@10", "median_rank"):
        raise ValueError(f"bad metric {metric!r}: e.g. video_text.R@10")
    dev = pick_device(device)
    states = [ckpt.load(c) for c in checkpoints]
    models = [ckpt.model_from(s, dev) for s in states]
    features_dir = Path(features_dir)

    val = read_triplets(str(val_triplets), methods)
    if val_split:
        split_path = Path(val_split)
        split_path = split_path / "split.json" if split_path.is_dir() else split_path
        videos = set(json.loads(split_path.read_text())["validation_videos"])
        keep = np.flatnonzero([v in videos for v in val.video_id])
        if not len(keep):
            raise ValueError(f"none of {val_triplets} is among the validation videos of {split_path}")
        val = val.take(keep)
    task, (e1, e2) = _embed_both(models, states, features_dir, val, [], batch_size, dev)
    qs = task.queries[section]
    gt = np.where(e1.valid[section] & e2.valid[section], qs.gt, -1)
    alpha, table = tune_alpha(e1.queries[section], e1.pool, e2.queries[section], e2.pool, gt, grid, key)

    test = read_triplets(str(triplets), methods)
    extra = pool_extension(features_dir, test, pool_size, seed)
    task, (t1, t2) = _embed_both(models, states, features_dir, test, extra, batch_size, dev)
    result = score(combine_embedded(t1, t2, alpha), task, pool_size, seed)
    result["single"] = {f"model{i + 1}": {k: v["R@10"] for k, v in score(e, task, pool_size, seed).items()}
                        for i, e in enumerate((t1, t2))}
    result.update({"alpha": alpha, "tuning": {"metric": metric, "n_queries": int(len(gt)), "grid": table},
                   "checkpoints": [s["path"] for s in states],
                   "model_kinds": [cfg.model.kind for _, cfg in models], "triplets": test.files,
                   "features": str(features_dir), "seed": seed})
    if write:
        target = Path(out) if out else Path(states[0]["path"]).parent / "ensemble.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        result["written_to"] = str(target)
    return result
