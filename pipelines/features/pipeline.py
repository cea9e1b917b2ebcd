"""`viml-synth features`: frozen pretrained encoders turn media and texts into features, once.

Data flow, one branch per modality given (any subset):
  videos manifest ──(bad row)──────────────────────────────────────────────┐
      │ Create + Reshuffle                                                  │
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

from pipelines.features.encoders.base import Encoder
from pipelines.features.schemas import ERRORS_SCHEMA, FORMAT, SCHEMAS
from pipelines.features.steps import ERRORS, NAMESPACE, ROWS, Encode, Prepare, TextsOfTriplets, inference_namespace
from pipelines.io import outputs
from pipelines.io.manifest import Manifest
from pipelines.inference import inference_metrics
from pipelines.io.parquet_rows import ReadParquetRows
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

    try:
        files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception as exc:  # Beam raises BeamIOError for a folder that does not exist
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
        texts = (p | "ReadTriplets" >> ReadParquetRows(job.triplets, columns=["text"])
                 | "Texts" >> beam.ParDo(TextsOfTriplets()))
        null = p | "NullText" >> beam.Create([NULL_TEXT])
        return ((texts, null) | "AllTexts" >> beam.Flatten() | "Distinct" >> beam.Distinct()
                | "SpreadTexts" >> beam.Reshuffle()), []
    manifest = job.videos if modality == "video" else job.music
    items = p | f"{modality}Inputs" >> beam.Create(manifest.clips) | f"{modality}Spread" >> beam.Reshuffle()
    return items, manifest.errors


def build(p: beam.Pipeline, job: FeaturesJob, staging: str) -> None:
    shared = Shared()
    threads = torch_threads_per_worker(job.workers) if job.runner == "local" else None
    for m in job.modalities():
        encoder = job.encoder(m)
        items, manifest_errors = _inputs(p, job, m)
        prepared = items | f"{m}Prepare" >> beam.ParDo(Prepare(encoder, shared, threads)).with_outputs(ERRORS, main="ok")
        encoded = prepared.ok | f"{m}Encode" >> Encode(encoder, shared, threads, job.batch_units(m))
        (encoded.ok | f"{m}Row" >> beam.Map(ROWS[m])
         | f"{m}Write" >> beam.io.WriteToParquet(outputs.join(staging, m), SCHEMAS[m], file_name_suffix=".parquet"))
        (
            (p | f"{m}ManifestErrors" >> beam.Create(manifest_errors), prepared[ERRORS], encoded[ERRORS])
            | f"{m}AllErrors" >> beam.Flatten()
            | f"{m}WriteErrors" >> beam.io.WriteToParquet(outputs.join(staging, f"errors-{m}"), ERRORS_SCHEMA,
                                                          file_name_suffix=".parquet")
        )


def describe_encoders(job: FeaturesJob) -> dict:
    """Each requested modality's encoder description (fails early, in the driver, on a bad model id)."""
    return {m: job.encoder(m).describe() for m in job.modalities()}


def run(job: FeaturesJob) -> dict:
    """Runs the job, swaps its outputs into out_dir, updates encoders.json and summary.json."""
    if not job.modalities():
        raise ValueError("features: nothing to do: give --videos, --music and/or --triplets")
    encoders = describe_encoders(job)
    prefixes = [x for m in job.modalities() for x in (m, f"errors-{m}")]
    files, result, elapsed = outputs.run_staged(job.out_dir, prefixes, lambda p, staging: build(p, job, staging),
                                                job.runner, job.workers, job.beam_args)
    summary = _summary(job, files, elapsed, _metrics(result), encoders)
    inference = inference_metrics(result, [inference_namespace(m) for m in job.modalities()])
    for m in job.modalities():
        summary["modalities"][m]["inference"] = inference.get(inference_namespace(m))
    _write_merged(job.out_dir, "encoders.json", {"format": FORMAT}, {
        m: {**encoders[m], "files": f"{m}-*.parquet", "errors": f"errors-{m}-*.parquet",
            "rows": summary["modalities"][m]["encoded"], "updated_at": summary["finished_at"],
            "versions": summary["versions"]}
        for m in job.modalities()})
    merged = _write_merged(job.out_dir, "summary.json", {k: v for k, v in summary.items() if k != "modalities"},
                           summary["modalities"], section="modalities")
    empty = [m for m in job.modalities() if summary["modalities"][m]["encoded"] == 0]
    if empty:
        raise NothingProduced(f"no features for {', '.join(empty)}: every input failed; see "
                              f"{outputs.join(job.out_dir, 'errors-*.parquet')}")
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
    import pyarrow.parquet as pq

    return int(sum(sum(v or 0 for v in pq.read_table(f, columns=[column]).column(0).to_pylist()) for f in paths))


def _errors_by_type(paths: list[str]) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for f in paths:
        for t in pq.read_table(f, columns=["error_type"]).column(0).to_pylist():
            counts[t] = counts.get(t, 0) + 1
    return dict(sorted(counts.items()))


def _summary(job: FeaturesJob, files: dict[str, list[str]], elapsed: float, metrics: dict, encoders: dict) -> dict:
    import pyarrow.parquet as pq

    per: dict[str, dict] = {}
    for m in job.modalities():
        encoded = outputs.parquet_rows(files[m])
        failed = outputs.parquet_rows(files[f"errors-{m}"])
        stats: dict = {"encoded": encoded, "failed": failed, "errors_by_type": _errors_by_type(files[f"errors-{m}"]),
                       "encoder": encoders[m]["name"], "dim": encoders[m]["dim"], "outputs": files[m],
                       "errors": files[f"errors-{m}"]}
        if m == "text":
            stats["inputs"] = encoded + failed  # distinct texts, "" included
            stats["triplet_files"] = triplet_files(job.triplets)
            stats["triplet_rows"] = outputs.parquet_rows(stats["triplet_files"])
            stats["null_texts_skipped"] = metrics.get("null_texts")
            stats["null_text_row"] = any(NULL_TEXT in pq.read_table(f, columns=["text"]).column(0).to_pylist()
                                         for f in files[m])
        else:
            manifest = job.videos if m == "video" else job.music
            stats["inputs"] = manifest.n_rows
            stats["manifest"] = manifest.source
            unit = "frames" if m == "video" else "segments"
            stats[unit] = _column_sum(files[m], "n_frames" if m == "video" else "n_segments")
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


def _write_merged(out_dir: str, name: str, top: dict, sections: dict, section: str | None = None) -> dict:
    """Replace this run's modality sections of out_dir/name, keep the others (earlier runs)."""
    path = outputs.join(out_dir, name)
    old = _read_json(path)
    kept = (old.get(section, {}) if section else {k: v for k, v in old.items() if k in MODALITIES})
    merged_sections = {m: s for m, s in {**kept, **sections}.items() if m in MODALITIES}
    ordered = {m: merged_sections[m] for m in MODALITIES if m in merged_sections}
    data = {**top, section: ordered} if section else {**top, **ordered}
    outputs.write_json(path, data)
    return data
