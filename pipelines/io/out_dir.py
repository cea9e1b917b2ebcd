"""One output folder per stage: a stage never writes into a folder that holds another stage's run.

Every stage writes summary.json (and synthesize a README.md) at the top of its folder, so a second
stage pointed at the same folder would silently replace the first one's record of its run.
"""
from __future__ import annotations

import json
import os

from apache_beam.io.filesystems import FileSystems


def recorded_stage(out_dir: str) -> str | None:
    """The stage whose summary.json is in out_dir, or None (no summary, or one we cannot read)."""
    path = FileSystems.join(out_dir, "summary.json")
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as fh:
            stage = json.loads(fh.read().decode("utf-8")).get("stage")
    except (OSError, ValueError, AttributeError):
        return None
    return stage if isinstance(stage, str) else None


def check_out_dir(out_dir: str, stage: str) -> None:
    """ValueError (exit 2) when out_dir already holds another stage's outputs."""
    if "://" not in out_dir and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    other = recorded_stage(out_dir)
    if other and other != stage:
        raise ValueError(f"--out {out_dir} holds the outputs of `viml-synth {other}` (its summary.json); "
                         f"{stage} would overwrite that record: choose another folder, e.g. {out_dir.rstrip('/')}/"
                         f"{'triplets' if stage == 'synthesize' else stage}")
