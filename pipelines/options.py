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
            # N worker processes, as Beam's multi_processing mode starts them, but through our entry point
            # so that they log at the launcher's level (pipelines/local_worker.py says why)
            from apache_beam.transforms.environments import SubprocessSDKEnvironment

            from pipelines.local_worker import command

            args += [f"--direct_num_workers={workers}"]
            return (FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command())),
                    PipelineOptions(args))
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


THREADS_ENV = "VIML_TORCH_THREADS"


def torch_threads_per_worker(workers: int) -> int:
    """Torch intra-op threads in each local worker process: 1 unless $VIML_TORCH_THREADS says otherwise.

    Parallelism comes from worker processes (`--workers N`), not from threads inside one: torch's
    OpenMP threads spin while they wait, and when the cores are busy (other workers, other jobs) two
    threads ran musicnn 2.8-4.7x, EfficientNet-Lite0 2.2x and MiniLM 1.5x slower than one on the
    2-core development machine (bench/tagging.py, README "Workers"). Processes do not spin against
    each other. `workers` stays in the signature for callers; the answer no longer depends on it.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return 1
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"${THREADS_ENV} must be a whole number of threads, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"${THREADS_ENV} must be >= 1, got {threads}")
    return threads
