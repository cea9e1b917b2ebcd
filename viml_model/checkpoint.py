"""Checkpoints: one torch file holding everything a resume or an evaluation needs.

out_dir/last.pt after every epoch, out_dir/best.pt when the validation metric improves. Contents:
model state, config (dict), input dims and encoder names, optimizer + scheduler + loss state, epoch
(completed), best metric, early-stopping counter, history, torch RNG state. Only tensors and plain
Python values, so it loads with torch.load(weights_only=True). Writes are atomic (tmp + rename).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from viml_model.config import Config, from_dict
from viml_model.model import ViML

FORMAT = 1
LAST, BEST = "last.pt", "best.pt"


def save(path: Path, state: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


def resolve(checkpoint: str | Path, prefer: str = BEST) -> Path:
    """A checkpoint file, or a directory (its best.pt, else last.pt)."""
    p = Path(checkpoint)
    if p.is_file():
        return p
    if p.is_dir():
        for name in (prefer, BEST, LAST):
            if (p / name).is_file():
                return p / name
        raise ValueError(f"no {BEST} or {LAST} in checkpoint directory {p}")
    raise ValueError(f"checkpoint not found: {p}")


def load(checkpoint: str | Path, prefer: str = BEST) -> dict:
    path = resolve(checkpoint, prefer)
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read checkpoint {path}: the file is empty (0 bytes), e.g. a copy or write "
                         "that did not finish; use the run's other checkpoint or train again")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"cannot read checkpoint {path}: not a PyTorch file (torch.save writes a zip archive; "
                         f"this one starts with {_head(path)!r})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise ValueError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc or 'no detail'}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a viml_model checkpoint (format {FORMAT})")
    state["path"] = str(path)
    return state


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def config_of(state: dict) -> Config:
    return from_dict(state["config"], source=f"{state.get('path', 'checkpoint')} (config)")


def model_from(state: dict, device: str | torch.device = "cpu") -> tuple[ViML, Config]:
    cfg = config_of(state)
    model = ViML(cfg.model, state["dims"])
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg
