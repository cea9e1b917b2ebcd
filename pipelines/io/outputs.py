"""Output directories: stage a run's files, then swap them in so a rerun never duplicates rows.

Works for any filesystem Beam knows (local, gs://, s3://) through FileSystems.
"""
from __future__ import annotations

import json
import time
import uuid

from apache_beam.io.filesystems import FileSystems


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def new_staging_dir(out_dir: str) -> str:
    staging = join(out_dir, f".staging-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}")
    FileSystems.mkdirs(staging)
    return staging


def _match(pattern: str) -> list[str]:
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def commit(staging: str, out_dir: str, prefixes: list[str]) -> dict[str, list[str]]:
    """Replace the previous run's `<prefix>-*.parquet` files in out_dir with the staged ones."""
    old = [p for prefix in prefixes for p in _match(join(out_dir, f"{prefix}-*.parquet"))]
    if old:
        FileSystems.delete(old)
    committed: dict[str, list[str]] = {}
    for prefix in prefixes:
        staged = sorted(_match(join(staging, f"{prefix}-*.parquet")))
        targets = [join(out_dir, p.rsplit("/", 1)[-1]) for p in staged]
        if staged:
            FileSystems.rename(staged, targets)
        committed[prefix] = targets
    FileSystems.delete([staging])
    return committed


def parquet_rows(paths: list[str]) -> int:
    """Row count from the files' footers: the summary's counts are read back from what was written."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystem import CompressionTypes

    total = 0
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows  # reads only the footer
    return total


def write_json(path: str, obj: dict) -> None:
    from pipelines.io.redact import redact_values

    obj = redact_values(obj)  # a password in an endpoint URL must not reach a record of the run
    with FileSystems.create(path) as fh:
        fh.write((json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8"))


def run_staged(out_dir: str, prefixes: list[str], build, runner: str = "local", workers: int = 1,
               beam_args: list[str] | None = None):
    """The shape every stage shares: build the pipeline into a fresh staging folder, run it, then swap
    the staged `<prefix>-*.parquet` files into out_dir. Returns (committed files, Beam result, wall s)."""
    import apache_beam as beam

    from pipelines.options import build_runner

    if not FileSystems.exists(out_dir):
        FileSystems.mkdirs(out_dir)
    staging = new_staging_dir(out_dir)
    beam_runner, options = build_runner(runner, workers, beam_args)
    started = time.perf_counter()
    p = beam.Pipeline(runner=beam_runner, options=options)
    build(p, staging)
    result = p.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started
    return commit(staging, out_dir, prefixes), result, elapsed
