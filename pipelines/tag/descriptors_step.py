"""The tag pipeline's descriptor step: measures a prepared clip's decoded audio (pipelines/tag/descriptors.py)
and then drops the audio, so what goes on to batching carries only the tagger's features.

A descriptor that fails is recorded in the clip's `descriptors.errors`; the clip is never dropped.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.tag import descriptors


class Describe(beam.DoFn):
    def __init__(self, which: tuple[str, ...]):
        self.which = tuple(which)
        self.measured = Metrics.counter("descriptors", "clips_measured")
        self.failed = Metrics.counter("descriptors", "descriptor_failed")

    def process(self, prepared):
        record = prepared.descriptors  # a backend without audio may bring its own (precomputed bpm/key)
        if self.which and prepared.audio is not None:
            result = descriptors.compute(prepared.audio, prepared.sample_rate, self.which)
            record = result.record()
            self.measured.inc()
            self.failed.inc(len(result.errors))
        yield dataclasses.replace(prepared, audio=None, descriptors=record)


def failures(tag_files: list[str]) -> dict[str, int]:
    """{descriptor group: clips it failed on} over written tags-*.parquet files, for summary.json."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for f in tag_files:
        for record in pq.read_table(f, columns=["descriptors"]).column(0).to_pylist():
            for err in (record or {}).get("errors") or ():
                counts[err["descriptor"]] = counts.get(err["descriptor"], 0) + 1
    return dict(sorted(counts.items()))
