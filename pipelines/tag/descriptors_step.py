"""The tag pipeline's descriptor step: measures a prepared clip's decoded audio (pipelines/tag/descriptors.py)
and then drops the audio, so what goes on to inference carries only the tagger's features.

A descriptor that fails is recorded in the clip's `descriptors.errors`; the clip is never dropped.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.tag import descriptors


class _Measure(beam.DoFn):
    def __init__(self, which: tuple[str, ...]):
        self.which = tuple(which)
        self.measured = Metrics.counter("descriptors", "clips_measured")
        self.failed = Metrics.counter("descriptors", "descriptor_failed")

    def process(self, prepared):
        # block 0 of a clip carries its decoded audio (the whole clip, or the first EXCERPT_S seconds of a
        # long file); the record goes in `extra`, which the record step receives merged over the blocks
        if prepared.audio is None:
            yield prepared
            return
        if self.which:
            audio = prepared.audio
            result = descriptors.compute(audio.samples, audio.sample_rate, self.which)
            prepared.extra["descriptors"] = result.record()
            self.measured.inc()
            self.failed.inc(len(result.errors))
        yield dataclasses.replace(prepared, audio=None)  # batches carry only the tagger's features


class Describe(beam.PTransform):
    """Prepared blocks -> the same blocks, block 0 with its `descriptors` record (TagClips' after_prepare)."""

    def __init__(self, which: tuple[str, ...]):
        super().__init__()
        self.which = tuple(which)

    def expand(self, prepared):
        return prepared | "Measure" >> beam.ParDo(_Measure(self.which))


def failures(tag_files: list[str]) -> dict[str, int]:
    """{descriptor group: clips it failed on} over written tags-*.parquet files (read through Beam's
    FileSystems, so any URI), for summary.json."""
    from pipelines.io.outputs import iter_column

    counts: dict[str, int] = {}
    for record in iter_column(tag_files, "descriptors"):
        for err in (record or {}).get("errors") or ():
            counts[err["descriptor"]] = counts.get(err["descriptor"], 0) + 1
    return dict(sorted(counts.items()))
