"""The commit marker of an output folder, read without Beam (for local readers such as `train`).

The marker is summary.json itself: its `_commit` section lists the files of the last complete run
(see pipelines.io.outputs), so the summary and the files it describes always change together. A
folder whose summary.json has no `_commit` predates markers or was written by hand: then its
matching files count, except those carrying a run tag, which only a killed run leaves behind.
"""
from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable

MARKER = "summary.json"
SECTION = "_commit"
RUN_TAG = ".run-"


def marker_section(data) -> dict | None:
    section = data.get(SECTION) if isinstance(data, dict) else None
    return section if isinstance(section, dict) and isinstance(section.get("files"), dict) else None


def local_marker(folder: str) -> dict | None:
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as fh:
            return marker_section(json.load(fh))
    except (FileNotFoundError, ValueError):
        return None


def committed_local(folder: str, prefix: str) -> list[str]:
    """The committed `<prefix>-*.parquet` files of a local output folder."""
    marker = local_marker(folder)
    if marker is not None:
        return [os.path.join(folder, n) for n in marker["files"].get(prefix, [])]
    return sorted(p for p in glob.glob(os.path.join(folder, f"{prefix}-*.parquet"))
                  if RUN_TAG not in os.path.basename(p))


def managed(name: str, prefixes) -> bool:
    """A file an output folder's commits manage (`<prefix>-*.parquet`), rather than one a user put there."""
    return name.endswith(".parquet") and any(name.startswith(f"{p}-") for p in prefixes)


def filter_committed(paths: list[str], marker_of: Callable[[str], dict | None],
                     split: Callable[[str], tuple[str, str]] = os.path.split) -> list[str]:
    """Drop from a glob's matches the files of an output folder that its marker does not list (a run
    killed mid-commit, or the previous run's files before their removal). `marker_of(folder)` reads a
    folder's marker; `split(path)` gives (folder, name)."""
    kept, markers = [], {}
    for path in paths:
        folder, name = split(path)
        if folder not in markers:
            markers[folder] = marker_of(folder)
        marker = markers[folder]
        if marker is None:
            if RUN_TAG not in name:
                kept.append(path)
            continue
        listed = {n for names in marker["files"].values() for n in names}
        if name in listed or not managed(name, marker["files"]):
            kept.append(path)
    return kept


def filter_committed_local(paths: list[str]) -> list[str]:
    return filter_committed(paths, lambda folder: local_marker(folder or "."))
