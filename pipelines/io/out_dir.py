"""One output folder per stage: a stage never writes into a folder that holds another stage's run.

Every stage writes summary.json (and synthesize a README.md) at the top of its folder, so a second
stage pointed at the same folder would silently replace the first one's record of its run.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time

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


LOCK = ".lock"


def _lock_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            holder = json.load(fh)
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


@contextlib.contextmanager
def exclusive(out_dir: str, stage: str):
    """One run at a time per output folder: a second run's cleanup would delete the first one's staging
    folder. A lock left by a killed run (its process is gone) is taken over. Local folders only: object
    stores have no create-if-absent through Beam's FileSystems, so there the rule is the user's."""
    if "://" in out_dir:
        yield
        return
    created = not os.path.exists(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, LOCK)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "stage": stage,
          "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            pid, host = holder.get("pid"), holder.get("host")
            if isinstance(pid, int) and (host != me["host"] or _alive(pid)):
                raise ValueError(f"--out {out_dir} is being written by another run ({holder.get('stage', '?')}, pid "
                                 f"{pid} on {host}, since {holder.get('started', '?')}); wait for it to end or "
                                 f"choose another folder (remove {path} if no such run exists)") from None
            try:  # stale: the run that held it died without releasing it
                os.remove(path)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        break
    else:
        raise ValueError(f"--out {out_dir}: could not take its lock {path}")
    try:
        yield
    finally:
        if _lock_holder(path).get("pid") == me["pid"]:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        if created:  # a run that stopped before writing anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                os.rmdir(out_dir)
