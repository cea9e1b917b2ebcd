"""ViML and its baselines: f^v, f^m, f^t sequence encoders, the fusion f^vt, L2-normalised outputs.

SequenceEncoder (f^v, f^m, f^t): [optional LayerNorm] -> Linear(D_in -> d) -> + learned positional
embedding -> k pre-norm Transformer layers (padding masked) -> pooling (`mean`: masked mean of the
output tokens, default; `cls`: a learned token prepended, its output taken).
Text is one frozen sentence vector (the features' text encoder: MiniLM by default, CLIP in the paper),
encoded as a length-1 sequence by the same encoder (the paper
says every module is a 2-layer Transformer; on one token self-attention reduces to a learned linear
map, so f^t acts as a residual MLP).

kind viml: query = f^vt(f^v(x^v), f^t(x^t)); mvpt: query = f^v(x^v); mt: query = f^t(x^t);
music = f^m(x^m) for all three. Similarity = cosine (dot product of L2-normalised embeddings).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from viml_model.config import ModelConfig
from viml_model.fusion import build_fusion, transformer_stack


class SequenceEncoder(nn.Module):
    def __init__(self, in_dim: int, cfg: ModelConfig, layers: int, max_len: int):
        super().__init__()
        self.pooling = cfg.pooling
        self.norm_in = nn.LayerNorm(in_dim) if cfg.input_norm else nn.Identity()
        self.proj = nn.Linear(in_dim, cfg.d_model)
        extra = 1 if cfg.pooling == "cls" else 0
        self.pos = nn.Parameter(torch.zeros(max_len + extra, cfg.d_model))
        nn.init.normal_(self.pos, std=0.02)
        if extra:
            self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
            nn.init.normal_(self.cls, std=0.02)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = transformer_stack(cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout, layers) \
            if layers > 0 else None
        self.max_len = max_len

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, L, D_in], pad [B, L] (True = padding) -> (pooled [B, d], tokens [B, L', d], pad [B, L'])."""
        if x.shape[1] > self.max_len:
            raise ValueError(f"sequence of {x.shape[1]} steps exceeds max_len {self.max_len}")
        if pad is None:
            pad = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        h = self.proj(self.norm_in(x))
        if self.pooling == "cls":
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], 1)
            pad = torch.cat([torch.zeros_like(pad[:, :1]), pad], 1)
        h = self.drop(h + self.pos[: h.shape[1]])
        if self.encoder is not None:
            h = self.encoder(h, src_key_padding_mask=pad)
        if self.pooling == "cls":
            return h[:, 0], h[:, 1:], pad[:, 1:]
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(1) / keep.sum(1).clamp(min=1.0), h, pad


class ViML(nn.Module):
    def __init__(self, cfg: ModelConfig, dims: dict[str, int]):
        super().__init__()
        self.cfg = cfg
        self.kind = cfg.kind
        self.music = SequenceEncoder(dims["music"], cfg, cfg.music_layers, cfg.max_music_len)
        self.video = SequenceEncoder(dims["video"], cfg, cfg.video_layers, cfg.max_video_len) \
            if cfg.kind in ("viml", "mvpt") else None
        self.text = SequenceEncoder(dims["text"], cfg, cfg.text_layers, 1) if cfg.kind in ("viml", "mt") else None
        self.fusion = build_fusion(cfg.fusion, cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout,
                                   cfg.mlp_hidden, cfg.fusion_tokens, cfg.fusion_residual) \
            if cfg.kind == "viml" else None
        # model.null_text: learned -> the NULL text input is this vector (the trainer starts it at g^t(""))
        self.null_text = nn.Parameter(torch.zeros(dims["text"])) \
            if self.text is not None and cfg.null_text == "learned" else None

    @property
    def uses_video(self) -> bool:
        return self.video is not None

    @property
    def uses_text(self) -> bool:
        return self.text is not None

    def encode_music(self, music: torch.Tensor, music_mask: torch.Tensor | None = None) -> torch.Tensor:
        return F.normalize(self.music(music, music_mask)[0], dim=-1)

    def encode_video(self, video: torch.Tensor, video_mask: torch.Tensor | None = None):
        """f^v: (pooled y_v [B, d], tokens [B, L, d], padding [B, L]), not normalised."""
        return self.video(video, video_mask)

    def encode_text(self, text: torch.Tensor, is_null: torch.Tensor | None = None) -> torch.Tensor:
        """f^t: y_t [B, d] from text vectors [B, D_t], not normalised; `is_null` [B] marks NULL texts
        (replaced by the learned NULL vector when model.null_text is learned; y_t = 0 when it is zero)."""
        if self.null_text is not None and is_null is not None:
            text = torch.where(is_null.unsqueeze(-1), self.null_text.to(text.dtype), text)
        y = self.text(text.unsqueeze(1))[0]
        if self.cfg.null_text == "zero" and self.kind == "viml" and is_null is not None:
            # f^t ends in a LayerNorm, so no NULL input makes y_t vanish; with addition fusion a constant
            # y_t(NULL) as large as y_v bends every video-only query towards one direction
            y = y.masked_fill(is_null.unsqueeze(-1), 0.0)
        return y

    def fuse(self, yv: torch.Tensor, yt: torch.Tensor, v_tokens=None, v_pad=None) -> torch.Tensor:
        """f^vt, L2-normalised."""
        return F.normalize(self.fusion(yv, yt, v_tokens, v_pad), dim=-1)

    def encode_query(self, video: torch.Tensor | None = None, video_mask: torch.Tensor | None = None,
                     text: torch.Tensor | None = None, text_null: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "mt":
            return F.normalize(self.encode_text(text, text_null), dim=-1)
        yv, v_tokens, v_pad = self.encode_video(video, video_mask)
        if self.kind == "mvpt":
            return F.normalize(yv, dim=-1)
        return self.fuse(yv, self.encode_text(text, text_null), v_tokens, v_pad)

    def forward(self, batch: dict, null_text: torch.Tensor | None = None):
        """(query, music); with `null_text` [1, D_t] (viml only) also the NULL-text query of every pair,
        sharing one pass of f^v: (query, music, video-only query)."""
        music = self.encode_music(batch["music"], batch.get("music_mask"))
        if null_text is None or self.kind != "viml":
            return self.encode_query(batch.get("video"), batch.get("video_mask"), batch.get("text"),
                                     batch.get("text_null")), music
        yv, v_tokens, v_pad = self.encode_video(batch["video"], batch.get("video_mask"))
        q = self.fuse(yv, self.encode_text(batch["text"], batch.get("text_null")), v_tokens, v_pad)
        y_null = self.encode_text(null_text, torch.ones(1, dtype=torch.bool, device=null_text.device))
        return q, music, self.fuse(yv, y_null.expand(len(yv), -1), v_tokens, v_pad)


def modalities_for(kind: str) -> list[str]:
    """Feature modalities a model kind reads: music always, video for viml/mvpt, text for viml/mt."""
    return ["music"] + (["video"] if kind in ("viml", "mvpt") else []) + (["text"] if kind in ("viml", "mt") else [])


def count_parameters(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())
