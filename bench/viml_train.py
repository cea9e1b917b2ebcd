"""Training throughput: samples per second of ViML training steps on this CPU.

Synthetic random features of realistic sizes (video [32 x 512], music [16 x 200], text [384]) held in
the same in-memory tables the trainer uses; a step = batch assembly (padding) + forward + InfoNCE +
backward + AdamW. Paper-sized model (viml.yaml: d=256, 2-layer encoders) with each fusion variant,
and the MVPt+ / MT baselines.

    .venv/bin/python bench/viml_train.py [--batch 256] [--steps 3] [--threads 2] [--variants all]

A step of the paper-sized model is ~200 GFLOP at batch 256 (the 2048-wide feed-forward layers over
32 video + 16 music tokens dominate), so expect tens of samples/s on 2 CPU cores: use CUDA for real runs.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from viml_model.config import FUSIONS, load_config
from viml_model.data import FeatureStore, SequenceTable, VectorTable
from viml_model.dataset import PairSet, draw_epoch, make_batch
from viml_model.loss import InfoNCE
from viml_model.model import ViML, count_parameters

SIZES = {"video": (32, 512), "music": (16, 200), "text": 384}


def synthetic_store(n: int, seed: int = 0) -> tuple[FeatureStore, PairSet]:
    rng = np.random.default_rng(seed)
    ids = [f"x{i}" for i in range(n)]

    def seq(steps: int, dim: int) -> SequenceTable:
        block = rng.standard_normal((n * steps, dim), dtype=np.float32)
        return SequenceTable(ids=ids, dim=dim, blocks=[block], block=np.zeros(n, np.int32),
                             start=np.arange(n, dtype=np.int64) * steps, length=np.full(n, steps, np.int32))

    texts = [""] + [f"t{i}" for i in range(n)]
    dims = {"video": SIZES["video"][1], "music": SIZES["music"][1], "text": SIZES["text"]}
    text = VectorTable(ids=texts, dim=dims["text"], matrix=rng.standard_normal((n + 1, dims["text"]), dtype=np.float32))
    encoders = {m: {"name": "random", "dim": d} for m, d in dims.items()}
    store = FeatureStore(directory=Path("<memory>"), encoders=encoders, video=seq(*SIZES["video"]),
                         music=seq(*SIZES["music"]), text=text)
    rows = np.arange(n, dtype=np.int64)
    pairs = PairSet(video_id=np.array(ids, dtype=object), music_id=np.array(ids, dtype=object), video_row=rows,
                    music_row=rows, text_offsets=np.arange(n + 1, dtype=np.int64), text_rows=rows + 1)
    return store, pairs


def samples_per_s(kind: str, fusion: str, store, pairs, batch: int, steps: int) -> tuple[float, float, int]:
    cfg = load_config(kind)
    mcfg = replace(cfg.model, fusion=fusion)
    torch.manual_seed(0)
    model = ViML(mcfg, store.dims()).train()
    loss_fn = InfoNCE(cfg.loss.temperature)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    draws = draw_epoch(pairs, 0, 1, cfg.train.text_dropout if kind == "viml" else 0.0, 0, False)
    # each model kind sees only the modalities it uses, as in training
    s = FeatureStore(store.directory, store.encoders, video=store.video if kind != "mt" else None,
                     music=store.music, text=store.text if kind != "mvpt" else None)
    times, data_times = [], []
    for i in range(steps + 1):  # the first step warms up
        idx = draws.order[(i * batch) % len(pairs):][:batch]
        t = time.perf_counter()
        b = make_batch(s, pairs, idx, draws.text_rows[idx] if s.text is not None else None, 32, 16)
        t_data = time.perf_counter() - t
        q, m = model(b)
        loss = loss_fn(q, m, b["music_key"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
            data_times.append(t_data)
    return batch / float(np.median(times)), float(np.median(data_times)) / float(np.median(times)), \
        count_parameters(model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="viml:transformer2,viml:addition,mvpt,mt",
                    help="'all' (every fusion variant too), or a comma list like viml:mlp,mvpt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    store, pairs = synthetic_store(max(2 * args.batch, 512))
    variants = [("viml", f) for f in FUSIONS] + [("mvpt", "transformer2"), ("mt", "transformer2")]
    if args.variants != "all":
        wanted = [v.split(":") for v in args.variants.split(",")]
        variants = [(w[0], w[1] if len(w) > 1 else "transformer2") for w in wanted]
    print(f"viml train bench: batch {args.batch}, video {SIZES['video']}, music {SIZES['music']}, "
          f"text [{SIZES['text']}], {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} (others running inflate the times)")
    for kind, fusion in variants:
        rate, data_share, n_params = samples_per_s(kind, fusion, store, pairs, args.batch, args.steps)
        label = f"{kind} ({fusion})" if kind == "viml" else kind
        print(f"  {label:<24} {rate:7.1f} samples/s  ({n_params / 1e6:.2f}M params; batch assembly "
              f"{100 * data_share:.0f}% of a step) -> 100k pairs/epoch in {100_000 / rate / 60:.0f} min")


if __name__ == "__main__":
    main()
