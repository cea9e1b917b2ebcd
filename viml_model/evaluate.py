"""Retrieval evaluation of a checkpoint: Recall@1/5/10 and median rank, video-only and video+text.

Queries: `video_text` = every triplet row (its video and its text); `video_only` = every distinct
(video, music) pair of the triplets with the NULL text (the "" embedding), as the paper evaluates
ViML "without input texts". Pool: the distinct music_ids of the triplets that have features.
`pool_size` larger than that extends the pool with other tracks of the features directory (seeded);
smaller ranks every query against a fixed-size seeded pool holding its true track (metrics.py).
A query whose true track or whose input features are missing stays in the averages as a miss;
`n_missing` and `missing` say how many and why.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from viml_model import checkpoint as ckpt
from viml_model.data import FeatureStore, Triplets, list_ids, read_triplets
from viml_model.embed import embed_music, embed_queries
from viml_model.metrics import rank_queries, retrieval_metrics
from viml_model.model import ViML, modalities_for
from viml_model.runtime import pick_device

log = logging.getLogger(__name__)
QUERY_TYPES = ("video_only", "video_text")


@dataclass
class QuerySet:
    video_row: np.ndarray
    text_row: np.ndarray
    music_row: np.ndarray
    gt: np.ndarray  # index into the pool, -1 = the true track is not in the pool

    def __len__(self) -> int:
        return len(self.gt)

    def valid(self, uses_video: bool, uses_text: bool) -> np.ndarray:
        ok = self.gt >= 0
        if uses_video:
            ok &= self.video_row >= 0
        if uses_text:
            ok &= self.text_row >= 0
        return ok

    def missing(self, uses_video: bool, uses_text: bool) -> dict:
        out = {"music": int(np.sum(self.gt < 0))}
        if uses_video:
            out["video"] = int(np.sum(self.video_row < 0))
        if uses_text:
            out["text"] = int(np.sum(self.text_row < 0))
        return out


@dataclass
class RetrievalTask:
    pool_ids: list[str]
    pool_rows: np.ndarray
    queries: dict[str, QuerySet]
    n_extra: int = 0
    info: dict = field(default_factory=dict)


def _rows(table, ids) -> np.ndarray:
    if table is None:
        return np.full(len(ids), -1, dtype=np.int64)
    return np.fromiter((table.index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


def build_task(triplets: Triplets, store: FeatureStore, extra_ids: list[str] = ()) -> RetrievalTask:
    """Queries and pool for `triplets`; `extra_ids` are distractor tracks added to the pool."""
    music = store.music
    pool_ids = sorted({m for m in triplets.music_id if m in music.index})
    in_pool = set(pool_ids)
    extra = [m for m in extra_ids if m not in in_pool and m in music.index]
    pool_ids += extra
    pool_index = {m: i for i, m in enumerate(pool_ids)}
    null_row = store.text.index.get("", -1) if store.text is not None else -1

    def queries(video_ids, music_ids, text_rows) -> QuerySet:
        return QuerySet(video_row=_rows(store.video, video_ids), text_row=np.asarray(text_rows, dtype=np.int64),
                        music_row=_rows(music, music_ids),
                        gt=np.fromiter((pool_index.get(m, -1) for m in music_ids), dtype=np.int64,
                                       count=len(music_ids)))

    vt = queries(triplets.video_id, triplets.music_id, _rows(store.text, triplets.text))
    pairs = sorted({(v, m) for v, m in zip(triplets.video_id, triplets.music_id, strict=True)})
    v_ids = np.array([p[0] for p in pairs], dtype=object)
    m_ids = np.array([p[1] for p in pairs], dtype=object)
    vo = queries(v_ids, m_ids, np.full(len(pairs), null_row, dtype=np.int64))
    return RetrievalTask(pool_ids=pool_ids, pool_rows=_rows(music, pool_ids), queries={"video_only": vo,
                         "video_text": vt}, n_extra=len(extra))


@dataclass
class Embedded:
    pool: torch.Tensor  # [M, d]
    queries: dict[str, torch.Tensor]  # [Q, d] (zeros where the query is not valid)
    valid: dict[str, np.ndarray]
    missing: dict[str, dict]


def embed_task(model: ViML, store: FeatureStore, task: RetrievalTask, batch_size: int,
               device: torch.device, segment_len: int | None = None) -> Embedded:
    if model.uses_text and any(len(q) for q in task.queries.values()) and "" not in store.text.index:
        store.null_text_index()  # raises the explanatory error
    pool = embed_music(model, store, task.pool_rows, batch_size, device, segment_len)
    out = Embedded(pool=pool, queries={}, valid={}, missing={})
    for name, qs in task.queries.items():
        ok = qs.valid(model.uses_video, model.uses_text)
        q = torch.zeros(len(qs), pool.shape[1])
        idx = np.flatnonzero(ok)
        if len(idx):
            q[torch.from_numpy(idx)] = embed_queries(model, store, qs.video_row[idx], qs.text_row[idx], batch_size,
                                                     device, segment_len, qs.music_row[idx])
        out.queries[name], out.valid[name] = q, ok
        out.missing[name] = qs.missing(model.uses_video, model.uses_text)
    return out


def score(emb: Embedded, task: RetrievalTask, pool_size: int | None = None, seed: int = 0) -> dict:
    """Metrics per query type; pool_size < pool -> per-track fixed-size pools (see metrics.py)."""
    m = len(task.pool_ids)
    window = pool_size if pool_size is not None and pool_size < m else None
    result = {}
    for name, qs in task.queries.items():
        gt = np.where(emb.valid[name], qs.gt, -1)
        ranks = rank_queries(emb.queries[name], emb.pool, gt, window=window, seed=seed)
        metrics = retrieval_metrics(ranks, window or m)
        metrics["missing"] = emb.missing[name]
        result[name] = metrics
    return result


def pool_extension(features_dir: Path, triplets: Triplets, pool_size: int | None, seed: int) -> list[str]:
    """Extra tracks (not among the triplets' tracks) that bring the pool up to pool_size."""
    gt_tracks = set(triplets.music_id)
    if pool_size is None or pool_size <= len(gt_tracks):
        return []
    others = sorted(set(list_ids(features_dir, "music")) - gt_tracks)
    need = pool_size - len(gt_tracks)
    if need > len(others):
        raise ValueError(f"pool size {pool_size} needs {need} tracks besides the {len(gt_tracks)} of the "
                         f"triplets, but {features_dir} has only {len(others)} others")
    pick = np.random.default_rng(seed).choice(len(others), size=need, replace=False)
    return [others[i] for i in sorted(pick)]


def load_store_for(model: ViML, state: dict, features_dir, triplets: Triplets, extra_ids=(), dtype="float32",
                   skip_nonfinite: bool = False) -> FeatureStore:
    """Features the model needs for these triplets; the encoders must be those it was trained on."""
    modalities = modalities_for(model.kind)
    store = FeatureStore.load(features_dir, video_ids=set(triplets.video_id),
                              music_ids=set(triplets.music_id) | set(extra_ids), texts=set(triplets.text),
                              modalities=modalities, dtype=dtype, skip_nonfinite=skip_nonfinite)
    for m in modalities:
        trained, given = state["encoders"].get(m, {}), store.encoders.get(m, {})
        if trained.get("dim") != given.get("dim") or trained.get("name") != given.get("name"):
            raise ValueError(f"{features_dir}/encoders.json {m}: {given} differs from the checkpoint's "
                             f"{trained}: features must come from the encoders the model was trained on")
    return store


def evaluate(checkpoint_dir, triplets_glob, features_dir, pool_size: int | None = None, *, seed: int = 0,
             methods=None, out=None, device=None, batch_size: int | None = None, write: bool = True,
             skip_nonfinite: bool = False) -> dict:
    """Evaluate a checkpoint (directory: best.pt, else last.pt; or a .pt file) on triplets.
    Returns the JSON dict and writes it to `out` (default: evaluation.json beside the checkpoint).
    Non-finite features are an error naming the file and ids; with skip_nonfinite their queries count
    as misses (their tracks leave the pool) and `skipped_nonfinite` lists them."""
    started = time.perf_counter()
    if pool_size is not None and pool_size < 1:
        raise ValueError(f"pool size must be >= 1, got {pool_size}")
    dev = pick_device(device)
    state = ckpt.load(checkpoint_dir)
    model, cfg = ckpt.model_from(state, dev)
    triplets = read_triplets(str(triplets_glob), methods)
    features_dir = Path(features_dir)
    extra = pool_extension(features_dir, triplets, pool_size, seed)
    store = load_store_for(model, state, features_dir, triplets, extra, cfg.data.feature_dtype, skip_nonfinite)
    task = build_task(triplets, store, extra)
    segment = cfg.data.segment_len if cfg.data.level == "segment" else None
    emb = embed_task(model, store, task, batch_size or cfg.train.eval_batch_size, dev, segment)
    result = score(emb, task, pool_size, seed)
    result.update({
        "checkpoint": state["path"], "epoch": state.get("epoch"), "model_kind": cfg.model.kind,
        "triplets": triplets.files, "methods": sorted({str(m) for m in triplets.method}),
        "features": str(features_dir), "seed": seed, "skipped_nonfinite": store.skipped,
        "pool": {"tracks": len(task.pool_ids), "extra_tracks": task.n_extra,
                 "mode": "per-track windows" if pool_size is not None and pool_size < len(task.pool_ids)
                 else "shared"},
        "seconds": round(time.perf_counter() - started, 3),
    })
    if write:
        target = Path(out) if out else Path(state["path"]).parent / "evaluation.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        result["written_to"] = str(target)
    return result
