"""The tag pipeline's steps: prepare (decode + preprocess), batched predict, map to the vocabulary.

Each step sends what it cannot handle to an `errors` output with the reason, so every input row
ends either in the tags output or in the errors output.
"""
from __future__ import annotations

import json
import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from pipelines.io.errors import error_from_exception, error_record
from pipelines.prepare_step import ERRORS, PrepareStep
from pipelines.shared_state import acquire
from pipelines.tag.backends.base import Prepared, TaggerBackend

log = logging.getLogger(__name__)


def _acquire(shared: Shared, backend: TaggerBackend, threads: int | None):
    key = json.dumps(backend.describe(), sort_keys=True, default=str)
    return acquire(shared, key, backend.load, threads, what=f"tagger {backend.name}")


class PrepareClip(PrepareStep):
    """Decode and preprocess one clip for the tagger; bad audio becomes the clip's error."""

    def __init__(self, backend: TaggerBackend, shared: Shared, threads: int | None = None):
        super().__init__(backend, "prepare", "tag", "prepare_failed")
        self.shared, self.threads = shared, threads

    def load_state(self):
        return _acquire(self.shared, self.component, self.threads)

    def error_id(self, clip):
        return clip.music_id

    def error_ref(self, clip):
        return clip.ref()


class PredictBatch(beam.DoFn):
    """Runs the model on a batch of clips; if the batch fails, retries clip by clip to isolate the bad one."""

    def __init__(self, backend: TaggerBackend, shared: Shared, threads: int | None = None, log_every: int = 50):
        self.backend, self.shared, self.threads, self.log_every = backend, shared, threads, log_every
        self.tagged = Metrics.counter("tag", "tagged")
        self.failed = Metrics.counter("tag", "predict_failed")

    def setup(self):
        self.state = _acquire(self.shared, self.backend, self.threads)
        self.started, self.done = time.perf_counter(), 0

    def process(self, batch: list[Prepared]):
        try:
            outputs = list(zip(batch, self.backend.predict(self.state, batch)))
        except Exception:
            outputs = list(self._one_by_one(batch))
        for prepared, scores in outputs:
            if isinstance(scores, Exception):
                self.failed.inc()
                clip = prepared.clip
                yield beam.pvalue.TaggedOutput(ERRORS, error_from_exception(clip.music_id, "tag", scores, clip.ref()))
            else:
                self.tagged.inc()
                yield prepared, scores
        self._progress(len(batch))

    def _one_by_one(self, batch):
        for prepared in batch:
            try:
                yield prepared, self.backend.predict(self.state, [prepared])[0]
            except Exception as exc:
                yield prepared, exc

    def _progress(self, n: int):
        before, self.done = self.done, self.done + n
        if self.done // self.log_every > before // self.log_every:
            rate = self.done / max(time.perf_counter() - self.started, 1e-9)
            log.info("tagged %d clips in this worker (%.1f clips/s)", self.done, rate)


class ToTagRecord(beam.DoFn):
    """Maps raw scores onto the vocabulary and builds the output row."""

    def __init__(self, tagger_name: str, mapping):
        self.tagger_name, self.mapping = tagger_name, mapping

    def process(self, element):
        prepared, scores = element
        clip = prepared.clip
        try:
            tags = self.mapping.apply(scores)
        except ValueError as exc:
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(clip.music_id, "map", "bad_scores", str(exc), clip.ref()))
            return
        yield {
            "music_id": clip.music_id,
            "video_id": clip.video_id,
            "tagger": self.tagger_name,
            "tags": tags,
            "tagger_scores": [{"model": s.model, "label": s.label, "score": s.score} for s in scores],
            "duration_s": prepared.duration_s,
            "n_patches": prepared.n_patches,
            "descriptors": prepared.descriptors,
            "audio_path": clip.audio_path or None,
            "start_s": clip.start_s,
            "end_s": clip.end_s,
        }
