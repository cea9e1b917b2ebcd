"""`viml-synth synthesize`: tags -> triplets-*.parquet + errors-*.parquet + summary.json + README.md.

Data flow (top to bottom):
  input rows (tags-*.parquet, or a user's CSV/JSONL/Parquet) ──(unreadable row)───────────┐
      │ ParseTrack                                                                         │
  ExpandWork: select tags once per track; one WorkItem per (method, sample)                │
      │ tags │ data2text │ prompt2text   (BatchElements each)                              │
  RunMethod(method) ──(no text: LLM failure, rejected completion, template error)─────────┤
      │                                                                                    ▼
  triplets-*.parquet                                                              errors-*.parquet
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines import progress
from pipelines.io import outputs
from pipelines.io.manifest import detect_format, iter_records
from pipelines.io.parquet_rows import ReadParquetRows
from pipelines.io.schemas import ERRORS_SCHEMA, TRIPLETS_SCHEMA
from pipelines.synthesize.card import write_card
from pipelines.pipeline_info import versions
from pipelines.synthesize.methods import Method
from pipelines.synthesize.select import TagSelection
from pipelines.synthesize.steps import ERRORS, ExpandWork, ParseTrack, RunMethod

log = logging.getLogger(__name__)

# Each writer holds a row group in memory until it is this big (Beam's default is 64 MB per writer);
# 16 MB row groups (~15k texts) still read efficiently and keep a run's memory low and flat.
ROW_GROUP_BYTES = 16 * 2 ** 20


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


def _input_files(pattern: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not files:
        raise FileNotFoundError(f"no input matches {pattern}")
    return files


def read_inputs(p: beam.Pipeline, job: SynthesizeJob):
    """(ref, row dict or the reason it could not be read) for every input row."""
    files = _input_files(job.inputs)
    fmt = job.input_format or detect_format(files[0])
    if fmt == "parquet":  # scales: Beam reads Parquet splits in parallel on the workers
        return (p | "ReadParquet" >> ReadParquetRows(job.inputs)
                | "Ref" >> beam.Map(lambda r: ({"source": job.inputs, "music_id": r.get("music_id")}, r)))
    rows = [({"source": f, "row": n}, raw) for f in files for n, raw in iter_records(f, fmt)]
    # Create holds every row in one bundle: Reshuffle spreads them over workers. (Parquet splits
    # spread by themselves, and skipping the shuffle there keeps memory flat at any row count.)
    return p | "ReadRows" >> beam.Create(rows) | "Spread" >> beam.Reshuffle()


def build(p: beam.Pipeline, job: SynthesizeJob, staging: str) -> None:
    names = [m.name for m in job.methods]
    tracks = read_inputs(p, job) | "Parse" >> beam.ParDo(ParseTrack()).with_outputs(ERRORS, main="ok")
    work = (tracks.ok
            | "Expand" >> beam.ParDo(ExpandWork(names, job.samples, job.seed, job.selection)).with_outputs(*names))
    errors = [tracks[ERRORS]]
    for method in job.methods:
        fixed = getattr(getattr(method, "options", None), "batch_size", None)
        # LLM batches have a fixed size (several rounds of max_concurrency requests): BatchElements'
        # adaptive sizing starts small and kept the client's concurrency slots half empty
        sizes = dict(min_batch_size=fixed, max_batch_size=fixed) if fixed else dict(min_batch_size=8, max_batch_size=64)
        done = (work[method.name]
                | f"Batch_{method.name}" >> beam.BatchElements(**sizes)
                | f"Run_{method.name}" >> beam.ParDo(RunMethod(method)).with_outputs(ERRORS, main="ok"))
        # one writer per method, fused with the steps before it: texts stream to disk as they are made
        # (a Flatten first made the local runner hold every text of the run in memory)
        done.ok | f"Write_{method.name}" >> beam.io.WriteToParquet(
            outputs.join(staging, f"triplets-{method.name}"), TRIPLETS_SCHEMA, file_name_suffix=".parquet",
            row_group_buffer_size=ROW_GROUP_BYTES)
        errors.append(done[ERRORS])
        progress.track(p, f"synthesize {method.name}", done.ok, [done[ERRORS], (tracks[ERRORS], job.samples)],
                       (progress.parquet_rows(job.inputs) or 0) * job.samples or None, "texts")
    (errors | "AllErrors" >> beam.Flatten()
     | "WriteErrors" >> beam.io.WriteToParquet(outputs.join(staging, "errors"), ERRORS_SCHEMA,
                                               file_name_suffix=".parquet"))


def _counters(result) -> dict[str, dict[str, int]]:
    counters: dict[str, dict[str, int]] = {}
    for c in result.metrics().query(MetricsFilter())["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        bucket = counters.setdefault(c.key.metric.namespace, {})
        bucket[c.key.metric.name] = bucket.get(c.key.metric.name, 0) + int(value or 0)
    return counters


def run(job: SynthesizeJob) -> dict:
    files, result, elapsed = outputs.run_staged(job.out_dir, ["triplets", "errors"],
                                                lambda p, staging: build(p, job, staging),
                                                job.runner, job.workers, job.beam_args)
    summary = summarize(job, files, _counters(result), elapsed)
    outputs.write_json(outputs.join(job.out_dir, "summary.json"), summary)
    write_card(job.out_dir, summary)
    if summary["counts"]["texts"] == 0:
        raise NothingWritten(f"no text was written: see {outputs.join(job.out_dir, 'errors-*.parquet')}")
    return summary


def summarize(job: SynthesizeJob, files: dict, counters: dict, elapsed: float) -> dict:
    import pyarrow.parquet as pq

    texts = outputs.parquet_rows(files["triplets"])
    errors_by_stage: dict[str, dict[str, int]] = {}
    for f in files["errors"]:
        table = pq.read_table(f, columns=["stage", "error_type"])
        for stage, kind in zip(table.column(0).to_pylist(), table.column(1).to_pylist()):
            bucket = errors_by_stage.setdefault(stage, {})
            bucket[kind] = bucket.get(kind, 0) + 1
    input_rows = counters.get("synthesize", {}).get("input_rows", 0)
    bad_rows = sum(errors_by_stage.get("input", {}).values())
    expected = (input_rows - bad_rows) * len(job.methods) * job.samples
    item_errors = sum(sum(v.values()) for k, v in errors_by_stage.items() if k != "input")
    if texts + item_errors != expected:  # never expected: it would mean a text was lost or duplicated
        raise RuntimeError(f"row accounting failed: expected {expected} texts, wrote {texts} + {item_errors} errors")
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
        "inputs": job.inputs,
        "outputs": files,
        "runner": {"runner": job.runner, "workers": job.workers, "beam_args": job.beam_args},
        "options": job.options,
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
