"""Batched inference: L2-normalised embeddings of music tracks and of (video, text) queries."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from viml_model.data import NULL_TEXT, FeatureStore
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
    Each distinct video and text is encoded once (many queries share a video: one per text), then
    fused per query. At segment level the video window matches the middle window of the query's true
    track (`music_rows`), so videos are encoded per query there, as with sequence-token fusion."""
    model.eval()
    video_rows, text_rows = np.asarray(video_rows, dtype=np.int64), np.asarray(text_rows, dtype=np.int64)
    per_query = segment_len is not None or (model.kind == "viml" and model.cfg.fusion_tokens == "sequence")
    if per_query:
        return _embed_each(model, store, video_rows, text_rows, batch_size, device, segment_len, music_rows)
    yv = yt = None
    if model.uses_video:
        videos, v_index = np.unique(video_rows, return_inverse=True)
        yv = _encode_videos(model, store, videos, batch_size, device)[torch.from_numpy(v_index)]
    if model.uses_text:
        texts, t_index = np.unique(text_rows, return_inverse=True)
        yt = _encode_texts(model, store, texts, batch_size, device)[torch.from_numpy(t_index)]
    if model.kind == "mvpt":
        return F.normalize(yv, dim=-1)
    if model.kind == "mt":
        return F.normalize(yt, dim=-1)
    out = [model.fuse(yv[a:a + batch_size].to(device), yt[a:a + batch_size].to(device)).cpu()
           for a in range(0, len(yv), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)


def _encode_videos(model, store, rows, batch_size, device) -> torch.Tensor:
    out = []
    for a in range(0, len(rows), batch_size):
        x, lengths = store.video.batch(rows[a:a + batch_size], model.cfg.max_video_len)
        pad = _pad_mask(lengths, x.shape[1]).to(device)
        out.append(model.encode_video(torch.from_numpy(x).to(device), pad)[0].cpu())
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)


def _null_mask(store, rows) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rows) == store.text.index.get(NULL_TEXT, -1))


def _encode_texts(model, store, rows, batch_size, device) -> torch.Tensor:
    out = [model.encode_text(torch.from_numpy(store.text.batch(rows[a:a + batch_size])).to(device),
                             _null_mask(store, rows[a:a + batch_size]).to(device)).cpu()
           for a in range(0, len(rows), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)


def _embed_each(model, store, video_rows, text_rows, batch_size, device, segment_len, music_rows) -> torch.Tensor:
    out = []
    for a in range(0, len(video_rows), batch_size):
        sl = slice(a, a + batch_size)
        video = video_mask = text = None
        if model.uses_video:
            v = video_rows[sl]
            win = None
            if segment_len is not None and music_rows is not None:
                m_len = store.music.length[np.asarray(music_rows[sl], dtype=np.int64)].astype(np.int64)
                win = segment_windows(m_len, store.video.length[v].astype(np.int64), segment_len, None)[1]
            x, lengths = store.video.batch(v, model.cfg.max_video_len, win)
            video, video_mask = torch.from_numpy(x).to(device), _pad_mask(lengths, x.shape[1]).to(device)
        text_null = None
        if model.uses_text:
            text = torch.from_numpy(store.text.batch(text_rows[sl])).to(device)
            text_null = _null_mask(store, text_rows[sl]).to(device)
        out.append(model.encode_query(video, video_mask, text, text_null).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_model)
