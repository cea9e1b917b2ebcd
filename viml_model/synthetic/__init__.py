"""Synthetic ViML benchmark with a known structure (see generator.py for the design).

    from viml_model.synthetic import generate
    info = generate("out/synth", preset="tiny", seed=0)   # -> {"paths": ..., "stats": ..., "config": ...}

or ``python -m viml_model.synthetic OUT_DIR [--preset tiny] [--seed N] [--set key=value] [--check]``.
"""
from viml_model.synthetic.generator import PRESETS, SyntheticConfig, generate, make_config

__all__ = ["PRESETS", "SyntheticConfig", "generate", "make_config", "structure_check"]


def structure_check(out_dir, **kwargs) -> dict:
    """Trainer-free checks of the planted structure (see check.py)."""
    from viml_model.synthetic.check import structure_check as _check

    return _check(out_dir, **kwargs)
