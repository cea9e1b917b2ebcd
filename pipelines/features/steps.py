"""The features pipeline's steps, the same three for every modality: prepare (decode a video into
frames, audio into patches, or take a text as is), encode a batch of units, build the output row.

Each step sends what it cannot handle to an `errors` output with the reason, so every input ends
either in its modality's features output or in its errors output.
"""
from __future__ import annotations

import json
import logging
import time

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from pipelines.features.encoders.base import Encoder, Prepared, concat_units
from pipelines.io.errors import error_from_exception, error_record
from pipelines.prepare_step import ERRORS, PrepareStep
from pipelines.shared_state import acquire as acquire_shared

NAMESPACE = "features"
log = logging.getLogger(__name__)


def acquire(shared: Shared, encoder: Encoder, threads: int | None):
    """The encoder's loaded state: one copy per worker process, shared by its threads and both steps."""
    key = type(encoder).__name__ + json.dumps(vars(encoder), sort_keys=True, default=str)  # settings, no I/O
    return acquire_shared(shared, key, encoder.load, threads, what=f"{encoder.modality} encoder {encoder.name}")


def item_key(item, modality: str) -> str:
    """The id an input is known by: video_id, music_id, or the text itself."""
    if modality in ("video", "music"):
        return getattr(item, f"{modality}_id", None) or repr(item)
    return item if isinstance(item, str) else repr(item)


def item_ref(item):
    return item.ref() if hasattr(item, "ref") else {"text": item}


class Prepare(PrepareStep):
    """One input -> its encoder's units (frames, patches, a text); a failure is that input's error."""

    def __init__(self, encoder: Encoder, shared: Shared, threads: int | None = None):
        super().__init__(encoder, f"prepare_{encoder.modality}", NAMESPACE, f"{encoder.modality}_prepare_failed")
        self.shared, self.threads = shared, threads

    def load_state(self):
        return acquire(self.shared, self.component, self.threads)

    def error_id(self, item):
        return item_key(item, self.component.modality)

    def error_ref(self, item):
        return item_ref(item)


class EncodeBatch(beam.DoFn):
    """Encodes the units of several inputs in chunks of `batch_units`; a failing batch is retried
    input by input so one bad input cannot take the others down."""

    def __init__(self, encoder: Encoder, shared: Shared, threads: int | None = None, batch_units: int = 32,
                 log_every: int = 100):
        self.encoder, self.shared, self.threads = encoder, shared, threads
        self.batch_units, self.log_every = max(1, int(batch_units)), log_every
        self.stage = f"encode_{encoder.modality}"
        self.encoded = Metrics.counter(NAMESPACE, f"{encoder.modality}_encoded")
        self.units = Metrics.counter(NAMESPACE, f"{encoder.modality}_units")
        self.failed = Metrics.counter(NAMESPACE, f"{encoder.modality}_encode_failed")

    def setup(self):
        self.state = acquire(self.shared, self.encoder, self.threads)
        self.dim = self.encoder.dim()
        self.started, self.done = time.perf_counter(), 0

    def _encode(self, batch: list[Prepared]) -> list[np.ndarray]:
        units = concat_units(batch)
        chunks = [np.asarray(self.encoder.encode(self.state, units[i:i + self.batch_units]), dtype=np.float32)
                  for i in range(0, len(units), self.batch_units)]
        out = np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)
        if out.shape != (len(units), self.dim):
            raise ValueError(f"encoder {self.encoder.name} returned shape {out.shape} for {len(units)} "
                             f"units, expected ({len(units)}, {self.dim})")
        return np.split(out, np.cumsum([len(p) for p in batch])[:-1])

    def process(self, batch: list[Prepared]):
        try:
            results = list(zip(batch, self._encode(batch)))
        except Exception:
            results = list(self._one_by_one(batch))
        for prepared, feats in results:
            if isinstance(feats, Exception):
                self.failed.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, error_from_exception(prepared.key, self.stage, feats, prepared.ref))
            elif not np.isfinite(feats).all():
                self.failed.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, error_record(
                    prepared.key, self.stage, "bad_features", "the encoder returned NaN or infinite features",
                    prepared.ref))
            else:
                self.encoded.inc()
                self.units.inc(len(prepared))
                yield prepared, feats
        self._progress(len(batch))

    def _one_by_one(self, batch):
        for prepared in batch:
            try:
                yield prepared, self._encode([prepared])[0]
            except Exception as exc:
                yield prepared, exc

    def _progress(self, n: int):
        before, self.done = self.done, self.done + n
        if self.done // self.log_every > before // self.log_every:
            rate = self.done / max(time.perf_counter() - self.started, 1e-9)
            log.info("encoded %d %s inputs in this worker (%.1f/s)", self.done, self.encoder.modality, rate)


def video_row(element) -> dict:
    prepared, feats = element
    m = prepared.meta
    return {"video_id": prepared.key, "features": feats.tolist(), "n_frames": len(feats),
            "timestamps": m["timestamps"], "start_s": m["start_s"], "end_s": m["end_s"], "video_path": m["video_path"]}


def music_row(element) -> dict:
    prepared, feats = element
    m = prepared.meta
    return {"music_id": prepared.key, "features": feats.tolist(), "n_segments": len(feats),
            "start_s": m["start_s"], "end_s": m["end_s"], "duration_s": m["duration_s"], "audio_path": m["audio_path"]}


def text_row(element) -> dict:
    prepared, feats = element
    return {"text": prepared.key, "features": feats[0].tolist()}


ROWS = {"video": video_row, "music": music_row, "text": text_row}


class TextsOfTriplets(beam.DoFn):
    """`text` cells of triplet rows; null texts are counted and skipped ("" is always encoded anyway)."""

    def __init__(self):
        self.rows = Metrics.counter(NAMESPACE, "triplet_rows")
        self.nulls = Metrics.counter(NAMESPACE, "null_texts")

    def process(self, row):
        self.rows.inc()
        text = row.get("text")
        if text is None:
            self.nulls.inc()
            return
        yield text
