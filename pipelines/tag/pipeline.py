"""`viml-synth tag`: manifest -> tags-*.parquet + errors-*.parquet + summary.json.

Data flow (top to bottom):
  manifest rows ──(invalid/duplicate)──────────────────────────────┐
      │ Create + Reshuffle (spread clips over workers)              │
  PrepareClip: decode + preprocess ──(bad audio)────────────────────┤
  Describe: tempo, key, loudness... from the same decoded audio     │
      │ BatchElements (several clips per forward pass)              │
  PredictBatch: tagger forward ──(model failure)────────────────────┤
      │                                                             ▼
  ToTagRecord: map onto the vocabulary ──> tags-*.parquet    errors-*.parquet
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.utils.shared import Shared

from pipelines.io import outputs
from pipelines.io.manifest import Manifest
from pipelines.io.schemas import ERRORS_SCHEMA, TAGS_SCHEMA
from pipelines.options import torch_threads_per_worker
from pipelines.pipeline_info import versions
from pipelines.tag import descriptors, descriptors_step
from pipelines.tag.backends.base import TaggerBackend
from pipelines.tag.steps import ERRORS, PredictBatch, PrepareClip, ToTagRecord
from pipelines.tag.vocabulary import Vocabulary

log = logging.getLogger(__name__)


@dataclass
class TagJob:
    manifest: Manifest
    backend: TaggerBackend
    out_dir: str
    vocabulary: Vocabulary
    runner: str = "local"
    workers: int = 1
    batch_clips: int = 16
    beam_args: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # recorded verbatim in summary.json
    descriptors: tuple = descriptors.DEFAULT  # descriptor groups measured from the audio; () for none


class NothingTagged(RuntimeError):
    """Every input failed: the run is reported as failed (exit status != 0)."""


def build(p: beam.Pipeline, job: TagJob, staging: str) -> None:
    backend, shared = job.backend, Shared()
    threads = torch_threads_per_worker(job.workers) if job.runner == "local" else None
    mapping = backend.label_mapping(job.vocabulary)

    prepared = (
        p
        | "Clips" >> beam.Create(job.manifest.clips)
        | "Spread" >> beam.Reshuffle()
        | "Prepare" >> beam.ParDo(PrepareClip(backend, shared, threads)).with_outputs(ERRORS, main="ok")
    )
    predicted = (
        prepared.ok
        | "Describe" >> beam.ParDo(descriptors_step.Describe(job.descriptors))
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=job.batch_clips)
        | "Predict" >> beam.ParDo(PredictBatch(backend, shared, threads)).with_outputs(ERRORS, main="ok")
    )
    records = predicted.ok | "ToRecord" >> beam.ParDo(ToTagRecord(backend.name, mapping)).with_outputs(ERRORS, main="ok")
    records.ok | "WriteTags" >> beam.io.WriteToParquet(
        outputs.join(staging, "tags"), TAGS_SCHEMA, file_name_suffix=".parquet")

    manifest_errors = p | "ManifestErrors" >> beam.Create(job.manifest.errors)
    (
        (manifest_errors, prepared[ERRORS], predicted[ERRORS], records[ERRORS])
        | "AllErrors" >> beam.Flatten()
        | "WriteErrors" >> beam.io.WriteToParquet(
            outputs.join(staging, "errors"), ERRORS_SCHEMA, file_name_suffix=".parquet")
    )


def run(job: TagJob) -> dict:
    """Runs the job, swaps its outputs into out_dir and writes summary.json; returns the summary."""
    files, _, elapsed = outputs.run_staged(job.out_dir, ["tags", "errors"], lambda p, staging: build(p, job, staging),
                                           job.runner, job.workers, job.beam_args)
    summary = _summary(job, files, elapsed)
    outputs.write_json(outputs.join(job.out_dir, "summary.json"), summary)
    if summary["counts"]["tagged"] == 0:
        raise NothingTagged(f"no input was tagged: all {summary['counts']['inputs']} failed; "
                            f"see {outputs.join(job.out_dir, 'errors-*.parquet')}")
    return summary


def _summary(job: TagJob, files: dict[str, list[str]], elapsed: float) -> dict:
    import pyarrow.parquet as pq

    tagged = outputs.parquet_rows(files["tags"])
    failed = outputs.parquet_rows(files["errors"])
    inputs = job.manifest.n_rows
    if tagged + failed != inputs:  # never expected: it would mean a row was lost or duplicated
        raise RuntimeError(f"row accounting failed: {inputs} inputs but {tagged} tagged + {failed} errors")
    audio_s = sum(
        sum(v for v in pq.read_table(f, columns=["duration_s"]).column(0).to_pylist() if v)
        for f in files["tags"]) if tagged else 0.0
    errors_by_type: dict[str, int] = {}
    for f in files["errors"]:
        for t in pq.read_table(f, columns=["error_type"]).column(0).to_pylist():
            errors_by_type[t] = errors_by_type.get(t, 0) + 1
    return {
        "stage": "tag",
        "counts": {"inputs": inputs, "tagged": tagged, "failed": failed, "adds_up": True,
                   "errors_by_type": dict(sorted(errors_by_type.items()))},
        "timing": {"wall_s": round(elapsed, 3), "audio_s": round(audio_s, 3),
                   "audio_s_per_wall_s": round(audio_s / elapsed, 2) if elapsed else None,
                   "clips_per_s": round(tagged / elapsed, 3) if elapsed else None},
        "tagger": job.backend.describe(),
        "descriptors": {"groups": list(job.descriptors), "failed": descriptors_step.failures(files["tags"])},
        "vocabulary": {"source": job.vocabulary.source, "version": job.vocabulary.version,
                       "sizes": job.vocabulary.category_sizes()},
        "outputs": files,
        "manifest": job.manifest.source,
        "runner": {"runner": job.runner, "workers": job.workers, "beam_args": job.beam_args},
        "options": job.options,
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
