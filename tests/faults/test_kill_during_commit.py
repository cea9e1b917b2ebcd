"""kill -9 at each step of a tag and a synthesize run (before, during and after the output swap): the
output folder then holds either the complete previous outputs or the complete new ones, never a mix,
and the next run cleans up whatever the killed one left (issue 8, defect 4).

The run kills itself with SIGKILL at a named step (VIML_SYNTH_KILL_AT, see pipelines.io.outputs), so the
kill lands exactly where the test says, with nothing flushed or cleaned up.
"""
import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.io.outputs import KILL_ENV, committed_files, read_marker

PROJECT = Path(__file__).resolve().parents[2]
# in the order a run reaches them; the switch (summary.json renamed over the old one) is between
# before_switch and after_switch
BEFORE_SWITCH = ["before_pipeline", "during_pipeline", "after_pipeline", "before_move", "during_move", "before_switch"]
AFTER_SWITCH = ["after_switch", "during_cleanup", "after_cleanup"]
OLD_IDS, NEW_IDS = {f"old{i}" for i in range(4)}, {f"new{i}" for i in range(6)}


def _viml(*argv, kill_at=None):
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *argv, "--log-level", "ERROR"],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def _tags_input(path: Path, ids) -> str:
    rows = [{"music_id": i, "tags": ["rock", "piano"]} for i in sorted(ids)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{bad row\n")
    return str(path)


def _committed_view(out: Path, prefix: str) -> tuple[set, dict]:
    """What a reader sees: the ids of the committed files, checked against summary.json's counts."""
    marker = read_marker(str(out))
    assert marker is not None, "summary.json must always carry the commit section once a run committed"
    summary = json.loads((out / "summary.json").read_text())
    files = committed_files(str(out), prefix)
    errors = committed_files(str(out), "errors")
    assert all(os.path.exists(f) for f in files + errors), "a committed file is missing"
    ids = [r["music_id"] for f in files for r in pq.read_table(f, columns=["music_id"]).to_pylist()]
    n_errors = sum(pq.ParquetFile(f).metadata.num_rows for f in errors)
    return set(ids), {"rows": len(ids), "errors": n_errors, "summary": summary}


def _assert_clean(out: Path, prefix: str) -> None:
    """After a successful run: only the committed files, no staging folder, no temporary file."""
    assert not glob.glob(str(out / ".staging-*")) and not glob.glob(str(out / "*.tmp-*"))
    on_disk = sorted(glob.glob(str(out / f"{prefix}-*.parquet")) + glob.glob(str(out / "errors-*.parquet")))
    assert on_disk == sorted(committed_files(str(out), prefix) + committed_files(str(out), "errors"))


def _check(out: Path, prefix: str, step: str, count_key: str):
    ids, view = _committed_view(out, prefix)
    expected = OLD_IDS if step in BEFORE_SWITCH else NEW_IDS
    assert ids == expected, f"killed at {step}: readers must see the {'old' if expected is OLD_IDS else 'new'} set"
    assert view["rows"] == len(ids)  # complete: no file of the set is missing or doubled
    counts = view["summary"]["counts"]
    assert counts[count_key] == view["rows"] and view["errors"] == counts["failed"] + counts.get("bad_input_rows", 0)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    return _tags_input(folder / "old.jsonl", OLD_IDS), _tags_input(folder / "new.jsonl", NEW_IDS)


@pytest.fixture(scope="module")
def previous(tmp_path_factory, inputs):
    """Good outputs of a first run, made once and copied into each test's folder."""
    folder = tmp_path_factory.mktemp("previous")
    assert _viml("tag", "--tagger", f"precomputed:{inputs[0]}", "--out", str(folder / "tag")).returncode == 0
    assert _viml("synthesize", "--methods", "tags", "--out", str(folder / "synthesize"), "--input",
                 inputs[0]).returncode == 0
    return folder


def _copy(previous: Path, stage: str, out: Path) -> None:
    import shutil

    shutil.copytree(previous / stage, out)


@pytest.mark.parametrize("step", BEFORE_SWITCH + AFTER_SWITCH)
def test_tag_killed_at_each_step(tmp_path, inputs, previous, step):
    old, new = inputs
    out = tmp_path / "out"
    _copy(previous, "tag", out)
    killed = _viml("tag", "--tagger", f"precomputed:{new}", "--out", str(out), kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _check(out, "tags", step, "tagged")

    from pipelines.tag.show import top_tags_table  # `viml-synth show` reads the committed set too

    shown = {line.split()[0] for line in top_tags_table(str(out)).splitlines() if line and not line.startswith("--")}
    assert shown == (OLD_IDS if step in BEFORE_SWITCH else NEW_IDS)

    rerun = _viml("tag", "--tagger", f"precomputed:{new}", "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert _committed_view(out, "tags")[0] == NEW_IDS
    _assert_clean(out, "tags")


@pytest.mark.parametrize("step", BEFORE_SWITCH + AFTER_SWITCH)
def test_synthesize_killed_at_each_step(tmp_path, inputs, previous, step):
    old, new = inputs
    out = tmp_path / "out"
    args = ("synthesize", "--methods", "tags", "--out", str(out), "--input")
    _copy(previous, "synthesize", out)
    killed = _viml(*args, new, kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _check(out, "triplets", step, "texts")
    # the dataset card names files that exist and make one complete set (datasets.load_dataset reads them)
    card = (out / "README.md").read_text()
    listed = [line.strip()[2:] for line in card.split("---")[1].splitlines() if line.strip().startswith("- ")
              and line.strip().endswith(".parquet")]
    card_ids = {r["music_id"] for name in listed for r in pq.read_table(out / name, columns=["music_id"]).to_pylist()}
    assert card_ids in (OLD_IDS, NEW_IDS)

    rerun = _viml(*args, new)
    assert rerun.returncode == 0, rerun.stderr
    assert _committed_view(out, "triplets")[0] == NEW_IDS
    _assert_clean(out, "triplets")


def test_first_run_killed_leaves_nothing_that_looks_like_output(tmp_path, inputs):
    """No previous outputs: a run killed after moving its files in (before the switch) must not leave
    files that a reader or the next run's input glob would take for outputs."""
    _, new = inputs
    out = tmp_path / "out"
    assert _viml("tag", "--tagger", f"precomputed:{new}", "--out", str(out), kill_at="before_switch").returncode \
        == -signal.SIGKILL
    assert glob.glob(str(out / "tags-*.parquet"))  # the moved files are there ...
    assert committed_files(str(out), "tags") == []  # ... but are not outputs
    from pipelines.io.outputs import resolve_inputs

    assert resolve_inputs(str(out / "tags-*.parquet")) == []
    assert _viml("tag", "--tagger", f"precomputed:{new}", "--out", str(out)).returncode == 0
    _assert_clean(out, "tags")
