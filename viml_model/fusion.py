"""f^vt: the five fusion variants of the supplement's study (Table 1), chosen by `model.fusion`.

All take the pooled video embedding y_v [B, d] and the text embedding y_t [B, d] and return [B, d]
(normalised later by the model). Parameter counts at d=256 (paper's figure in brackets):
  addition       y_v + y_t                                        0        [0]
  linear         Linear(2d -> d) on [y_v; y_t]                    131,328  [131K]
  mlp            Linear(2d -> 2048) - GELU - Linear(2048 -> d)    1,575,168 [1.6M]
  transformer1/2 k pre-norm Transformer layers over two tokens    ~1.32M per layer [1.4M, 2.8M]
                 [y_v + type_v; y_t + type_t], then mean of the two outputs
                 (with fusion_tokens: sequence, over [video tokens; y_t] instead, padded video
                 tokens masked out, mean over the valid tokens)
"""
from __future__ import annotations

import torch
from torch import nn


def transformer_stack(d_model: int, n_heads: int, ff_dim: int, dropout: float, layers: int) -> nn.Module:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, ff_dim, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)


class AdditionFusion(nn.Module):
    def forward(self, yv, yt, v_tokens=None, v_pad=None):
        return yv + yt


class LinearFusion(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.proj = nn.Linear(2 * d, d)

    def forward(self, yv, yt, v_tokens=None, v_pad=None):
        return self.proj(torch.cat([yv, yt], -1))


class MLPFusion(nn.Module):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))

    def forward(self, yv, yt, v_tokens=None, v_pad=None):
        return self.net(torch.cat([yv, yt], -1))


class TransformerFusion(nn.Module):
    def __init__(self, d: int, n_heads: int, ff_dim: int, dropout: float, layers: int, tokens: str):
        super().__init__()
        self.tokens = tokens
        self.type_embed = nn.Parameter(torch.zeros(2, d))  # 0 = video, 1 = text
        nn.init.normal_(self.type_embed, std=0.02)
        self.encoder = transformer_stack(d, n_heads, ff_dim, dropout, layers)

    def forward(self, yv, yt, v_tokens=None, v_pad=None):
        t = (yt + self.type_embed[1]).unsqueeze(1)
        if self.tokens == "sequence" and v_tokens is not None:
            v = v_tokens + self.type_embed[0]
            pad = torch.cat([v_pad, torch.zeros_like(v_pad[:, :1])], 1)
        else:
            v = (yv + self.type_embed[0]).unsqueeze(1)
            pad = torch.zeros(yv.shape[0], 2, dtype=torch.bool, device=yv.device)
        out = self.encoder(torch.cat([v, t], 1), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(out.dtype)
        return (out * keep).sum(1) / keep.sum(1)


class ResidualFusion(nn.Module):
    """y_v + f(y_v, y_t): the video embedding reaches the query unchanged, so a NULL text costs the
    video-only query nothing the fusion has to learn to undo."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, yv, yt, v_tokens=None, v_pad=None):
        return yv + self.inner(yv, yt, v_tokens, v_pad)


def build_fusion(name: str, d: int, n_heads: int, ff_dim: int, dropout: float, mlp_hidden: int,
                 tokens: str = "pooled", residual: bool = False) -> nn.Module:
    inner = _build_fusion(name, d, n_heads, ff_dim, dropout, mlp_hidden, tokens)
    return ResidualFusion(inner) if residual else inner


def _build_fusion(name: str, d: int, n_heads: int, ff_dim: int, dropout: float, mlp_hidden: int,
                  tokens: str) -> nn.Module:
    if name == "addition":
        return AdditionFusion()
    if name == "linear":
        return LinearFusion(d)
    if name == "mlp":
        return MLPFusion(d, mlp_hidden, dropout)
    if name in ("transformer1", "transformer2"):
        return TransformerFusion(d, n_heads, ff_dim, dropout, int(name[-1]), tokens)
    raise ValueError(f"unknown fusion {name!r} (addition, linear, mlp, transformer1, transformer2)")
