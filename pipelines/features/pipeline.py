"""`viml-synth features`: frozen pretrained encoders turn media and texts into features, once.

Data flow, one branch per modality given (any subset):
  videos manifest, read by the workers ──(bad row, duplicate video_id)────┐
      │ (Reshuffle)                                                         │
  Prepare: sample frames at --fps from [start_s, end_s) ──(bad video)───────┤
      │                                                                     │
  RunInference(EncoderHandler): batches sized in frames ──(encoder failure, │
      │                                        NaN/inf features)────────────┤
      ▼                                                                     ▼
  video-*.parquet [T, D]                                           errors-video-*.parquet
  (music: the same with audio patches -> music-*.parquet [S, D], errors-music-*.parquet)
  triplets-*.parquet -> distinct texts + "" -> RunInference -> text-*.parquet [D], errors-text-*.parquet

Outputs are staged and swapped in per modality: a rerun replaces the files of the modalities it
runs and leaves the others (and their sections of encoders.json / summary.json) in place, so e.g.
texts of a new synthesis run can be encoded without touching the video features.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.utils.shared import Shared

from pipelines import progress
from pipelines.features.encoders.base import Encoder
from pipelines.features.schemas import FORMAT, SCHEMAS
from pipelines.features.steps import ERRORS, NAMESPACE, ROWS, Encode, Prepare, TextsOfTriplets, inference_namespace
from pipelines.inference import inference_metrics
from pipelines.io import outputs
from pipelines.io.manifest import Manifest
from pipelines.io.read_rows import ERRORS as READ_ERRORS
from pipelines.io.read_rows import input_rows, spread_rows
from pipelines.options import torch_threads_per_worker
from pipelines.pipeline_info import versions

log = logging.getLogger(__name__)
MODALITIES = ("video", "music", "text")
NULL_TEXT = ""  # text dropout replaces a text by the encoder's embedding of the empty string


@dataclass
class FeaturesJob:
    out_dir: str
    videos: Manifest | None = None  # VideoRequests (pipelines.features.manifests)
    music: Manifest | None = None  # ClipRequests (pipelines.io.manifest)
    triplets: str | None = None  # file or glob of triplets-*.parquet
    video_encoder: Encoder | None = None
    music_encoder: Encoder | None = None
    text_encoder: Encoder | None = None
    batch_frames: int = 16
    batch_patches: int = 64
    batch_texts: int = 256
    runner: str = "local"
    workers: int = 1
    beam_args: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # recorded verbatim in summary.json

    def modalities(self) -> list[str]:
        given = {"video": self.videos, "music": self.music, "text": self.triplets}
        return [m for m in MODALITIES if given[m] is not None]

    def encoder(self, modality: str) -> Encoder:
        return {"video": self.video_encoder, "music": self.music_encoder, "text": self.text_encoder}[modality]

    def batch_units(self, modality: str) -> int:
        return {"video": self.batch_frames, "music": self.batch_patches, "text": self.batch_texts}[modality]


class NothingProduced(RuntimeError):
    """A requested modality produced no feature row: the run is reported as failed (exit status 1)."""


def triplet_files(pattern: str) -> list[str]:
    """The files a --triplets glob matches; each must be Parquet with a `text` column."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from pipelines.io.outputs import resolve_inputs

    try:  # only committed files of an output folder (not those of a run killed mid-commit)
        files = resolve_inputs(pattern)
    except Exception as exc:
        raise ValueError(f"--triplets {pattern}: {exc}") from exc
    if not files:
        raise ValueError(f"--triplets: no file matches {pattern}")
    for path in files:
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                names = pq.ParquetFile(fh).schema_arrow.names
        except Exception as exc:
            raise ValueError(f"--triplets: {path} is not a readable Parquet file: {exc}") from exc
        if "text" not in names:
            raise ValueError(f"--triplets: {path} has no `text` column (columns: {', '.join(names)})")
    return files


def _inputs(p: beam.Pipeline, job: FeaturesJob, modality: str):
    """(inputs, manifest-level errors) of one modality."""
    if modality == "text":
        files = triplet_files(job.triplets)
        texts = (p | "TripletFiles" >> beam.Create(files)
                 | "ReadTriplets" >> beam.io.ReadAllFromParquetBatched(columns=["text"])
                 | "TextRows" >> beam.FlatMap(lambda table: table.column(0).to_pylist())
                 | "AsRows" >> beam.Map(lambda text: {"text": text})
                 | "Texts" >> beam.ParDo(TextsOfTriplets()))
        null = p | "NullText" >> beam.Create([NULL_TEXT])
        return ((texts, null) | "AllTexts" >> beam.Flatten() | "Distinct" >> beam.Distinct()
                | "SpreadTexts" >> beam.Reshuffle()), None
    manifest = job.videos if modality == "video" else job.music
    rows = p | f"{modality}Manifest" >> manifest.read(spread_rows(job.runner, job.workers), f"rows_{modality}")
    return rows["ok"], rows[READ_ERRORS]


def build(p: beam.Pipeline, job: FeaturesJob, staging: str) -> None:
    shared = Shared()
    threads = torch_threads_per_worker(job.workers) if job.runner == "local" else None
    for m in job.modalities():
        encoder = job.encoder(m)
        items, manifest_errors = _inputs(p, job, m)
        prepared = (items | f"{m}Prepare"
                    >> beam.ParDo(Prepare(encoder, shared, threads)).with_outputs(ERRORS, main="ok"))
        encoded = prepared.ok | f"{m}Encode" >> Encode(encoder, shared, threads, job.batch_units(m))
        # distinct texts: their number is known only at the end
        total = None if m == "text" else progress.rows_hint((job.videos if m == "video" else job.music).source)
        failed = [prepared[ERRORS], encoded[ERRORS]] + ([manifest_errors] if manifest_errors is not None else [])
        unit = {"video": "videos", "music": "clips"}.get(m, "texts")
        progress.track(p, f"features {m}", encoded.ok, failed, total, unit)
        (encoded.ok | f"{m}Row" >> beam.Map(ROWS[m])
         | f"{m}Write" >> beam.io.WriteToParquet(outputs.join(staging, m), SCHEMAS[m], file_name_suffix=".parquet"))
        outputs.write_errors({**({"manifest": manifest_errors} if manifest_errors is not None else {}),
                              "prepare": prepared[ERRORS], "encode": encoded[ERRORS]}, staging, f"errors-{m}")


def describe_encoders(job: FeaturesJob) -> dict:
    """Each requested modality's encoder description (fails early, in the driver, on a bad model id)."""
    return {m: job.encoder(m).describe() for m in job.modalities()}


def run(job: FeaturesJob) -> dict:
    """Runs the job and swaps the outputs of each modality that produced a row into out_dir (with its
    sections of encoders.json and summary.json); a modality with no row keeps its previous outputs."""
    if not job.modalities():
        raise ValueError("features: nothing to do: give --videos, --music and/or --triplets")
    encoders = describe_encoders(job)
    prefixes = [x for m in job.modalities() for x in (m, f"errors-{m}")]
    staged = outputs.run_staged(job.out_dir, prefixes, lambda p, staging: build(p, job, staging),
                                job.runner, job.workers, job.beam_args)
    summary = _summary(job, staged, _metrics(staged.result), encoders)
    inference = inference_metrics(staged.result, [inference_namespace(m) for m in job.modalities()])
    for m in job.modalities():
        summary["modalities"][m]["inference"] = inference.get(inference_namespace(m))
    done = [m for m in job.modalities() if summary["modalities"][m]["encoded"] > 0]
    empty = [m for m in job.modalities() if m not in done]
    merged = _merged(job.out_dir, "summary.json", {k: v for k, v in summary.items() if k != "modalities"},
                     {m: summary["modalities"][m] for m in done}, section="modalities")
    failed_dir = None
    if empty:  # their errors are kept for the user; their previous outputs stay committed
        failed_dir = outputs.keep_previous(staged, summary, None if not done else
                                           [x for m in empty for x in (m, f"errors-{m}")])
    if done:
        encoders_json = _merged(job.out_dir, "encoders.json", {"format": FORMAT}, {
            m: {**encoders[m], "files": f"{m}-*.parquet", "errors": f"errors-{m}-*.parquet",
                "rows": summary["modalities"][m]["encoded"], "updated_at": summary["finished_at"],
                "versions": summary["versions"]}
            for m in done})
        outputs.commit(staged, [x for m in done for x in (m, f"errors-{m}")],
                       merged, {"encoders.json": encoders_json}, clear_failed=not empty)
    if empty:
        messages = []
        for m in empty:
            stats = summary["modalities"][m]
            messages.append(outputs.describe_failure(
                f"features: no {m} features", stats["inputs"], stats["errors_by_type"], stats["error_examples"],
                bool(outputs.committed_files(job.out_dir, m)), job.out_dir, failed_dir))
        raise NothingProduced("\n".join(messages))
    return merged


def _metrics(result) -> dict:
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # some runners report no metrics; counts then come from the files alone
        return {}
    found: dict[str, int] = {}
    for c in counters:
        found[c.key.metric.name] = found.get(c.key.metric.name, 0) + int(c.committed or c.attempted or 0)
    return found


def _column_sum(paths: list[str], column: str) -> int:
    return int(sum(v or 0 for v in outputs.iter_column(paths, column)))


def _summary(job: FeaturesJob, staged: outputs.StagedRun, metrics: dict, encoders: dict) -> dict:
    per: dict[str, dict] = {}
    elapsed = staged.elapsed
    for m in job.modalities():
        encoded = outputs.parquet_rows(staged.staged[m])
        failed = outputs.parquet_rows(staged.staged[f"errors-{m}"])
        digest = outputs.error_digest(staged.staged[f"errors-{m}"])
        stats: dict = {"encoded": encoded, "failed": failed,
                       "errors_by_type": {k: v["count"] for k, v in sorted(digest.items())},
                       "error_examples": {k: v["example"] for k, v in sorted(digest.items())},
                       "encoder": encoders[m]["name"], "dim": encoders[m]["dim"],
                       "outputs": staged.final_paths(m), "errors": staged.final_paths(f"errors-{m}"),
                       "run_id": staged.run_id}
        if m == "text":
            stats["inputs"] = encoded + failed  # distinct texts, "" included
            stats["triplet_files"] = triplet_files(job.triplets)
            stats["triplet_rows"] = outputs.parquet_rows(stats["triplet_files"])
            stats["null_texts_skipped"] = metrics.get("null_texts")
            stats["null_text_row"] = any(t == NULL_TEXT for t in outputs.iter_column(staged.staged[m], "text"))
        else:
            manifest = job.videos if m == "video" else job.music
            counted = input_rows(staged.result, f"rows_{m}")
            stats["inputs"] = counted if counted is not None else encoded + failed
            stats["manifest"] = manifest.source
            unit = "frames" if m == "video" else "segments"
            stats[unit] = _column_sum(staged.staged[m], "n_frames" if m == "video" else "n_segments")
        if encoded + failed != stats["inputs"]:  # never expected: a row was lost or duplicated
            raise RuntimeError(f"{m}: row accounting failed: {stats['inputs']} inputs but {encoded} encoded "
                               f"+ {failed} errors")
        stats["adds_up"] = True
        per[m] = {"inputs": stats.pop("inputs"), **stats}
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for stats in per.values():
        stats["finished_at"] = finished  # sections of earlier runs keep their own date
    units = {m: per[m].get("frames", per[m].get("segments", per[m]["encoded"])) for m in per}
    return {
        "stage": "features",
        "modalities": per,
        "timing": {"wall_s": round(elapsed, 3),
                   "units_per_s": {m: round(n / elapsed, 2) if elapsed else None for m, n in units.items()}},
        "runner": {"runner": job.runner, "workers": job.workers, "beam_args": job.beam_args},
        "options": job.options,
        "versions": versions(),
        "finished_at": finished,
    }


def _read_json(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return {}
    try:
        with FileSystems.open(path) as fh:
            data = json.loads(fh.read().decode("utf-8"))
        return data if isinstance(data, dict) else {}
    except (ValueError, OSError):
        return {}


def _merged(out_dir: str, name: str, top: dict, sections: dict, section: str | None = None) -> dict:
    """out_dir/name with this run's modality sections replaced and the others (earlier runs) kept."""
    path = outputs.join(out_dir, name)
    old = _read_json(path)
    kept = (old.get(section, {}) if section else {k: v for k, v in old.items() if k in MODALITIES})
    merged_sections = {m: s for m, s in {**kept, **sections}.items() if m in MODALITIES}
    ordered = {m: merged_sections[m] for m in MODALITIES if m in merged_sections}
    return {**top, section: ordered} if section else {**top, **ordered}
