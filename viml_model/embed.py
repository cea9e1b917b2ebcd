"""Batched inference: L2-normalised embeddings of music tracks and of (video, text) queries."""
from __future__ import annotations

import numpy as np
import torch

from viml_model.data import FeatureStore
from viml_model.dataset import segment_windows
from viml_model.model import ViML


def _pad_mask(lengths: np.ndarray, width: int) -> torch.Tensor:
    return torch.from_numpy(np.arange(width)[None, :] >= lengths[:, None])


@torch.no_grad()
def embed_music(model: ViML, store: FeatureStore, rows: np.ndarray, batch_size: int,
                device: torch.device, segment_len: int | None = None) -> torch.Tensor:
    """[len(rows), d] on the CPU; at segment level the middle `segment_len` segments of each track."""
    model.eval()
    out = []
    max_len = model.cfg.max_music_len
    for a in range(0, len(rows), batch_size):
        r = np.asarray(rows[a:a + batch_size], dtype=np.int64)
        win = None
        if segment_len is not None:
            length = store.music.length[r].astype(np.int64)
            win = segment_windows(length, length, segment_len, None)[0]
        x, lengths = store.music.batch(r, max_len, win)
        out.append(model.encode_music(torch.from_numpy(x).to(device), _pad_mask(lengths, x.shape[1]).to(device)).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)


@torch.no_grad()
def embed_queries(model: ViML, store: FeatureStore, video_rows: np.ndarray, text_rows: np.ndarray,
                  batch_size: int, device: torch.device, segment_len: int | None = None,
                  music_rows: np.ndarray | None = None) -> torch.Tensor:
    """[Q, d] on the CPU for queries (video row, text row); rows the model does not use are ignored.
    At segment level the video window matches the middle window of the query's true track
    (`music_rows`), i.e. the same share of the video's time."""
    model.eval()
    out = []
    for a in range(0, len(video_rows), batch_size):
        sl = slice(a, a + batch_size)
        video = video_mask = text = None
        if model.uses_video:
            v = np.asarray(video_rows[sl], dtype=np.int64)
            win = None
            if segment_len is not None and music_rows is not None:
                m_len = store.music.length[np.asarray(music_rows[sl], dtype=np.int64)].astype(np.int64)
                win = segment_windows(m_len, store.video.length[v].astype(np.int64), segment_len, None)[1]
            x, lengths = store.video.batch(v, model.cfg.max_video_len, win)
            video, video_mask = torch.from_numpy(x).to(device), _pad_mask(lengths, x.shape[1]).to(device)
        if model.uses_text:
            text = torch.from_numpy(store.text.batch(np.asarray(text_rows[sl], dtype=np.int64))).to(device)
        out.append(model.encode_query(video, video_mask, text).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)
