"""`viml-synth synthesize`: tags -> triplets-*.parquet + errors-*.parquet + summary.json + README.md.

Data flow (top to bottom):
  input rows, read by the workers (tags-*.parquet, or a user's CSV/JSONL/Parquet)         │
      │ ──(unreadable row, missing/NaN music_id, duplicate_id: all but the first)─────────┤
      │ parse_track (rows travel in lists of CHUNK_ROWS) ──(no usable tags)────────────────┤
  ExpandWork: select tags once per track; one WorkItem per (method, sample)                │
      │ tags │ data2text │ prompt2text   (fixed batches, or BatchElements for a model)     │
  RunMethod(method) ──(no text: LLM failure, rejected completion, template error)─────────┤
      │                                                                                    ▼
  triplets-*.parquet                                                              errors-*.parquet
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics.metric import MetricsFilter

from pipelines import progress
from pipelines.io import outputs
from pipelines.io.chunks import Chunk
from pipelines.io.read_rows import ERRORS as READ_ERRORS
from pipelines.io.read_rows import InputSource, ReadInput, check_input, spread_rows
from pipelines.io.read_rows import input_rows as counted_input_rows
from pipelines.io.row_groups import WriteBatchesToParquet  # also registers the Arrow coders
from pipelines.io.schemas import TRIPLETS_SCHEMA
from pipelines.pipeline_info import versions
from pipelines.synthesize.card import card_text
from pipelines.synthesize.methods import Method
from pipelines.synthesize.select import TagSelection
from pipelines.synthesize.steps import ERRORS, ExpandWork, RunMethod, parse_track

log = logging.getLogger(__name__)

# Each writer holds a row group in memory until it is this big (Beam's default is 64 MB per writer);
# 16 MB row groups (~15k texts) still read efficiently and keep a run's memory low and flat.
ROW_GROUP_BYTES = 16 * 2 ** 20
# Input rows travel between steps in lists of this many (see steps.py); a multiple of the CPU methods'
# batch size, so their batches stay whole.
CHUNK_ROWS = 1024


@dataclass
class SynthesizeJob:
    inputs: str  # a file or glob: tags-*.parquet of `viml-synth tag`, or CSV/JSONL/Parquet of tags
    out_dir: str
    methods: list[Method]
    samples: int = 1
    seed: int = 0
    selection: TagSelection = field(default_factory=TagSelection)
    input_format: str | None = None
    runner: str = "local"
    workers: int = 1
    beam_args: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # recorded verbatim in summary.json


class NothingWritten(RuntimeError):
    """No text was produced: the run is reported as failed (exit status != 0)."""


REQUIRED = ("music_id", "tags")


def check_inputs(job: SynthesizeJob) -> InputSource:
    """Launcher-side: the input files exist and have music_id and tags (exit 2 naming the file)."""
    return check_input(job.inputs, job.input_format, REQUIRED, "music_id", "synthesize input")


def read_inputs(p: beam.Pipeline, job: SynthesizeJob, source: InputSource | None = None):
    """Lists of Tracks, from the first row of every music_id, read by the workers; and the error records
    of rows that cannot be used (unreadable, no usable music_id or tags, a later row of a music_id)."""
    source = source or check_inputs(job)
    rows = p | "ReadInput" >> ReadInput(source, "input", "used", spread=spread_rows(job.runner, job.workers),
                                        chunk_rows=CHUNK_ROWS, then=parse_track)
    return rows["ok"], rows[READ_ERRORS]


def build(p: beam.Pipeline, job: SynthesizeJob, staging: str) -> None:
    names = [m.name for m in job.methods]
    tracks, input_errors = read_inputs(p, job)
    work = (tracks | "Expand" >> beam.ParDo(ExpandWork(names, job.samples, job.seed, job.selection))
            .with_output_types(Chunk, **{name: Chunk for name in names}).with_outputs(*names))
    errors = {"input": input_errors}
    for method in job.methods:
        items = work[method.name]
        if not method.fixed_batch_size():  # model-bound: BatchElements sizes batches by measured time
            items = (items | f"Items_{method.name}" >> beam.FlatMap(lambda chunk: chunk)
                     | f"Batch_{method.name}" >> beam.BatchElements(min_batch_size=8, max_batch_size=64))
        done = (items | f"Run_{method.name}" >> beam.ParDo(RunMethod(method)).with_output_types(pa.RecordBatch)
                .with_outputs(ERRORS, main="ok"))
        # one writer per method, fused with the steps before it: texts stream to disk as they are made
        # (a Flatten first made the local runner hold every text of the run in memory)
        done.ok | f"Write_{method.name}" >> WriteBatchesToParquet(
            outputs.join(staging, f"triplets-{method.name}"), TRIPLETS_SCHEMA, ROW_GROUP_BYTES)
        errors[method.name] = done[ERRORS]
        progress.track(p, f"synthesize {method.name}", (done.ok, progress.ROWS),
                       [done[ERRORS], (input_errors, job.samples)],
                       (progress.rows_hint(job.inputs) or 0) * job.samples or None, "texts")
    outputs.write_errors(errors, staging)


def _counters(result) -> dict[str, dict[str, int]]:
    counters: dict[str, dict[str, int]] = {}
    for c in result.metrics().query(MetricsFilter())["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        bucket = counters.setdefault(c.key.metric.namespace, {})
        bucket[c.key.metric.name] = bucket.get(c.key.metric.name, 0) + int(value or 0)
    return counters


def run(job: SynthesizeJob) -> dict:
    """Runs the job and swaps its outputs into out_dir, only if a text was written: otherwise the
    previous outputs stay and NothingWritten says why (counts and an example per error type)."""
    check_inputs(job)
    staged = outputs.run_staged(job.out_dir, ["triplets", "errors"], lambda p, staging: build(p, job, staging),
                                job.runner, job.workers, job.beam_args)
    summary = summarize(job, staged, _counters(staged.result))
    if summary["counts"]["texts"] == 0:
        kept = outputs.has_outputs(job.out_dir)
        failed_dir = outputs.keep_previous(staged, summary)
        counts = {f"{stage}/{kind}": n for stage, kinds in summary["counts"]["errors_by_stage"].items()
                  for kind, n in kinds.items()}
        raise NothingWritten(outputs.describe_failure(
            "synthesize: no text was written", summary["counts"]["input_rows"], counts,
            {f"{stage}/{kind}": ex for stage, kinds in summary["error_examples"].items() for kind, ex in kinds.items()},
            kept, job.out_dir, failed_dir))
    outputs.commit(staged, ["triplets", "errors"], summary, {"README.md": card_text(summary)})
    return summary


def summarize(job: SynthesizeJob, staged: outputs.StagedRun, counters: dict) -> dict:
    texts = outputs.parquet_rows(staged.staged["triplets"])
    errors_by_stage: dict[str, dict[str, int]] = {}
    examples: dict[str, dict[str, str]] = {}
    for stage, kind, message in _error_rows(staged.staged["errors"]):
        bucket = errors_by_stage.setdefault(stage, {})
        bucket[kind] = bucket.get(kind, 0) + 1
        examples.setdefault(stage, {}).setdefault(kind, message)
    counted = counted_input_rows(staged.result)
    input_rows_ = counted or 0
    bad_rows = sum(errors_by_stage.get("input", {}).values())
    expected = (input_rows_ - bad_rows) * len(job.methods) * job.samples
    item_errors = sum(sum(v.values()) for k, v in errors_by_stage.items() if k != "input")
    if texts + item_errors != expected:  # never expected: it would mean a text was lost or duplicated
        raise RuntimeError(f"row accounting failed: expected {expected} texts, wrote {texts} + {item_errors} errors")
    files = {p: staged.final_paths(p) for p in ("triplets", "errors")}
    elapsed = staged.elapsed
    input_rows = input_rows_
    per_method = {}
    for m in job.methods:
        c = counters.get(m.name, {})
        busy = c.get("busy_ms", 0) / 1000
        per_method[m.name] = {
            "texts": c.get("texts", 0), "failed": c.get("failed", 0),
            "rows_per_busy_s": round(c.get("texts", 0) / busy, 1) if busy else None,
            **({"cache_hits": c.get("cache_hits", 0), "cache_misses": c.get("cache_misses", 0),
                "llm_calls": c.get("llm_calls", 0), "llm_attempts": c.get("llm_attempts", 0),
                "llm_retries": max(0, c.get("llm_attempts", 0) - c.get("llm_calls", 0))}
               if m.name == "prompt2text" else {}),
            "config": m.describe(),
        }
    return {
        "stage": "synthesize",
        "counts": {"input_rows": input_rows, "bad_input_rows": bad_rows, "tracks": input_rows - bad_rows,
                   "methods": len(job.methods), "samples_per_track": job.samples, "texts_expected": expected,
                   "texts": texts, "failed": item_errors, "adds_up": True,
                   "errors_by_stage": errors_by_stage},
        "per_method": per_method,
        "timing": {"wall_s": round(elapsed, 3), "texts_per_s": round(texts / elapsed, 1) if elapsed else None},
        "seed": job.seed,
        "selection": job.selection.describe(),
        "error_examples": examples,
        "inputs": job.inputs,
        "outputs": files,
        "run_id": staged.run_id,
        "runner": {"runner": job.runner, "workers": job.workers, "beam_args": job.beam_args},
        "options": job.options,
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _error_rows(paths: list[str]):
    """(stage, error_type, message) of error files, read through FileSystems a batch at a time."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from pipelines.io.parquet_stream import iter_batches

    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for batch in iter_batches(fh, columns=["stage", "error_type", "message"]):
                yield from zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True)
