"""Sampling in a batched `generate` where each row draws only from its own seed.

transformers samples a whole batch from one random stream, so a row's text depends on which rows share
its batch and in what order: a rerun with other batch boundaries (a resumed run, a different
--max-concurrency) would write other texts. Here sampling is done by the Gumbel-max trick: adding
independent Gumbel noise to the (temperature-scaled, top-p-filtered) logits and taking the argmax draws
exactly from softmax(logits / T) restricted to the top-p set, so greedy decoding on the noised logits
is sampling. Each row's noise comes from its own torch.Generator, one vocabulary-sized draw per step,
whatever the other rows do.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most probable tokens whose probability reaches `top_p` (at least one)."""
    if top_p >= 1.0:
        return logits
    ordered, order = torch.sort(logits, descending=True, dim=-1)
    probs = ordered.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability mass of the more likely tokens
    ordered = ordered.masked_fill(before >= top_p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)


class RowSeededSampler(LogitsProcessor):
    """Use with `do_sample=False`: the argmax of what this returns is a sample for each row."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float):
        if temperature <= 0:
            raise ValueError("temperature must be > 0 for sampling")
        self.temperature, self.top_p = float(temperature), float(top_p)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[0] != len(self.generators):
            raise ValueError(f"{scores.shape[0]} rows but {len(self.generators)} seeds")
        logits = top_p_filter(scores.float() / self.temperature, self.top_p)
        tiny = torch.finfo(torch.float32).tiny
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(tiny, 1.0 - 1e-7)))
        return logits + gumbel.to(logits.device)
