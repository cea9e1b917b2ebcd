"""Training: triplets + features -> checkpoints, metrics.json and curves.png in out_dir.

Flow: read triplets (filtered by methods) -> load the features they name (missing ids are an error
that names them) -> hold out videos for validation (seeded; split.json) -> per epoch: every training
pair once in a seeded order with one of its texts drawn at random and text dropout applied ->
InfoNCE with in-batch negatives -> validation loss and retrieval metrics -> last.pt (+ best.pt when
the early-stopping metric improves) -> stop after `patience` epochs without improvement.
A resumed run (resume=True) continues from last.pt with the same model, optimizer, scheduler,
RNG state, history and early-stopping counter, so it ends where an uninterrupted run would.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from viml_model import checkpoint as ckpt
from viml_model.config import Config, load_config
from viml_model.data import FeatureStore, read_triplets
from viml_model.dataset import PairSet, build_pairs, draw_epoch, make_batch, split_by_video
from viml_model.evaluate import build_task, embed_task, score
from viml_model.loss import InfoNCE
from viml_model.model import ViML, count_parameters
from viml_model.plot import plot_history
from viml_model.runtime import pick_device, seed_everything

log = logging.getLogger(__name__)


def _resolve_config(config, methods=None, epochs=None, seed=None) -> Config:
    cfg = config if isinstance(config, Config) else load_config(config)
    data, train = {}, {}
    if methods:
        data["methods"] = [methods] if isinstance(methods, str) else list(methods)
    if epochs is not None:
        train["epochs"] = int(epochs)
    if seed is not None:
        train["seed"] = int(seed)
    return cfg.with_overrides(data=data, train=train) if data or train else cfg


def _schedule(cfg: Config, steps_per_epoch: int):
    warmup, total = cfg.train.warmup_steps, max(1, cfg.train.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if cfg.train.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _metric(val: dict | None, name: str) -> float | None:
    if not val:
        return None
    section, _, key = name.partition(".")
    return val[section][key]


def _improved(value: float | None, best: float | None, name: str, min_delta: float) -> bool:
    if value is None:
        return False
    if best is None:
        return True
    if name.endswith("median_rank"):
        return value < best - min_delta
    return value > best + min_delta


def _batches(n: int, batch_size: int):
    for a in range(0, n, batch_size):
        yield slice(a, a + batch_size)


@torch.no_grad()
def _val_loss(model, loss_fn, store, pairs: PairSet, cfg: Config, device) -> float | None:
    if len(pairs) == 0:
        return None
    model.eval()
    first_text = pairs.text_rows[pairs.text_offsets[:-1]] if store.text is not None else None
    segment = cfg.data.segment_len if cfg.data.level == "segment" else None
    total, count = 0.0, 0
    for sl in _batches(len(pairs), cfg.train.batch_size):
        idx = np.arange(len(pairs))[sl]
        batch = make_batch(store, pairs, idx, None if first_text is None else first_text[idx],
                           cfg.model.max_video_len, cfg.model.max_music_len, segment, use_middle=True)
        batch = {k: v.to(device) for k, v in batch.items()}
        q, m = model(batch)
        total += float(loss_fn(q, m, batch["music_key"])) * len(idx)
        count += len(idx)
    return total / count


def train(config, triplets_glob, features_dir, out_dir, *, methods=None, resume: bool = False,
          epochs: int | None = None, seed: int | None = None, device=None) -> dict:
    """Train a ViML/MVPt+/MT model (config: a Config, a YAML path or a packaged name).
    Returns a summary: epochs run, best epoch and metric, whether early stopping fired, paths."""
    cfg = _resolve_config(config, methods, epochs, seed)
    out_dir = Path(out_dir)
    last_path = out_dir / ckpt.LAST
    if last_path.exists() and not resume:
        raise ValueError(f"{out_dir} already holds a checkpoint ({ckpt.LAST}): resume it or choose another out_dir")
    dev = pick_device(device)
    seed_everything(cfg.train.seed)

    triplets = read_triplets(str(triplets_glob), cfg.data.methods)
    kind = cfg.model.kind
    modalities = ["music"] + (["video"] if kind in ("viml", "mvpt") else []) + (["text"] if kind in ("viml", "mt") else [])
    store = FeatureStore.load(features_dir, video_ids=set(triplets.video_id), music_ids=set(triplets.music_id),
                              texts=set(triplets.text), modalities=modalities, dtype=cfg.data.feature_dtype)
    for m in modalities:
        ids = {"video": triplets.video_id, "music": triplets.music_id, "text": triplets.text}[m]
        store.require(m, ids)
    null_row = store.null_text_index() if "text" in modalities else None

    train_videos, val_videos = split_by_video(triplets.video_id, cfg.data.val_fraction, cfg.train.seed)
    is_val = np.fromiter((v in val_videos for v in triplets.video_id), dtype=bool, count=len(triplets))
    train_pairs = build_pairs(triplets.take(np.flatnonzero(~is_val)), store)
    val_triplets = triplets.take(np.flatnonzero(is_val))
    val_pairs = build_pairs(val_triplets, store)
    assert not (set(train_pairs.video_id) & set(val_pairs.video_id)), "a video is in both train and validation"
    if len(train_pairs) == 0:
        raise ValueError("no training pairs left after the validation split")
    val_task = build_task(val_triplets, store) if len(val_triplets) else None

    dims = store.dims()
    model = ViML(cfg.model, dims).to(dev)
    loss_fn = InfoNCE(cfg.loss.temperature, cfg.loss.learn_temperature, cfg.loss.symmetric).to(dev)
    params = list(model.parameters()) + list(loss_fn.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    steps_per_epoch = math.ceil(len(train_pairs) / cfg.train.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg, steps_per_epoch))

    state = {"epoch": 0, "best_metric": None, "best_epoch": None, "bad_epochs": 0, "history": [],
             "stopped_early": False}
    if resume and last_path.exists():
        saved = ckpt.load(last_path)
        saved_cfg = ckpt.config_of(saved).to_dict()
        mine = cfg.to_dict()
        saved_cfg["train"].pop("epochs"), mine["train"].pop("epochs")
        if saved_cfg != mine:
            diff = sorted(f"{s}.{k}" for s in mine for k in mine[s] if mine[s][k] != saved_cfg.get(s, {}).get(k))
            raise ValueError(f"cannot resume {last_path}: config differs in {', '.join(diff)}")
        model.load_state_dict(saved["model"])
        loss_fn.load_state_dict(saved["loss"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = {k: saved[k] for k in state}
        log.info("resumed %s at epoch %d", last_path, state["epoch"])
    elif resume:
        log.info("no %s yet: starting from scratch", last_path)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "split.json").write_text(json.dumps({
        "seed": cfg.train.seed, "val_fraction": cfg.data.val_fraction,
        "train_videos": len(train_videos), "validation_videos": sorted(val_videos)}, indent=1) + "\n")
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    log.info("%s: %d train pairs, %d validation pairs (%d videos), %s parameters, device %s", kind,
             len(train_pairs), len(val_pairs), len(val_videos), f"{count_parameters(model):,}", dev)

    es = cfg.train.early_stopping
    segment = cfg.data.segment_len if cfg.data.level == "segment" else None
    p_drop = cfg.train.text_dropout if kind == "viml" else 0.0
    while state["epoch"] < cfg.train.epochs and not state["stopped_early"]:
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        model.train()
        draws = draw_epoch(train_pairs, cfg.train.seed, epoch, p_drop, null_row, segment is not None)
        total, n_seen = 0.0, 0
        for sl in _batches(len(train_pairs), cfg.train.batch_size):
            idx = draws.order[sl]
            batch = make_batch(store, train_pairs, idx, draws.text_rows[idx] if store.text is not None else None,
                               cfg.model.max_video_len, cfg.model.max_music_len, segment,
                               None if draws.window_u is None else draws.window_u[idx])
            batch = {k: v.to(dev) for k, v in batch.items()}
            q, m = model(batch)
            loss = loss_fn(q, m, batch["music_key"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            optimizer.step()
            scheduler.step()
            total += float(loss) * len(idx)
            n_seen += len(idx)
        train_seconds = time.perf_counter() - started
        val_loss = _val_loss(model, loss_fn, store, val_pairs, cfg, dev)
        val = None
        if val_task is not None:
            emb = embed_task(model, store, val_task, cfg.train.eval_batch_size, dev, segment)
            val = {k: {m: v[m] for m in ("R@1", "R@5", "R@10", "median_rank", "n_queries", "pool_size")}
                   for k, v in score(emb, val_task).items()}
        value = _metric(val, es.metric)
        record = {"epoch": epoch, "train_loss": total / max(n_seen, 1), "val_loss": val_loss, "val": val,
                  "lr": scheduler.get_last_lr()[0], "temperature": float(loss_fn.temperature),
                  "samples_per_s": n_seen / train_seconds, "seconds": time.perf_counter() - started}
        state["history"].append(record)
        improved = _improved(value, state["best_metric"], es.metric, es.min_delta)
        if improved:
            state["best_metric"], state["best_epoch"], state["bad_epochs"] = value, epoch, 0
        elif value is not None:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        if value is not None and state["bad_epochs"] >= es.patience:
            state["stopped_early"] = True
        saved = {**state, "model": model.state_dict(), "loss": loss_fn.state_dict(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "rng": torch.get_rng_state(), "config": cfg.to_dict(), "dims": dims,
                 "encoders": {m: store.encoders[m] for m in modalities}}
        ckpt.save(last_path, saved)
        if improved or value is None:
            ckpt.save(out_dir / ckpt.BEST, saved)
        _write_metrics(out_dir, cfg, state)
        log.info("epoch %d: train loss %.4f, val loss %s, %s %s%s", epoch, record["train_loss"],
                 "-" if val_loss is None else f"{val_loss:.4f}", es.metric,
                 "-" if value is None else f"{value:.2f}", " (best)" if improved else "")
    if state["stopped_early"]:
        log.info("early stopping: no improvement of %s for %d epochs (best %s at epoch %s)", es.metric,
                 es.patience, state["best_metric"], state["best_epoch"])
    return {"out_dir": str(out_dir), "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
            "best_metric": state["best_metric"], "metric": es.metric, "stopped_early": state["stopped_early"],
            "history": state["history"]}


def _write_metrics(out_dir: Path, cfg: Config, state: dict) -> None:
    summary = {"metric": cfg.train.early_stopping.metric, "best_metric": state["best_metric"],
               "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
               "stopped_early": state["stopped_early"], "history": state["history"]}
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_history(state["history"], out_dir / "curves.png", cfg.train.early_stopping.metric)
