"""The training set: (video, music) pairs with their texts, the video split, and seeded epoch batches.

Several texts exist per (video, music) pair (methods x samples). A training example is a PAIR: each
epoch visits every pair once and draws one of its texts at random, so a batch never holds the same
pair twice. Two different videos sharing one track can still meet in a batch: the loss masks that
track out of the other's negatives (loss.info_nce ``keys``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from viml_model.data import NULL_TEXT, FeatureStore, Triplets


@dataclass
class PairSet:
    video_id: np.ndarray  # object, per pair
    music_id: np.ndarray
    video_row: np.ndarray  # int64 rows in store.video (-1 when video is not loaded)
    music_row: np.ndarray
    text_offsets: np.ndarray  # CSR: texts of pair i are text_rows[text_offsets[i]:text_offsets[i+1]]
    text_rows: np.ndarray  # rows in store.text (-1 when text is not loaded)

    def __len__(self) -> int:
        return len(self.video_id)

    def subset(self, pairs: np.ndarray) -> PairSet:
        pairs = np.asarray(pairs, dtype=np.int64)
        counts = np.diff(self.text_offsets)[pairs]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = np.concatenate([self.text_rows[self.text_offsets[p]:self.text_offsets[p + 1]] for p in pairs]) \
            if len(pairs) else np.zeros(0, dtype=np.int64)
        return PairSet(self.video_id[pairs], self.music_id[pairs], self.video_row[pairs], self.music_row[pairs],
                       offsets, rows.astype(np.int64))


def _rows(table, ids: np.ndarray) -> np.ndarray:
    if table is None:
        return np.full(len(ids), -1, dtype=np.int64)
    return np.fromiter((table.index.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


def build_pairs(triplets: Triplets, store: FeatureStore) -> PairSet:
    """Group triplet rows by (video_id, music_id); rows map to the store (-1 = not loaded)."""
    keys = np.array([f"{v}\x1f{m}" for v, m in zip(triplets.video_id, triplets.music_id, strict=True)], dtype=object)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=len(first))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    text_rows = _rows(store.text, triplets.text)[order]
    return PairSet(
        video_id=triplets.video_id[first], music_id=triplets.music_id[first],
        video_row=_rows(store.video, triplets.video_id[first]),
        music_row=_rows(store.music, triplets.music_id[first]),
        text_offsets=offsets, text_rows=text_rows)


def split_by_video(video_ids, val_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """(train videos, validation videos): a seeded permutation of the sorted unique ids, so the same
    ids, fraction and seed always give the same split. No video is on both sides."""
    unique = sorted(set(video_ids))
    n_val = int(round(val_fraction * len(unique)))
    if val_fraction > 0 and len(unique) > 1:
        n_val = min(max(n_val, 1), len(unique) - 1)
    perm = np.random.default_rng(seed).permutation(len(unique))
    val = {unique[i] for i in perm[:n_val]}
    train = {unique[i] for i in perm[n_val:]}
    assert not (train & val), "a video is on both sides of the split"
    return train, val


def text_dropout(text_rows: np.ndarray, null_row: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Text dropout (ViML sec. 2.2): with probability p a text is replaced by the NULL text (the text
    encoder's embedding of ""). p=0 never, p=1 always."""
    if p <= 0:
        return text_rows
    drop = rng.random(len(text_rows)) < p
    return np.where(drop, null_row, text_rows)


def segment_windows(music_len: np.ndarray, video_len: np.ndarray, segment_len: int,
                    u: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Aligned windows at segment level: `segment_len` music segments starting at a fraction u of the
    possible starts (None = the middle window), and the video steps covering the same share of time
    (video and music are assumed to span the same duration). Returns [B, 2] (start, steps) each."""
    w = np.minimum(segment_len, music_len)
    span = music_len - w + 1
    start = (span - 1) // 2 if u is None else np.minimum((u * span).astype(np.int64), span - 1)
    v_start = (start * video_len) // music_len
    v_end = np.maximum(v_start + 1, -((-(start + w) * video_len) // music_len))
    return np.stack([start, w], 1), np.stack([v_start, v_end - v_start], 1)


@dataclass
class Epoch:
    """One epoch's seeded draws: pair order, chosen text per pair, and segment offsets."""

    order: np.ndarray
    text_rows: np.ndarray  # per pair (already text-dropped)
    window_u: np.ndarray | None


def batch_text_dropout(text_rows: np.ndarray, order: np.ndarray, batch_size: int, null_row: int, p: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Text dropout per batch: with probability p every text of a batch (consecutive `batch_size` pairs
    of `order`) is the NULL text, so a batch is all video-only or all video+text queries."""
    n_batches = -(-len(order) // batch_size)
    dropped = np.repeat(rng.random(n_batches) < p, batch_size)[:len(order)]
    out = text_rows.copy()
    out[order[dropped]] = null_row
    return out


def draw_epoch(pairs: PairSet, seed: int, epoch: int, p_drop: float, null_row: int | None,
               segment: bool, mode: str = "sample", batch_size: int | None = None) -> Epoch:
    """mode: text dropout per `sample` or per `batch` (of `batch_size` pairs in the epoch's order)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(pairs))
    counts = np.diff(pairs.text_offsets)
    pick = pairs.text_offsets[:-1] + (rng.random(len(pairs)) * counts).astype(np.int64)
    rows = pairs.text_rows[pick]
    if p_drop > 0:
        if null_row is None:
            raise ValueError("text dropout needs the NULL text embedding")
        if mode == "batch":
            rows = batch_text_dropout(rows, order, batch_size or len(pairs), null_row, p_drop, rng)
        else:
            rows = text_dropout(rows, null_row, p_drop, rng)
    u = rng.random(len(pairs)) if segment else None
    return Epoch(order=order, text_rows=rows, window_u=u)


def make_batch(store: FeatureStore, pairs: PairSet, idx: np.ndarray, text_rows: np.ndarray | None,
               max_video_len: int, max_music_len: int, segment_len: int | None = None,
               window_u: np.ndarray | None = None, use_middle: bool = False) -> dict:
    """Tensors for pairs `idx`: video/music [B, L, D] with padding masks (True = pad), text [B, D_t],
    and `music_key` (the music row, so the loss can tell duplicates from negatives)."""
    batch: dict[str, torch.Tensor] = {"music_key": torch.from_numpy(pairs.music_row[idx].copy())}
    m_win = v_win = None
    if segment_len is not None:
        m_len = store.music.length[pairs.music_row[idx]].astype(np.int64)
        v_len = store.video.length[pairs.video_row[idx]].astype(np.int64) if store.video is not None else m_len
        m_win, v_win = segment_windows(m_len, v_len, segment_len, None if use_middle else window_u)
    if store.music is not None:
        x, lengths = store.music.batch(pairs.music_row[idx], max_music_len, m_win)
        batch["music"], batch["music_mask"] = torch.from_numpy(x), _pad_mask(lengths, x.shape[1])
    if store.video is not None and (pairs.video_row[idx] >= 0).all():
        x, lengths = store.video.batch(pairs.video_row[idx], max_video_len, v_win)
        batch["video"], batch["video_mask"] = torch.from_numpy(x), _pad_mask(lengths, x.shape[1])
    if store.text is not None and text_rows is not None:
        batch["text"] = torch.from_numpy(store.text.batch(text_rows))
        batch["text_null"] = torch.from_numpy(np.asarray(text_rows) == store.text.index.get(NULL_TEXT, -1))
    return batch


def _pad_mask(lengths: np.ndarray, width: int) -> torch.Tensor:
    return torch.from_numpy(np.arange(width)[None, :] >= lengths[:, None])
