"""The synthesize pipeline's steps: parse tracks, select tags and fan out work, run a method.

Rows travel in lists (a chunk of the input file each) and texts in Arrow record batches: per row these
steps do microseconds of work, and Beam's per-element dispatch between steps would cost more than that.
"""
from __future__ import annotations

import collections
import functools
import gc
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.io.chunks import Chunk
from pipelines.io.errors import error_from_exception, error_record
from pipelines.synthesize.select import TagSelection, select_tags
from pipelines.synthesize.triplets import triplet_batch
from pipelines.synthesize.work import Track, WorkItem, row_seed, track_from_row

ERRORS = "errors"
log = logging.getLogger(__name__)


def parse_track(row: tuple[dict, Any]) -> Track | beam.pvalue.TaggedOutput:
    """A checked (ref, row) -> its Track, or an error naming the row (ReadInput's `then`)."""
    ref, raw = row
    music_id = str(raw.get("music_id") or "").strip() if isinstance(raw, dict) else ""
    # rows without a usable id are named by where they are: "<file>:<row>"
    error_id = music_id or f"{ref.get('source')}:{ref.get('row', '?')}"
    if isinstance(raw, Exception):
        return beam.pvalue.TaggedOutput(ERRORS, error_record(error_id, "input", "malformed_row", str(raw), ref))
    try:
        return track_from_row(raw, _ref_json(ref))
    except ValueError as exc:
        return beam.pvalue.TaggedOutput(ERRORS, error_from_exception(error_id, "input", exc, {"ref": ref, "raw": raw}))


def _ref_json(ref: dict) -> str:
    """json.dumps(ref) of the {"source": path, "row": n} refs ReadFileRows makes, with the path's JSON
    made once per file instead of once per row; other refs go through json.dumps."""
    if tuple(ref) == ("source", "row") and type(ref["source"]) is str and type(ref["row"]) is int:
        return f'{{"source": {_json_text(ref["source"])}, "row": {ref["row"]}}}'
    return json.dumps(ref, default=str)


@functools.lru_cache(maxsize=256)
def _json_text(text: str) -> str:
    return json.dumps(text)


class ExpandWork(beam.DoFn):
    """Selects each track's tags once, then emits, per method, the list of its WorkItems (one per track
    and sample) for the list of tracks."""

    def __init__(self, methods: list[str], samples: int, seed: int, selection: TagSelection):
        self.methods, self.samples, self.seed, self.selection = methods, samples, seed, selection

    def process(self, tracks):
        work = {method: Chunk() for method in self.methods}
        for track in tracks:
            selected, fallback = select_tags(list(track.tags), self.selection)
            selected = tuple(selected)
            # downstream needs only the selected tags: the full list (89 for a tagger's output) would be
            # copied into every pickled WorkItem (Beam's size sampling, shuffles between workers)
            track = Track(track.music_id, track.video_id, (), track.ref, track.from_tagger)
            for method, items in work.items():
                for sample in range(self.samples):
                    seed = row_seed(self.seed, track.music_id, track.video_id, method, sample)
                    items.append(WorkItem(track, selected, method, sample, seed, fallback))
        for method, items in work.items():
            yield beam.pvalue.TaggedOutput(method, items)


class RunMethod(beam.DoFn):
    """Runs one method on lists of WorkItems; per-item failures go to errors with their reason, the texts
    finished during one call leave together as an Arrow RecordBatch of triplet rows (TRIPLETS_SCHEMA).

    A method with a fixed batch size gets each list cut into batches of that size; other methods get
    the lists as they come (BatchElements sized them). A method with `overlap` > 0 keeps that many
    batches in progress while it starts the next one (an LLM answers batch N while batch N+1 is planned
    and sent), so the remote side never waits for this process between batches. Batches still open when
    the bundle ends are finished in finish_bundle.
    """

    def __init__(self, method):
        self.method = method
        name = method.name
        self.written = Metrics.counter(name, "texts")
        self.failed = Metrics.counter(name, "failed")
        self.busy_ms = Metrics.counter(name, "busy_ms")
        self.cache_hits = Metrics.counter(name, "cache_hits")
        self.cache_misses = Metrics.counter(name, "cache_misses")
        self.attempts = Metrics.counter(name, "llm_attempts")  # HTTP requests / generate calls made
        self.calls = Metrics.counter(name, "llm_calls")  # completions asked for (each may take several attempts)

    def setup(self):
        self.method.setup()
        self._batch_size = self.method.fixed_batch_size()
        # Everything alive now (imports, the runner, the method's tables) is kept out of full garbage
        # collections, which otherwise scan it all again and again: a quarter of the `tags` method's
        # CPU time went there (bench/synthesize_floor.py), and with an LLM each full collection held
        # the GIL for ~100 ms while the client's event loop sent nothing. The freeze is process-wide
        # and costs only memory held by reference cycles made before this point (refcounting still
        # frees the rest); it lasts until the last RunMethod sharing this process is torn down.
        _freeze_gc()
        self._froze = True

    def teardown(self):
        if getattr(self, "_froze", False):
            _unfreeze_gc()
            self._froze = False
        self.method.teardown()

    def start_bundle(self):
        self._open: collections.deque = collections.deque()  # (batch, handle, timestamp, window)

    def process(self, items: list[WorkItem], timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        size = self._batch_size or len(items)
        texts: dict = {}  # (timestamp, window) -> texts finished during this call
        for i in range(0, len(items), size):
            batch = items[i:i + size]
            started = time.perf_counter()
            try:
                handle = self.method.start(batch)
            except Exception as exc:  # the whole batch failed (e.g. a model error): each row says why
                handle = _Failed(exc)
            self.busy_ms.inc(int(1000 * (time.perf_counter() - started)))
            self._open.append((batch, handle, timestamp, window))
            while len(self._open) > self.method.overlap:
                yield from self._emit(*self._open.popleft(), texts)
        yield from self._texts(texts)

    def finish_bundle(self):
        texts: dict = {}
        while self._open:
            yield from self._emit(*self._open.popleft(), texts)
        yield from self._texts(texts)

    def _emit(self, batch: list[WorkItem], handle, timestamp, window, texts: dict):
        """A batch's errors, with the batch's own timestamp and window (they may leave during a later
        element's process() or in finish_bundle); its texts join `texts` under the same."""
        for out in self._outputs(batch, handle):
            if isinstance(out, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
            else:
                texts.setdefault((timestamp, window), []).extend(out)

    def _texts(self, texts: dict):
        """One record batch per timestamp and window of the texts a call finished: a batch per method
        batch (64 rows) spent more on Arrow's per-array overhead than on the rows."""
        for (timestamp, window), written in texts.items():
            yield WindowedValue(triplet_batch(written), timestamp, [window])

    def _outputs(self, batch: list[WorkItem], handle):
        started = time.perf_counter()
        if isinstance(handle, _Failed):
            outs = [handle.error] * len(batch)
        else:
            try:
                outs = self.method.finish(handle)
            except Exception as exc:
                outs = [exc] * len(batch)
        self.busy_ms.inc(int(1000 * (time.perf_counter() - started)))
        written = []
        for item, out in zip(batch, outs, strict=True):
            if isinstance(out, Exception):
                self.failed.inc()
                attempts = getattr(out, "attempts", 0) or 0
                self.attempts.inc(attempts)
                self.calls.inc(1 if attempts else 0)
                yield beam.pvalue.TaggedOutput(ERRORS, error_from_exception(
                    item.track.music_id, self.method.name, out,
                    {"ref": item.track.ref, "video_id": item.track.video_id, "sample": item.sample}))
                continue
            meta = out.metadata
            if meta.get("cache_hit") is not None:
                (self.cache_hits if meta["cache_hit"] else self.cache_misses).inc()
                if not meta["cache_hit"]:
                    self.attempts.inc(int(meta.get("attempts") or 0))
                    self.calls.inc()
            written.append((item, out))
        if written:
            self.written.inc(len(written))
            yield written


_GC_FROZEN = {"holders": 0}
_GC_LOCK = threading.Lock()


def _freeze_gc() -> None:
    # No collection first: it cost 0.1-0.2 s per step, and garbage frozen now is only freed later, at
    # the next full collection after the unfreeze.
    with _GC_LOCK:
        gc.freeze()
        _GC_FROZEN["holders"] += 1


def _unfreeze_gc() -> None:
    """Back to ordinary collection once no step in this process needs the freeze (several methods'
    steps share a worker; the first one done must not unfreeze for the others)."""
    with _GC_LOCK:
        _GC_FROZEN["holders"] -= 1
        if _GC_FROZEN["holders"] == 0:
            gc.unfreeze()


@dataclass
class _Failed:
    """A batch whose start() raised: every item in it fails with this error."""

    error: Exception
