"""Locating data: the folders at the repository's top level (templates/, prompts/), and the cache.

In a source checkout or an editable install they are `<repo>/<name>`; a built wheel (what Beam's
--setup_file ships to workers) carries them as the packages `pipelines.templates` / `pipelines.prompts`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str, *sub: str) -> Path:
    candidates = [_PACKAGE.parent.joinpath(name, *sub), _PACKAGE.joinpath(name, *sub)]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join((name, *sub))} not found; looked in " + ", ".join(map(str, candidates)))


def cache_dir() -> Path:
    """Where fetched data lives (musicnn weights, WordNet, LLM responses): $VIML_SYNTH_CACHE, else
    ~/.cache/viml-synth. The Makefile uses the same default."""
    return Path(os.environ.get("VIML_SYNTH_CACHE") or Path.home() / ".cache" / "viml-synth")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MB chunks (weights files are recorded by their hash)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
