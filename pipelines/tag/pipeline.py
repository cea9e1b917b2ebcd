"""`viml-synth tag`: manifest -> tags-*.parquet + errors-*.parquet + summary.json.

Data flow (top to bottom):
  manifest rows, read by the workers ──(invalid/duplicate)─────────┐
      │ (Reshuffle: spread clips over workers)                      │
  PrepareClip: decode + preprocess, long files in blocks ──(bad audio)┤
  Describe: tempo, key, loudness... from block 0's decoded audio    │
      │                                                             │
  RunInference(TaggerHandler): batches of patches ──(model failure)─┤
      │ (blocks of a long clip: GroupByKey music_id -> MergeBlocks) │
      │                                                             ▼
  ToTagRecord: map onto the vocabulary ──> tags-*.parquet    errors-<step>-*.parquet
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.utils.shared import Shared

from pipelines import progress
from pipelines.inference import inference_metrics
from pipelines.io import outputs
from pipelines.io.manifest import Manifest
from pipelines.io.read_rows import ERRORS as READ_ERRORS
from pipelines.io.read_rows import input_rows, spread_rows
from pipelines.io.schemas import TAGS_SCHEMA
from pipelines.options import torch_threads_per_worker
from pipelines.pipeline_info import versions
from pipelines.tag import descriptors, descriptors_step
from pipelines.tag.backends.base import TaggerBackend
from pipelines.tag.steps import ERRORS, INFERENCE_NAMESPACE, TagClips, ToTagRecord
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
    batch_clips: int = 16  # forward pass size in 10 s clips: batches hold batch_clips * 3 model units
    max_duration_s: float | None = None  # tag only the first N seconds of each clip
    threads: int | None = None  # torch threads per worker process (default: 1, or $VIML_TORCH_THREADS)
    beam_args: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # recorded verbatim in summary.json
    descriptors: tuple = descriptors.DEFAULT  # descriptor groups measured from the audio; () for none


UNITS_PER_CLIP = 3  # a 10 s clip is 3 musicnn patches: batches and long-file blocks are sized in units


def batch_units(job: TagJob) -> int:
    return max(1, job.batch_clips) * UNITS_PER_CLIP


class NothingTagged(RuntimeError):
    """Every input failed: the run is reported as failed (exit status != 0)."""


def build(p: beam.Pipeline, job: TagJob, staging: str) -> None:
    backend, shared = job.backend, Shared()
    threads = job.threads or (torch_threads_per_worker(job.workers) if job.runner == "local" else None)
    mapping = backend.label_mapping(job.vocabulary)

    clips = p | "Manifest" >> job.manifest.read(spread=spread_rows(job.runner, job.workers))
    tagged = clips["ok"] | "Tag" >> TagClips(backend, shared, threads, batch_units(job), job.max_duration_s,
                                               after_prepare=descriptors_step.Describe(job.descriptors))
    records = (tagged.tagged
               | "ToRecord" >> beam.ParDo(ToTagRecord(backend.name, mapping)).with_outputs(ERRORS, main="ok"))
    records.ok | "WriteTags" >> beam.io.WriteToParquet(
        outputs.join(staging, "tags"), TAGS_SCHEMA, file_name_suffix=".parquet")

    manifest_errors = clips[READ_ERRORS]
    progress.track(p, "tag", records.ok, [manifest_errors, tagged.errors, records[ERRORS]],
                   progress.rows_hint(job.manifest.source), "clips")
    outputs.write_errors({"manifest": manifest_errors, "tag": tagged.errors, "map": records[ERRORS]}, staging)


def run(job: TagJob) -> dict:
    """Runs the job, swaps its outputs into out_dir (only if something was tagged: otherwise the previous
    outputs stay and NothingTagged says why) and returns the summary."""
    if job.max_duration_s is not None and not job.max_duration_s > 0:
        raise ValueError(f"--max-duration-s must be > 0, got {job.max_duration_s}")
    staged = outputs.run_staged(job.out_dir, ["tags", "errors"], lambda p, staging: build(p, job, staging),
                                job.runner, job.workers, job.beam_args)
    summary = _summary(job, staged)
    summary["inference"] = inference_metrics(staged.result, [INFERENCE_NAMESPACE]).get(INFERENCE_NAMESPACE)
    if summary["counts"]["tagged"] == 0:
        kept = outputs.has_outputs(job.out_dir)
        failed_dir = outputs.keep_previous(staged, summary)
        raise NothingTagged(outputs.describe_failure("tag: nothing was tagged", summary["counts"]["inputs"],
                                                     summary["counts"]["errors_by_type"], summary["error_examples"],
                                                     kept, job.out_dir, failed_dir))
    outputs.commit(staged, ["tags", "errors"], summary)
    return summary


def _summary(job: TagJob, staged: outputs.StagedRun) -> dict:
    tagged = outputs.parquet_rows(staged.staged["tags"])
    failed = outputs.parquet_rows(staged.staged["errors"])
    counted = input_rows(staged.result)
    inputs = counted if counted is not None else tagged + failed  # a runner without metrics: files only
    if tagged + failed != inputs:  # never expected: it would mean a row was lost or duplicated
        raise RuntimeError(f"row accounting failed: {inputs} inputs but {tagged} tagged + {failed} errors")
    audio_s = sum(v for v in outputs.iter_column(staged.staged["tags"], "duration_s") if v)
    digest = outputs.error_digest(staged.staged["errors"])
    errors_by_type = {k: v["count"] for k, v in sorted(digest.items())}
    files = {p: staged.final_paths(p) for p in ("tags", "errors")}
    elapsed = staged.elapsed
    return {
        "stage": "tag",
        "counts": {"inputs": inputs, "tagged": tagged, "failed": failed, "adds_up": True,
                   "inputs_from": "beam metrics" if counted is not None else "output files",
                   "errors_by_type": errors_by_type},
        "error_examples": {k: v["example"] for k, v in digest.items()},
        "timing": {"wall_s": round(elapsed, 3), "audio_s": round(audio_s, 3),
                   "audio_s_per_wall_s": round(audio_s / elapsed, 2) if elapsed else None,
                   "clips_per_s": round(tagged / elapsed, 3) if elapsed else None},
        "tagger": job.backend.describe(),
        "descriptors": {"groups": list(job.descriptors), "failed": descriptors_step.failures(staged.staged["tags"])},
        "vocabulary": {"source": job.vocabulary.source, "version": job.vocabulary.version,
                       "sizes": job.vocabulary.category_sizes()},
        "outputs": files,
        "run_id": staged.run_id,
        "manifest": job.manifest.source,
        "runner": {"runner": job.runner, "workers": job.workers, "beam_args": job.beam_args,
                   "torch_threads_per_worker": job.threads or (torch_threads_per_worker(job.workers)
                                                               if job.runner == "local" else None)},
        "options": job.options,
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
