"""Beam runner selection and pipeline options shared by every stage.

The default is Beam's embedded FnApiRunner, named explicitly: Beam's DirectRunner would first try
the Prism runner, which downloads a binary from the internet.
"""
from __future__ import annotations

import os
from pathlib import Path

LOCAL = "local"
# Runners that execute our code on machines other than this one: they need the package shipped.
REMOTE_RUNNERS = {"DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner"}


def _setup_file() -> str | None:
    candidate = Path(__file__).resolve().parent.parent / "setup.py"
    return str(candidate) if candidate.is_file() else None


def _has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def build_runner(runner: str = LOCAL, workers: int = 1, beam_args: list[str] | None = None):
    """Returns (runner, PipelineOptions).

    `local` -> FnApiRunner (in-memory for 1 worker, multi_processing for N>1 so each worker is a
    process with its own model copy). Any other name passes through to Beam with `beam_args`
    (e.g. `--runner DataflowRunner --project ... --region ... --temp_location gs://...`).
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    args = list(beam_args or [])
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if runner in (LOCAL, "FnApiRunner"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        if workers > 1:
            args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        return FnApiRunner(), PipelineOptions(args)
    if runner == "DirectRunner":
        raise ValueError("DirectRunner may try to download the Prism runner; use --runner local (FnApiRunner)")
    if runner in REMOTE_RUNNERS and not _has_flag(args, "--setup_file") and not _is_embedded(args):
        setup = _setup_file()
        if setup:
            args.append(f"--setup_file={setup}")
    return runner, PipelineOptions(args)


def _is_embedded(args: list[str]) -> bool:
    """PortableRunner with an embedded job server and LOOPBACK workers runs in this process."""
    return any(a in ("--job_endpoint=embed", "--environment_type=LOOPBACK") for a in args) or (
        "--job_endpoint" in args and args[args.index("--job_endpoint") + 1:][:1] == ["embed"]
    )


def torch_threads_per_worker(workers: int) -> int:
    """Split the machine's cores between worker processes so they don't oversubscribe."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
