"""Locating the data folders that live at the repository's top level (templates/, prompts/).

In a source checkout or an editable install they are `<repo>/<name>`; a built wheel (what Beam's
--setup_file ships to workers) carries them as the packages `pipelines.templates` / `pipelines.prompts`.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str, *sub: str) -> Path:
    candidates = [_PACKAGE.parent.joinpath(name, *sub), _PACKAGE.joinpath(name, *sub)]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join((name, *sub))} not found; looked in " + ", ".join(map(str, candidates)))
