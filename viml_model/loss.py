"""InfoNCE with cosine similarity and a temperature (fixed, or learned as log 1/T when configured).

Row i of `query` and of `music` are a positive pair; the other rows of the batch are negatives, except
rows whose `keys` (music row) equal row i's: the same track met twice is not a negative, so those
logits are masked out. `symmetric` averages query->music and music->query; otherwise only
query->music (the retrieval direction).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(query: torch.Tensor, music: torch.Tensor, temperature: float | torch.Tensor,
             keys: torch.Tensor | None = None, symmetric: bool = True) -> torch.Tensor:
    """query, music [B, d] L2-normalised; returns the mean cross-entropy."""
    logits = query @ music.t() / temperature
    if keys is not None:
        same = keys[:, None] == keys[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(query), device=query.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.t(), target)) / 2
    return loss


class InfoNCE(nn.Module):
    def __init__(self, temperature: float, learn_temperature: bool = False, symmetric: bool = True):
        super().__init__()
        self.symmetric = symmetric
        self.learned = learn_temperature
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def temperature(self) -> torch.Tensor:
        if self.learned:  # as CLIP: a learned scale 1/T never exceeds 100
            return 1.0 / self.log_scale.clamp(max=math.log(100.0)).exp()
        return 1.0 / self.log_scale.exp()

    def forward(self, query, music, keys=None):
        return info_nce(query, music, self.temperature, keys, self.symmetric)
