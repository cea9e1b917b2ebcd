"""Seeds, determinism and device choice."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """python random, numpy's global RNG and torch (CPU + CUDA); deterministic algorithms where they
    exist (warn_only: ops without a deterministic kernel warn rather than fail)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def pick_device(device: str | None = None) -> torch.device:
    """None/'auto': CUDA when available, else CPU. 'cuda' without CUDA is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if str(device) not in ("cpu",) and not str(device).startswith("cuda"):
        raise ValueError(f"unknown device {device!r} (cpu, cuda, cuda:N, auto)")
    return torch.device(device)
