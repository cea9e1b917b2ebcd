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

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from viml_model import checkpoint as ckpt
from viml_model.config import LOWER_IS_BETTER, Config, load_config
from viml_model.data import FeatureStore, read_triplets
from viml_model.dataset import PairSet, build_pairs, draw_epoch, make_batch, split_by_video
from viml_model.evaluate import RetrievalTask, build_task, embed_task, score
from viml_model.loss import InfoNCE
from viml_model.model import ViML, count_parameters, modalities_for
from viml_model.plot import plot_history
from viml_model.runtime import pick_device, seed_everything

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training diverged (NaN/inf loss or parameters); the run stops before writing a checkpoint."""


@contextlib.contextmanager
def progress(total: int, desc: str):
    """Batch progress within an epoch, on a terminal only (logs and pipes get the per-epoch line)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="batch", leave=False, disable=not sys.stderr.isatty())
    try:
        yield bar
    finally:
        bar.close()


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


def _metric(val: dict | None, name: str, val_loss: float | None = None) -> float | None:
    """The early-stopping value: val_loss, or section.key of the validation metrics, where section
    `mean` averages the video-only and video+text values (selection that sees both query kinds)."""
    if name == "val_loss":
        return val_loss
    if not val:
        return None
    section, _, key = name.partition(".")
    if section == "mean":
        return (val["video_only"][key] + val["video_text"][key]) / 2
    return val[section][key]


def _improved(value: float | None, best: float | None, name: str, min_delta: float,
              val_loss: float | None = None, best_loss: float | None = None) -> bool:
    """Better by more than min_delta; an exact tie on the metric is broken by a lower validation loss
    (a small validation pool saturates recall early)."""
    if value is None:
        return False
    if best is None:
        return True
    sign = -1.0 if name.endswith(LOWER_IS_BETTER) else 1.0
    if sign * (value - best) > min_delta:
        return True
    return value == best and val_loss is not None and best_loss is not None and val_loss < best_loss


def _batches(n: int, batch_size: int):
    for a in range(0, n, batch_size):
        yield slice(a, a + batch_size)


@torch.no_grad()
def _val_loss(model, loss_fn, store, pairs: PairSet, cfg: Config, device, null_row: int | None = None
              ) -> float | None:
    """Validation InfoNCE of the pairs' first texts; for viml, the mean of that and the same loss with the
    NULL text (so the loss reflects both query kinds, as the model is used)."""
    if len(pairs) == 0:
        return None
    model.eval()
    first_text = pairs.text_rows[pairs.text_offsets[:-1]] if store.text is not None else None
    segment = cfg.data.segment_len if cfg.data.level == "segment" else None
    variants = [first_text]
    if model.kind == "viml" and null_row is not None:
        variants.append(np.full(len(pairs), null_row, dtype=np.int64))
    total, count = 0.0, 0
    for texts in variants:
        for sl in _batches(len(pairs), cfg.train.batch_size):
            idx = np.arange(len(pairs))[sl]
            batch = make_batch(store, pairs, idx, None if texts is None else texts[idx],
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


def prepare_data(cfg: Config, triplets_glob, features_dir, skip_nonfinite: bool = False) -> Prepared:
    """Triplets (filtered by methods) -> the features they name (missing ids: an error naming them;
    non-finite ones: an error naming them, or with skip_nonfinite their triplets are left out)
    -> training pairs and validation pairs/queries, split by video."""
    triplets = read_triplets(str(triplets_glob), cfg.data.methods)
    kind = cfg.model.kind
    modalities = modalities_for(kind)
    store = FeatureStore.load(features_dir, video_ids=set(triplets.video_id), music_ids=set(triplets.music_id),
                              texts=set(triplets.text), modalities=modalities, dtype=cfg.data.feature_dtype,
                              skip_nonfinite=skip_nonfinite)
    columns = {"video": triplets.video_id, "music": triplets.music_id, "text": triplets.text}
    if store.skipped:
        triplets = _without_skipped(triplets, store.skipped, columns)
        columns = {"video": triplets.video_id, "music": triplets.music_id, "text": triplets.text}
    for m in modalities:
        store.require(m, columns[m])
    null_row = store.null_text_index() if "text" in modalities else None

    train_videos, val_videos = split_by_video(triplets.video_id, cfg.data.val_fraction, cfg.train.seed)
    is_val = np.fromiter((v in val_videos for v in triplets.video_id), dtype=bool, count=len(triplets))
    train_pairs = build_pairs(triplets.take(np.flatnonzero(~is_val)), store)
    val_triplets = triplets.take(np.flatnonzero(is_val))
    val_pairs = build_pairs(val_triplets, store)
    assert not (set(train_pairs.video_id) & set(val_pairs.video_id)), "a video is in both train and validation"
    if len(train_pairs) == 0:
        raise ValueError(f"{', '.join(triplets.files)}: no training pairs left after the validation split "
                         f"({len(triplets)} triplet rows, {len(train_videos) + len(val_videos)} videos, "
                         f"val_fraction {cfg.data.val_fraction})")
    return Prepared(store, modalities, null_row, train_pairs, val_pairs,
                    build_task(val_triplets, store) if len(val_triplets) else None, val_videos, len(train_videos))


def _without_skipped(triplets, skipped: dict, columns: dict):
    drop = np.zeros(len(triplets), dtype=bool)
    for m, ids in skipped.items():
        drop |= np.isin(columns[m].astype(str), list(ids))
    log.warning("left out %d triplet row(s) whose features are non-finite: %s", int(drop.sum()),
                "; ".join(f"{m} {', '.join(ids[:10])}" for m, ids in skipped.items()))
    if drop.all():
        raise ValueError("every triplet row names an id with non-finite features: nothing to train on")
    return triplets.take(np.flatnonzero(~drop))


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
        # the NULL text input [1, D_t]: start of a learned NULL, and the input of the video-only loss term
        self.null_text = None
        if data.null_row is not None:
            self.null_text = torch.from_numpy(data.store.text.batch(np.array([data.null_row]))).to(device)
            if self.model.null_text is not None:
                with torch.no_grad():
                    self.model.null_text.copy_(self.null_text[0])
        self.video_only_weight = cfg.train.video_only_weight if cfg.model.kind == "viml" else 0.0

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
        """One pass over the training pairs; returns (mean loss, samples). A non-finite loss stops the
        epoch with NonFiniteLossError before any update from it (no checkpoint is written for it)."""
        cfg, d = self.cfg, self.data
        self.model.train()
        draws = draw_epoch(d.train_pairs, cfg.train.seed, epoch, self.p_drop, d.null_row, self.segment is not None,
                           cfg.train.text_dropout_mode, cfg.train.batch_size)
        total, n_seen = 0.0, 0
        n_batches = math.ceil(len(d.train_pairs) / cfg.train.batch_size)
        with progress(n_batches, f"epoch {epoch}") as bar:
            for step, sl in enumerate(_batches(len(d.train_pairs), cfg.train.batch_size)):
                idx = draws.order[sl]
                loss = self._loss(self._batch(idx, draws))
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"training loss is {float(loss.detach())} at epoch {epoch}, batch {step + 1} of {n_batches}: "
                        "stopped; checkpoints of earlier epochs are kept unchanged (lower train.lr or check "
                        "the features)")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.train.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.params, cfg.train.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                total += float(loss.detach()) * len(idx)
                n_seen += len(idx)
                bar.update(1)
        if not all(torch.isfinite(p).all() for p in self.params):
            raise NonFiniteLossError(f"model parameters became non-finite during epoch {epoch}: stopped; "
                                     "checkpoints of earlier epochs are kept unchanged")
        return total / max(n_seen, 1), n_seen

    def _batch(self, idx: np.ndarray, draws) -> dict:
        d, cfg = self.data, self.cfg
        batch = make_batch(d.store, d.train_pairs, idx, draws.text_rows[idx] if d.store.text is not None else None,
                           cfg.model.max_video_len, cfg.model.max_music_len, self.segment,
                           None if draws.window_u is None else draws.window_u[idx])
        return {k: v.to(self.device) for k, v in batch.items()}

    def _loss(self, batch: dict) -> torch.Tensor:
        """InfoNCE of the (text-dropped) queries, plus train.video_only_weight x InfoNCE of every pair's
        NULL-text query (one pass of f^v serves both)."""
        if self.video_only_weight > 0 and self.null_text is not None:
            q, m, q_null = self.model(batch, self.null_text)
            return self.loss_fn(q, m, batch["music_key"]) + \
                self.video_only_weight * self.loss_fn(q_null, m, batch["music_key"])
        q, m = self.model(batch)
        return self.loss_fn(q, m, batch["music_key"])

    def validate(self) -> tuple[float | None, dict | None]:
        """(validation loss, retrieval metrics per query type) on the held-out videos."""
        d = self.data
        val_loss = _val_loss(self.model, self.loss_fn, d.store, d.val_pairs, self.cfg, self.device, d.null_row)
        if d.val_task is None:
            return val_loss, None
        emb = embed_task(self.model, d.store, d.val_task, self.cfg.train.eval_batch_size, self.device, self.segment)
        keep = ("R@1", "R@5", "R@10", "median_rank", "mean_rank", "n_queries", "pool_size")
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
          epochs: int | None = None, seed: int | None = None, device=None, on_epoch=None,
          skip_nonfinite: bool = False) -> dict:
    """Train a ViML/MVPt+/MT model (config: a Config, a YAML path or a packaged name).
    Returns a summary: epochs run, best epoch and metric, whether early stopping fired, history.
    on_epoch(epoch, model): called after each epoch's validation (e.g. a study's extra evaluations)."""
    cfg = _resolve_config(config, methods, epochs, seed)
    out_dir = Path(out_dir)
    last_path = out_dir / ckpt.LAST
    if last_path.exists() and not resume:
        raise ValueError(f"{out_dir} already holds a checkpoint ({ckpt.LAST}): resume it or choose another out_dir")
    dev = pick_device(device)
    seed_everything(cfg.train.seed)
    data = prepare_data(cfg, triplets_glob, features_dir, skip_nonfinite)
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
        value = _metric(val, es.metric, val_loss)
        state["history"].append({
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val": val,
            "lr": trainer.scheduler.get_last_lr()[0], "temperature": float(trainer.loss_fn.temperature.detach()),
            "samples_per_s": n_seen / train_seconds, "seconds": time.perf_counter() - started})
        if on_epoch is not None:
            on_epoch(epoch, trainer.model)
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
            "skipped_nonfinite": data.store.skipped, "history": state["history"]}


def _write_metrics(out_dir: Path, cfg: Config, state: dict) -> None:
    summary = {"metric": cfg.train.early_stopping.metric, "best_metric": state["best_metric"],
               "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
               "stopped_early": state["stopped_early"], "history": state["history"]}
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_history(state["history"], out_dir / "curves.png", cfg.train.early_stopping.metric)
