"""The tag pipeline's steps: prepare (decode + preprocess, long files in blocks), the tagger through
Beam's RunInference, merge the blocks of long files, map to the vocabulary.

Each step sends what it cannot handle to an `errors` output with the reason, so every input row
ends either in the tags output or in the errors output, exactly once:
  - a clip in one block (the usual case) goes straight from inference to its record or its error;
  - the blocks of a long clip, and a failure that happens after some of its blocks were sent on
    (a file found corrupt near its end), meet again by music_id (GroupByKey) and become one record
    or one error. Only long clips pay for that shuffle.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference
from apache_beam.utils.shared import Shared

from pipelines.inference import ComponentHandler, Outcome
from pipelines.io.errors import error_from_exception, error_record
from pipelines.io.manifest import ClipRequest
from pipelines.prepare_step import ERRORS, PrepareStep
from pipelines.shared_state import acquire
from pipelines.tag.backends.base import Prepared, TaggerBackend
from pipelines.tag.vocabulary import ScoredLabel

PARTS = "parts"  # (music_id, BlockScores | error record) of clips that came in several pieces
INFERENCE_NAMESPACE = "tag_inference"  # RunInference's metrics for the tagger


def state_key(backend: TaggerBackend) -> str:
    return json.dumps(backend.describe(), sort_keys=True, default=str)


def limit_duration(clip: ClipRequest, max_duration_s: float | None) -> ClipRequest:
    """The clip cut to its first `max_duration_s` seconds (its end_s says what was tagged)."""
    if not max_duration_s:
        return clip
    end = (clip.start_s or 0.0) + float(max_duration_s)
    return clip if clip.end_s is not None and clip.end_s <= end else replace(clip, end_s=end)


class PrepareClip(PrepareStep):
    """Decode and preprocess one clip for the tagger, in blocks of at most `max_units` units;
    bad audio becomes the clip's error."""

    def __init__(self, backend: TaggerBackend, shared: Shared, threads: int | None = None,
                 max_units: int = 48, max_duration_s: float | None = None):
        super().__init__(backend, "prepare", "tag", "prepare_failed")
        self.shared, self.threads = shared, threads
        self.max_units, self.max_duration_s = max_units, max_duration_s

    def load_state(self):
        return acquire(self.shared, state_key(self.component), self.component.load, self.threads,
                       what=f"tagger {self.component.name}")

    def prepared(self, clip):
        return self.component.prepare_blocks(limit_duration(clip, self.max_duration_s), self.state, self.max_units)

    def failure(self, clip, exc, emitted):
        if not emitted:
            return super().failure(clip, exc, emitted)
        # some blocks are already on their way: the merge step drops them and keeps this error
        record = error_from_exception(self.error_id(clip), self.stage, exc, self.error_ref(clip))
        return beam.pvalue.TaggedOutput(PARTS, (clip.music_id, record))

    def error_id(self, clip):
        return clip.music_id

    def error_ref(self, clip):
        return clip.ref()


class TaggerHandler(ComponentHandler):
    """The tagger as a Beam ModelHandler: batches sized in model units (patches, windows)."""

    def __init__(self, backend: TaggerBackend, shared: Shared, threads: int | None = None, max_units: int = 48):
        super().__init__(backend, shared, state_key(backend), threads, max_units, INFERENCE_NAMESPACE,
                         f"tagger {backend.name}")

    def predict(self, state, batch):
        return self.component.predict(state, list(batch))

    def units(self, element: Prepared) -> int:
        return element.units()


@dataclass
class BlockScores:
    """What the merge step needs of one tagged block (no samples, no features)."""

    clip: ClipRequest
    block: int
    n_units: int
    duration_s: float | None
    scores: list
    extra: dict


class RouteOutcomes(beam.DoFn):
    """Tagged single-block clips go on to their record, their failures to errors; blocks of long
    clips (and their failures) go to the merge step keyed by music_id."""

    def __init__(self):
        self.tagged = Metrics.counter("tag", "tagged")
        self.failed = Metrics.counter("tag", "predict_failed")
        self.blocks = Metrics.counter("tag", "blocks_of_long_clips")

    def process(self, outcome: Outcome):
        prepared: Prepared = outcome.element
        clip = prepared.clip
        if prepared.single:
            if outcome.ok:
                self.tagged.inc()
                yield prepared, outcome.value
            else:
                self.failed.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, error_from_exception(clip.music_id, "tag", outcome.error,
                                                                            clip.ref()))
            return
        self.blocks.inc()
        part = (BlockScores(clip, prepared.block, prepared.units(), prepared.duration_s, outcome.value, prepared.extra)
                if outcome.ok
                else error_from_exception(clip.music_id, "tag", outcome.error, clip.ref()))
        yield beam.pvalue.TaggedOutput(PARTS, (clip.music_id, part))


class MergeBlocks(beam.DoFn):
    """All pieces of one long clip -> its record input (units-weighted mean of the blocks' scores),
    or its one error (a prepare failure first: it describes the file; else the first failed block)."""

    def __init__(self):
        self.tagged = Metrics.counter("tag", "tagged")
        self.failed = Metrics.counter("tag", "predict_failed")

    def process(self, keyed):
        _, parts = keyed
        parts = list(parts)
        errors = [p for p in parts if isinstance(p, dict)]
        if errors:
            self.failed.inc()
            prepare_errors = [e for e in errors if e["stage"] != "tag"]
            yield beam.pvalue.TaggedOutput(ERRORS, (prepare_errors or errors)[0])
            return
        blocks = sorted(parts, key=lambda b: b.block)
        self.tagged.inc()
        extra = {k: v for b in blocks for k, v in b.extra.items()}
        yield (Prepared(blocks[0].clip, None, _sum([b.duration_s for b in blocks]), sum(b.n_units for b in blocks),
                        block=0, last=True, extra=extra),
               merge_scores([b.scores for b in blocks], [b.n_units for b in blocks]))


def _sum(values):
    return None if any(v is None for v in values) else float(sum(values))


def merge_scores(score_lists: list[list[ScoredLabel]], weights: list[int]) -> list[ScoredLabel]:
    """(model, label) scores averaged over blocks, weighted by their units; order of the first block."""
    if len(score_lists) == 1:
        return score_lists[0]
    total = float(sum(weights))
    sums: dict[tuple[str, str], float] = {}
    for scores, w in zip(score_lists, weights, strict=True):
        for s in scores:
            sums[(s.model, s.label)] = sums.get((s.model, s.label), 0.0) + w * s.score
    return [ScoredLabel(m, label, v / total) for (m, label), v in sums.items()]


class TagOutputs(NamedTuple):
    prepared: Any  # PCollection[Prepared]: every block (block 0 carries the decoded audio excerpt)
    tagged: Any  # PCollection[(Prepared, list[ScoredLabel])], one per tagged clip
    errors: Any  # PCollection[error record], one per failed clip


class TagClips(beam.PTransform):
    """ClipRequests -> (Prepared, raw scores) per tagged clip, and one error record per failed clip.

    `after_prepare`: an optional PTransform from Prepared to Prepared run on every block before
    inference (fused, no shuffle), e.g. audio descriptors computed from block 0's `audio` and put in
    its `extra`, which then reaches the record step.
    """

    def __init__(self, backend: TaggerBackend, shared: Shared, threads: int | None = None, max_units: int = 48,
                 max_duration_s: float | None = None, after_prepare: beam.PTransform | None = None):
        super().__init__()
        self.backend, self.shared, self.threads = backend, shared, threads
        self.max_units, self.max_duration_s, self.after_prepare = max_units, max_duration_s, after_prepare

    def expand(self, clips):
        prepared = clips | "Prepare" >> beam.ParDo(
            PrepareClip(self.backend, self.shared, self.threads, self.max_units, self.max_duration_s)
        ).with_outputs(ERRORS, PARTS, main="ok")
        ready = prepared.ok if self.after_prepare is None else prepared.ok | "AfterPrepare" >> self.after_prepare
        outcomes = ready | "Predict" >> RunInference(
            TaggerHandler(self.backend, self.shared, self.threads, self.max_units))
        routed = outcomes | "Route" >> beam.ParDo(RouteOutcomes()).with_outputs(ERRORS, PARTS, main="ok")
        merged = (
            (prepared[PARTS], routed[PARTS])
            | "AllParts" >> beam.Flatten()
            | "ByClip" >> beam.GroupByKey()
            | "MergeBlocks" >> beam.ParDo(MergeBlocks()).with_outputs(ERRORS, main="ok")
        )
        tagged = (routed.ok, merged.ok) | "Tagged" >> beam.Flatten()
        errors = (prepared[ERRORS], routed[ERRORS], merged[ERRORS]) | "TagErrors" >> beam.Flatten()
        return TagOutputs(prepared.ok, tagged, errors)


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
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(clip.music_id, "map", "bad_scores", str(exc),
                                                                clip.ref()))
            return
        yield {
            "music_id": clip.music_id,
            "video_id": clip.video_id,
            "tagger": self.tagger_name,
            "tags": tags,
            "tagger_scores": [{"model": s.model, "label": s.label, "score": s.score} for s in scores],
            "duration_s": prepared.duration_s,
            "n_patches": prepared.n_patches,
            "descriptors": prepared.extra.get("descriptors"),
            "audio_path": clip.audio_path or None,
            "start_s": clip.start_s,
            "end_s": clip.end_s,
        }
