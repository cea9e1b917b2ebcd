"""Small random feature tables in the data-contract format, with a planted structure to learn.

Every track has a latent vector z. Its music segments, its video's frames and its texts are fixed
random linear maps of z plus noise, so video -> music and text -> music retrieval are learnable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io.schemas import TRIPLETS_SCHEMA
from viml_model.config import Config, from_dict

DIMS = {"video": 12, "music": 10, "text": 8}


@dataclass
class Dataset:
    features: Path
    triplets: Path  # a glob
    video_ids: list[str]
    music_ids: list[str]
    texts: dict = field(default_factory=dict)  # (video_id, method) -> text


def _seq_table(key: str, ids, seqs) -> pa.Table:
    feats = pa.array([s.astype(np.float32).tolist() for s in seqs], type=pa.list_(pa.list_(pa.float32())))
    return pa.table({key: pa.array(ids, type=pa.string()), "features": feats})


def write_triplets(path: Path, rows: list[dict]) -> None:
    full = [{"video_id": r["video_id"], "music_id": r["music_id"], "method": r.get("method", "tags"),
             "sample": r.get("sample", 0), "text": r["text"], "tags": [], "metadata": None} for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(full, schema=TRIPLETS_SCHEMA), path)


def make_dataset(root: Path, n: int = 48, seed: int = 0, noise: float = 0.3, methods=("tags", "prompt2text"),
                 null_text: bool = True, drop_video: int = 0, drop_music: int = 0, n_files: int = 2,
                 extra_tracks: int = 0) -> Dataset:
    """n (video, music) pairs, one text per method per pair; the last `drop_*` ids get no features;
    `extra_tracks` tracks with features but no triplets (pool distractors)."""
    rng = np.random.default_rng(seed)
    k = 6
    maps = {m: rng.standard_normal((k, d)) for m, d in DIMS.items()}
    z = rng.standard_normal((n + extra_tracks, k))
    video_ids = [f"v{i:03d}" for i in range(n)]
    music_ids = [f"m{i:03d}" for i in range(n + extra_tracks)]
    videos = [z[i] @ maps["video"] + noise * rng.standard_normal((rng.integers(3, 7), DIMS["video"]))
              for i in range(n)]
    music = [z[i] @ maps["music"] + noise * rng.standard_normal((rng.integers(2, 6), DIMS["music"]))
             for i in range(n + extra_tracks)]
    features = root / "features"
    features.mkdir(parents=True, exist_ok=True)
    keep_v = n - drop_video
    music_keep = [i for i in range(len(music_ids)) if not (n - drop_music <= i < n)]
    for f in range(n_files):
        sl = slice(f, keep_v, n_files)
        pq.write_table(_seq_table("video_id", video_ids[sl], videos[sl]), features / f"video-{f:05d}.parquet")
        part = music_keep[f::n_files]
        pq.write_table(_seq_table("music_id", [music_ids[i] for i in part], [music[i] for i in part]),
                       features / f"music-{f:05d}.parquet")
    texts, rows, text_vecs = {}, [], {}
    for i in range(n):
        for method in methods:
            t = f"{method} text of {music_ids[i]}"
            texts[(video_ids[i], method)] = t
            text_vecs[t] = z[i] @ maps["text"] + noise * rng.standard_normal(DIMS["text"])
            rows.append({"video_id": video_ids[i], "music_id": music_ids[i], "method": method, "text": t})
    if null_text:
        text_vecs[""] = np.zeros(DIMS["text"]) + 0.01
    pq.write_table(pa.table({"text": pa.array(list(text_vecs), type=pa.string()),
                             "features": pa.array([v.astype(np.float32).tolist() for v in text_vecs.values()],
                                                  type=pa.list_(pa.float32()))}),
                   features / "text-00000.parquet")
    (features / "encoders.json").write_text(json.dumps({m: {"name": f"test-{m}", "dim": d} for m, d in DIMS.items()}))
    write_triplets(root / "triplets" / "triplets-00000.parquet", rows)
    return Dataset(features=features, triplets=root / "triplets" / "triplets-*.parquet", video_ids=video_ids,
                   music_ids=music_ids, texts=texts)


def tiny_config(**sections) -> Config:
    base = {
        "model": {"d_model": 32, "n_heads": 2, "ff_dim": 64, "dropout": 0.0, "video_layers": 1,
                  "music_layers": 1, "text_layers": 1, "fusion": "transformer1", "mlp_hidden": 64,
                  "max_video_len": 8, "max_music_len": 8},
        "loss": {"temperature": 0.1},
        "data": {"val_fraction": 0.25},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "warmup_steps": 0, "schedule": "constant",
                  "text_dropout": 0.3, "eval_batch_size": 64,
                  "early_stopping": {"metric": "video_text.R@10", "patience": 100}},
    }
    for name, values in sections.items():
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(base.get(name, {}).get(k), dict):
                base[name][k].update(v)
            else:
                base.setdefault(name, {})[k] = v
    return from_dict(base, source="<tests>")


@pytest.fixture
def dataset(tmp_path) -> Dataset:
    return make_dataset(tmp_path)


@pytest.fixture(autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)  # small models: one thread is faster and bit-reproducible
    yield
