"""The features pipeline's steps, the same three for every modality: prepare (decode a video into
frames, audio into patches, or take a text as is), encode batches of units through Beam's
RunInference (EncoderHandler), build the output row.

Each step sends what it cannot handle to an `errors` output with the reason, so every input ends
either in its modality's features output or in its errors output.
"""
from __future__ import annotations

import json
import logging

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference
from apache_beam.utils.shared import Shared

from pipelines.features.encoders.base import Encoder, Prepared, concat_units
from pipelines.inference import ComponentHandler, Outcome
from pipelines.io.errors import error_from_exception
from pipelines.prepare_step import ERRORS, PrepareStep
from pipelines.shared_state import acquire as acquire_shared

NAMESPACE = "features"
log = logging.getLogger(__name__)


def state_key(encoder: Encoder) -> str:
    return type(encoder).__name__ + json.dumps(vars(encoder), sort_keys=True, default=str)  # settings, no I/O


def acquire(shared: Shared, encoder: Encoder, threads: int | None):
    """The encoder's loaded state: one copy per worker process, shared by its threads, the prepare
    step and RunInference (whose handler loads through the same key)."""
    return acquire_shared(shared, state_key(encoder), encoder.load, threads,
                          what=f"{encoder.modality} encoder {encoder.name}")


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


class NonFiniteFeatures(ValueError):
    """The encoder produced NaN or infinite values for this input: they are never written."""

    reason = "bad_features"


def inference_namespace(modality: str) -> str:
    """Where RunInference records the metrics of one modality's encoder."""
    return f"{NAMESPACE}_{modality}_inference"


class EncoderHandler(ComponentHandler):
    """A feature encoder as a Beam ModelHandler: batches of `batch_units` units (frames, patches,
    texts) from several inputs, encoded in chunks of at most `batch_units` (one long video is chunked
    too), split back per input; an input whose features are not all finite is that input's error."""

    def __init__(self, encoder: Encoder, shared: Shared, threads: int | None = None, batch_units: int = 32):
        super().__init__(encoder, shared, state_key(encoder), threads, batch_units,
                         inference_namespace(encoder.modality), f"{encoder.modality} encoder {encoder.name}")

    def units(self, element: Prepared) -> int:
        return max(1, len(element))

    def predict(self, state, batch):
        encoder, dim = self.component, self.component.dim()
        units = concat_units(list(batch))
        chunks = [np.asarray(encoder.encode(state, units[i:i + self.max_units]), dtype=np.float32)
                  for i in range(0, len(units), self.max_units)]
        out = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
        if out.shape != (len(units), dim):
            raise ValueError(f"encoder {encoder.name} returned shape {out.shape} for {len(units)} "
                             f"units, expected ({len(units)}, {dim})")
        return np.split(out, np.cumsum([len(p) for p in batch])[:-1])

    def check(self, element: Prepared, feats) -> None:
        bad = ~np.isfinite(feats)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise NonFiniteFeatures(f"the encoder returned NaN or infinite features for {len(rows)} of "
                                    f"{len(feats)} units (first at unit {int(rows[0])}); nothing written")


class RouteEncoded(beam.DoFn):
    """Encoded inputs on to their rows; failed ones to errors with their reason."""

    def __init__(self, modality: str):
        self.stage = f"encode_{modality}"
        self.encoded = Metrics.counter(NAMESPACE, f"{modality}_encoded")
        self.units = Metrics.counter(NAMESPACE, f"{modality}_units")
        self.failed = Metrics.counter(NAMESPACE, f"{modality}_encode_failed")

    def process(self, outcome: Outcome):
        prepared = outcome.element
        if outcome.ok:
            self.encoded.inc()
            self.units.inc(len(prepared))
            yield prepared, outcome.value
        else:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_from_exception(prepared.key, self.stage, outcome.error,
                                                                        prepared.ref))


class Encode(beam.PTransform):
    """Prepared inputs -> (Prepared, features [n, dim]) through RunInference, failures to `errors`."""

    def __init__(self, encoder: Encoder, shared: Shared, threads: int | None = None, batch_units: int = 32):
        super().__init__()
        self.encoder, self.shared, self.threads, self.batch_units = encoder, shared, threads, batch_units

    def expand(self, prepared):
        m = self.encoder.modality
        return (prepared
                | f"{m}RunInference" >> RunInference(EncoderHandler(self.encoder, self.shared, self.threads,
                                                                    self.batch_units))
                | f"{m}Route" >> beam.ParDo(RouteEncoded(m)).with_outputs(ERRORS, main="ok"))


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
