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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viml_model import checkpoint as ckpt
from viml_model.config import Config, load_config
from viml_model.data import FeatureStore, read_triplets
from viml_model.dataset import PairSet, build_pairs, draw_epoch, make_batch, split_by_video
from viml_model.evaluate import RetrievalTask, build_task, embed_task, score
from viml_model.loss import InfoNCE
from viml_model.model import ViML, count_parameters, modalities_for
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


def _improved(value: float | None, best: float | None, name: str, min_delta: float,
              val_loss: float | None = None, best_loss: float | None = None) -> bool:
    """Better by more than min_delta; an exact tie on the metric is broken by a lower validation loss
    (a small validation pool saturates recall early)."""
    if value is None:
        return False
    if best is None:
        return True
    sign = -1.0 if name.endswith("median_rank") else 1.0
    if sign * (value - best) > min_delta:
        return True
    return value == best and val_loss is not None and best_loss is not None and val_loss < best_loss


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


@dataclass
class Prepared:
    """Features and the video split of one run."""

    store: FeatureStore
    modalities: list[str]
    null_row: int | None
    train_pairs: PairSet
    val_pairs: PairSet
    val_task: RetrievalTask | None
    val_videos: set[str]
    n_train_videos: int


def prepare_data(cfg: Config, triplets_glob, features_dir) -> Prepared:
    """Triplets (filtered by methods) -> the features they name (missing ids: an error naming them)
    -> training pairs and validation pairs/queries, split by video."""
    triplets = read_triplets(str(triplets_glob), cfg.data.methods)
    kind = cfg.model.kind
    modalities = modalities_for(kind)
    store = FeatureStore.load(features_dir, video_ids=set(triplets.video_id), music_ids=set(triplets.music_id),
                              texts=set(triplets.text), modalities=modalities, dtype=cfg.data.feature_dtype)
    for m in modalities:
        store.require(m, {"video": triplets.video_id, "music": triplets.music_id, "text": triplets.text}[m])
    null_row = store.null_text_index() if "text" in modalities else None

    train_videos, val_videos = split_by_video(triplets.video_id, cfg.data.val_fraction, cfg.train.seed)
    is_val = np.fromiter((v in val_videos for v in triplets.video_id), dtype=bool, count=len(triplets))
    train_pairs = build_pairs(triplets.take(np.flatnonzero(~is_val)), store)
    val_triplets = triplets.take(np.flatnonzero(is_val))
    val_pairs = build_pairs(val_triplets, store)
    assert not (set(train_pairs.video_id) & set(val_pairs.video_id)), "a video is in both train and validation"
    if len(train_pairs) == 0:
        raise ValueError("no training pairs left after the validation split")
    return Prepared(store, modalities, null_row, train_pairs, val_pairs,
                    build_task(val_triplets, store) if len(val_triplets) else None, val_videos, len(train_videos))


class Trainer:
    """Model, loss, optimizer and schedule of one run, with the epoch and validation steps."""

    def __init__(self, cfg: Config, data: Prepared, device: torch.device):
        self.cfg, self.data, self.device = cfg, data, device
        self.dims = data.store.dims()
        self.model = ViML(cfg.model, self.dims).to(device)
        self.loss_fn = InfoNCE(cfg.loss.temperature, cfg.loss.learn_temperature, cfg.loss.symmetric).to(device)
        self.params = list(self.model.parameters()) + list(self.loss_fn.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        steps_per_epoch = math.ceil(len(data.train_pairs) / cfg.train.batch_size)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(cfg, steps_per_epoch))
        self.segment = cfg.data.segment_len if cfg.data.level == "segment" else None
        self.p_drop = cfg.train.text_dropout if cfg.model.kind == "viml" else 0.0

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "loss": self.loss_fn.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "config": self.cfg.to_dict(), "dims": self.dims,
                "encoders": {m: self.data.store.encoders[m] for m in self.data.modalities}}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.loss_fn.load_state_dict(saved["loss"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        if saved.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])

    @torch.enable_grad()  # whatever grad mode the caller's process left on (e.g. a tagger's inference)
    def train_epoch(self, epoch: int) -> tuple[float, int]:
        """One pass over the training pairs; returns (mean loss, samples)."""
        cfg, d = self.cfg, self.data
        self.model.train()
        draws = draw_epoch(d.train_pairs, cfg.train.seed, epoch, self.p_drop, d.null_row, self.segment is not None)
        total, n_seen = 0.0, 0
        for sl in _batches(len(d.train_pairs), cfg.train.batch_size):
            idx = draws.order[sl]
            batch = make_batch(d.store, d.train_pairs, idx, draws.text_rows[idx] if d.store.text is not None else None,
                               cfg.model.max_video_len, cfg.model.max_music_len, self.segment,
                               None if draws.window_u is None else draws.window_u[idx])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            q, m = self.model(batch)
            loss = self.loss_fn(q, m, batch["music_key"])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.train.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            total += float(loss.detach()) * len(idx)
            n_seen += len(idx)
        return total / max(n_seen, 1), n_seen

    def validate(self) -> tuple[float | None, dict | None]:
        """(validation loss, retrieval metrics per query type) on the held-out videos."""
        d = self.data
        val_loss = _val_loss(self.model, self.loss_fn, d.store, d.val_pairs, self.cfg, self.device)
        if d.val_task is None:
            return val_loss, None
        emb = embed_task(self.model, d.store, d.val_task, self.cfg.train.eval_batch_size, self.device, self.segment)
        keep = ("R@1", "R@5", "R@10", "median_rank", "n_queries", "pool_size")
        return val_loss, {k: {m: v[m] for m in keep} for k, v in score(emb, d.val_task).items()}


def _restore(trainer: Trainer, cfg: Config, last_path: Path) -> dict:
    saved = ckpt.load(last_path)
    saved_cfg, mine = ckpt.config_of(saved).to_dict(), cfg.to_dict()
    saved_cfg["train"].pop("epochs"), mine["train"].pop("epochs")  # more epochs may be asked for
    if saved_cfg != mine:
        diff = sorted(f"{s}.{k}" for s in mine for k in mine[s] if mine[s][k] != saved_cfg.get(s, {}).get(k))
        raise ValueError(f"cannot resume {last_path}: config differs in {', '.join(diff)}")
    trainer.load_state_dict(saved)
    log.info("resumed %s at epoch %d", last_path, saved["epoch"])
    return {k: saved[k] for k in _FRESH}


_FRESH = {"epoch": 0, "best_metric": None, "best_epoch": None, "bad_epochs": 0, "history": [],
          "stopped_early": False}


def train(config, triplets_glob, features_dir, out_dir, *, methods=None, resume: bool = False,
          epochs: int | None = None, seed: int | None = None, device=None) -> dict:
    """Train a ViML/MVPt+/MT model (config: a Config, a YAML path or a packaged name).
    Returns a summary: epochs run, best epoch and metric, whether early stopping fired, history."""
    cfg = _resolve_config(config, methods, epochs, seed)
    out_dir = Path(out_dir)
    last_path = out_dir / ckpt.LAST
    if last_path.exists() and not resume:
        raise ValueError(f"{out_dir} already holds a checkpoint ({ckpt.LAST}): resume it or choose another out_dir")
    dev = pick_device(device)
    seed_everything(cfg.train.seed)
    data = prepare_data(cfg, triplets_glob, features_dir)
    trainer = Trainer(cfg, data, dev)
    state = dict(_FRESH, history=[])
    if resume and last_path.exists():
        state = _restore(trainer, cfg, last_path)
    elif resume:
        log.info("no %s yet: starting from scratch", last_path)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "split.json").write_text(json.dumps({
        "seed": cfg.train.seed, "val_fraction": cfg.data.val_fraction, "train_videos": data.n_train_videos,
        "validation_videos": sorted(data.val_videos)}, indent=1) + "\n")
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    held = sum(getattr(data.store, m).nbytes for m in data.modalities)
    log.info("%s: %d train pairs, %d validation pairs (%d videos), %s parameters, device %s, features in "
             "memory %.1f MB", cfg.model.kind, len(data.train_pairs), len(data.val_pairs), len(data.val_videos),
             f"{count_parameters(trainer.model):,}", dev, held / 2 ** 20)

    es = cfg.train.early_stopping
    while state["epoch"] < cfg.train.epochs and not state["stopped_early"]:
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        train_loss, n_seen = trainer.train_epoch(epoch)
        train_seconds = time.perf_counter() - started
        val_loss, val = trainer.validate()
        value = _metric(val, es.metric)
        state["history"].append({
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val": val,
            "lr": trainer.scheduler.get_last_lr()[0], "temperature": float(trainer.loss_fn.temperature.detach()),
            "samples_per_s": n_seen / train_seconds, "seconds": time.perf_counter() - started})
        best_loss = state["history"][state["best_epoch"] - 1]["val_loss"] if state["best_epoch"] else None
        improved = _improved(value, state["best_metric"], es.metric, es.min_delta, val_loss, best_loss)
        if improved:
            state["best_metric"], state["best_epoch"], state["bad_epochs"] = value, epoch, 0
        elif value is not None:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["stopped_early"] = value is not None and state["bad_epochs"] >= es.patience
        saved = {**state, **trainer.state_dict()}
        ckpt.save(last_path, saved)
        if improved or value is None:
            ckpt.save(out_dir / ckpt.BEST, saved)
        _write_metrics(out_dir, cfg, state)
        log.info("epoch %d: train loss %.4f, val loss %s, %s %s%s", epoch, train_loss,
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
