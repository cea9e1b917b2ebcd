"""Output directories: a run's files become visible all at once, or not at all.

The commit protocol (works through Beam's FileSystems, so for local folders and gs://-style buckets):
  1. Beam writes into out_dir/.staging-<run>/ (invisible to `<prefix>-*.parquet` globs).
  2. The staged files move into out_dir under names no earlier run used (`<name>.run-<run>.parquet`),
     beside the previous run's files.
  3. The switch: summary.json, whose `_commit` section lists the files that make up the outputs (and
     holds the small side files, e.g. the dataset card), is written under a temporary name and renamed
     over the old one. A rename is atomic locally; on a bucket the copy creates the object atomically.
     The summary and the files it counts therefore always change together.
  4. Afterwards: side files (README.md, encoders.json) are rewritten from the marker, and every file
     the marker does not list (the old run's, staging folders, leftovers of killed runs) is deleted.
     This step is idempotent: the next run repeats it first, so a kill here loses nothing.
A kill before 3 leaves the old marker (old outputs, complete); after 3 the new ones (complete). Readers
take the file list from the marker (`committed_files`), never from a bare glob: until step 4 finishes
a glob may still see the previous run's files beside the new ones.
"""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.io.commit_marker import (  # shared with Beam-free readers
    MARKER,
    RUN_TAG,
    SECTION,
    filter_committed,
    marker_section,
)
from pipelines.io.fs import match_paths

FAILED_DIR = "failed-run"  # where a run that produced nothing leaves its errors and summary
STAGING = ".staging-"
# A Parquet writer holds a row group's rows as Python objects until their estimated size reaches this
# (Beam's default is 64 MB): error rows are many when every row fails (1M missing files).
ERRORS_ROW_GROUP_BYTES = 8 * 2 ** 20
KILL_ENV = "VIML_SYNTH_KILL_AT"  # tests only: SIGKILL this process at the named commit step


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def kill_point(step: str) -> None:
    """Fault injection for tests/faults: die like `kill -9` at a named step, nothing flushed."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _match(pattern: str) -> list[str]:
    return match_paths(pattern)


def _folders(out_dir: str, name_prefix: str) -> list[str]:
    """Sub-folders of out_dir whose names start with name_prefix. (Beam's match finds files only: a
    local folder is listed directly, a bucket's "folders" are read off the paths of their files.)"""
    from pipelines.io.media_source import URI_SCHEME

    if not URI_SCHEME.match(out_dir) or out_dir.startswith("file://"):
        local = out_dir[len("file://"):] if out_dir.startswith("file://") else out_dir
        try:
            names = [n for n in os.listdir(local)
                     if n.startswith(name_prefix) and os.path.isdir(os.path.join(local, n))]
        except FileNotFoundError:
            return []
        return sorted(join(out_dir, n) for n in names)
    root = out_dir.rstrip("/") + "/"
    found = {p[len(root):].split("/", 1)[0] for p in _match(join(out_dir, f"{name_prefix}*/**")) if p.startswith(root)}
    return sorted(join(out_dir, n) for n in found)


def _delete(paths: list[str]) -> None:
    for path in paths:  # one by one: a file another cleanup already removed is not an error
        try:
            FileSystems.delete([path])
        except Exception:
            if FileSystems.exists(path):
                raise


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return fh.read()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(data)


def write_atomic(path: str, data: bytes) -> None:
    """Write beside, then rename over: a reader sees the old or the new content, never half."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    write_bytes(tmp, data)
    FileSystems.rename([tmp], [path])


def write_json(path: str, obj: dict) -> None:
    from pipelines.io.redact import redact_values

    write_atomic(path, _json_bytes(redact_values(obj)))  # no URL password in any record of a run


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")


def read_summary(out_dir: str) -> dict | None:
    path = join(out_dir, MARKER)
    if not FileSystems.exists(path):
        return None
    try:
        data = json.loads(read_bytes(path).decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_marker(out_dir: str) -> dict | None:
    """The `_commit` section of out_dir's summary.json (None: nothing committed with markers)."""
    return marker_section(read_summary(out_dir))


def committed_files(out_dir: str, prefix: str) -> list[str]:
    """The committed `<prefix>-*.parquet` files of out_dir. A folder written before commit markers
    existed (or by hand) has no marker: then every matching file except a killed run's counts."""
    marker = read_marker(out_dir)
    if marker is not None:
        return [join(out_dir, name) for name in marker["files"].get(prefix, [])]
    return [p for p in _match(join(out_dir, f"{prefix}-*.parquet")) if RUN_TAG not in basename(p)]


def resolve_inputs(pattern: str) -> list[str]:
    """Files a user's input glob names, minus files of an output folder that its marker does not list
    (a run killed mid-commit, or the previous run's files before their removal)."""
    return filter_committed(_match(pattern), read_marker, _split)


def _split(path: str) -> tuple[str, str]:
    """(folder, name) of a local path or a URI."""
    name = basename(path)
    return path[: len(path) - len(name)].rstrip("/") or "/", name


@dataclass
class StagedRun:
    """A finished Beam run whose files are still in its staging folder."""

    out_dir: str
    staging: str
    run_id: str
    prefixes: list[str]
    result: Any = None
    elapsed: float = 0.0
    staged: dict[str, list[str]] = field(default_factory=dict)

    def final_name(self, staged_path: str) -> str:
        name = basename(staged_path)
        return f"{name[:-len('.parquet')]}{RUN_TAG}{self.run_id}.parquet"

    def final_paths(self, prefix: str) -> list[str]:
        return [join(self.out_dir, self.final_name(p)) for p in self.staged[prefix]]


def write_errors(named: dict, staging: str, prefix: str = "errors") -> None:
    """One Parquet writer per error output (`<prefix>-<name>-*.parquet`), each fused with the step
    that makes its errors. A Flatten into a single writer would make Beam's local runner hold every
    error of the run in memory first (it materializes a Flatten's inputs): a million failed rows."""
    import apache_beam as beam

    from pipelines.io.schemas import ERRORS_SCHEMA

    for name, pcoll in named.items():
        pcoll | f"WriteErrors_{prefix}_{name}" >> beam.io.WriteToParquet(
            join(staging, f"{prefix}-{name}"), ERRORS_SCHEMA, file_name_suffix=".parquet",
            row_group_buffer_size=ERRORS_ROW_GROUP_BYTES)


def stage_files(staging: str, prefix: str) -> list[str]:
    return _match(join(staging, f"{prefix}-*.parquet"))


def commit(run: StagedRun, prefixes: list[str], summary: dict, sidecars: dict[str, Any] | None = None,
           clear_failed: bool = True) -> dict[str, list[str]]:
    """Make `prefixes` of this run, `summary` (summary.json) and `sidecars` (name -> JSON object or text)
    the committed outputs; other prefixes of the previous marker stay as they were. Returns
    prefix -> committed paths."""
    from pipelines.io.redact import redact_values

    # a password in an endpoint URL must not reach a record of the run
    summary, sidecars = redact_values(summary), redact_values(sidecars or {})
    kill_point("before_move")
    old = read_marker(run.out_dir) or _adopt_legacy(run.out_dir, run.prefixes)
    files = dict(old.get("files", {}))
    for prefix in prefixes:
        staged = run.staged[prefix]
        if staged:
            FileSystems.rename(staged, run.final_paths(prefix))
        files[prefix] = [run.final_name(p) for p in staged]
        kill_point("during_move")
    kill_point("before_switch")
    marker = {"format": 1, "run_id": run.run_id, "committed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "files": files, "sidecars": {**old.get("sidecars", {}), **(sidecars or {})}}
    write_atomic(join(run.out_dir, MARKER), _json_bytes({**summary, SECTION: marker}))
    kill_point("after_switch")
    finish(run.out_dir, committing=True)
    if clear_failed:
        _delete(_folders(run.out_dir, FAILED_DIR))  # an earlier failed run's report is out of date now
    kill_point("after_cleanup")
    return {p: [join(run.out_dir, n) for n in files[p]] for p in prefixes}


def _adopt_legacy(out_dir: str, prefixes: list[str]) -> dict:
    """A folder without a marker: its matching files are the previous outputs (kept until the switch)."""
    return {"files": {p: [basename(f) for f in committed_files(out_dir, p)] for p in prefixes}, "sidecars": {}}


def finish(out_dir: str, committing: bool = False) -> None:
    """Bring out_dir in line with its marker: side files rewritten, everything uncommitted removed
    (older runs' files, staging folders, temporary markers). Safe to repeat after a kill."""
    marker = read_marker(out_dir)
    _delete(_match(join(out_dir, "*.tmp-*")))  # half-written markers and side files
    if marker is None:  # no run ever committed here: only a killed run's leftovers can go
        _delete([p for p in _match(join(out_dir, f"*{RUN_TAG}*.parquet"))])
        _delete(_folders(out_dir, STAGING))
        return
    for name, content in marker.get("sidecars", {}).items():
        data = content.encode("utf-8") if isinstance(content, str) else _json_bytes(content)
        path = join(out_dir, name)
        if not FileSystems.exists(path) or read_bytes(path) != data:
            write_atomic(path, data)
    if committing:
        kill_point("during_cleanup")
    listed = {n for names in marker["files"].values() for n in names}
    stale = [p for prefix in marker["files"] for p in _match(join(out_dir, f"{prefix}-*.parquet"))
             if basename(p) not in listed]
    _delete(stale)
    _delete(_folders(out_dir, STAGING))


def keep_previous(run: StagedRun, summary: dict, prefixes: list[str] | None = None) -> str:
    """A run (or, with `prefixes`, the part of a run) that produced nothing: the committed outputs stay;
    its staged files and summary go to out_dir/failed-run/ for the user to read. Returns that folder."""
    failed = join(run.out_dir, FAILED_DIR)
    _delete(_folders(run.out_dir, FAILED_DIR))
    FileSystems.mkdirs(failed)
    for prefix in prefixes or run.prefixes:
        staged = run.staged.get(prefix, [])
        if staged:
            FileSystems.rename(staged, [join(failed, basename(p)) for p in staged])
    write_json(join(failed, "summary.json"), summary)
    if prefixes is None:
        _delete([run.staging])
    return failed


def has_outputs(out_dir: str) -> bool:
    marker = read_marker(out_dir)
    if marker is not None:
        return any(marker["files"].values())
    return bool([p for p in _match(join(out_dir, "*.parquet")) if RUN_TAG not in basename(p)])


def parquet_rows(paths: list[str]) -> int:
    """Row count from the files' footers: the summary's counts are read back from what was written."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows  # reads only the footer
    return total


def iter_column(paths: list[str], column: str, batch_rows: int = 65536) -> Iterator:
    """Values of one column of Parquet files opened through FileSystems (local or any Beam URI)."""
    from pipelines.io.parquet_stream import iter_batches

    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for batch in iter_batches(fh, batch_size=batch_rows, columns=[column]):
                yield from batch.column(0).to_pylist()


def error_digest(paths: list[str]) -> dict[str, dict]:
    """error_type -> {count, example}: what a user needs to see on stderr when nothing succeeded."""
    from pipelines.io.parquet_stream import iter_batches

    found: dict[str, dict] = {}
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for batch in iter_batches(fh, columns=["error_type", "message"]):
                for kind, message in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    entry = found.setdefault(kind, {"count": 0, "example": message})
                    entry["count"] += 1
    return dict(sorted(found.items(), key=lambda kv: (-kv[1]["count"], kv[0])))


def describe_failure(what: str, n_inputs: int | None, counts: dict[str, int], examples: dict[str, str],
                     kept: bool, out_dir: str, failed_dir: str) -> str:
    """The message for a run with no successful row: counts and one example per error type."""
    head = f"{what}: all {n_inputs} inputs failed" if n_inputs else f"{what}: there was no input row"
    lines = [head + (" (by error type, with one example each):" if counts else ".")]
    for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        example = str(examples.get(kind, ""))
        example = example if len(example) <= 300 else example[:297] + "..."
        lines.append(f"  {n} x {kind}: e.g. {example}")
    lines.append(("the previous outputs in " + out_dir + " were kept" if kept else
                  "nothing was written to " + out_dir) + f"; this run's errors are in {failed_dir}")
    return "\n".join(lines)


def cleanup_before_run(out_dir: str) -> None:
    """What a killed run left: finish its commit, or drop its staged files."""
    finish(out_dir)


def run_staged(out_dir: str, prefixes: list[str], build, runner: str = "local", workers: int = 1,
               beam_args: list[str] | None = None) -> StagedRun:
    """The shape every stage shares: clean up after any killed run, build the pipeline into a fresh
    staging folder and run it. The caller then commits (or keeps the previous outputs)."""
    import apache_beam as beam

    from pipelines.options import build_runner

    if not FileSystems.exists(out_dir):
        FileSystems.mkdirs(out_dir)
    cleanup_before_run(out_dir)
    run_id = new_run_id()
    staging = join(out_dir, f"{STAGING}{run_id}")
    FileSystems.mkdirs(staging)
    beam_runner, options = build_runner(runner, workers, beam_args)
    started = time.perf_counter()
    p = beam.Pipeline(runner=beam_runner, options=options)
    build(p, staging)
    kill_point("before_pipeline")
    result = p.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started
    kill_point("after_pipeline")
    return StagedRun(out_dir, staging, run_id, list(prefixes), result, elapsed,
                     {prefix: stage_files(staging, prefix) for prefix in prefixes})
