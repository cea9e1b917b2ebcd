"""The tagger through Beam's RunInference: a failing element is isolated (its batch's others are
tagged), the batch failure is logged once, and RunInference's metrics reach summary.json."""
import json
import logging
import shutil
from dataclasses import replace

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import RunInference
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.shared import Shared

from pipelines.inference import inference_metrics
from pipelines.io.manifest import ClipRequest, read_manifest
from pipelines.tag.backends import from_spec
from pipelines.tag.backends.base import Prepared
from pipelines.tag.pipeline import TagJob, run
from pipelines.tag.steps import INFERENCE_NAMESPACE, MergeBlocks, TaggerHandler, merge_scores
from pipelines.tag.vocabulary import ScoredLabel, Vocabulary


def _patches(seed: int, n: int = 2, bins: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 3, size=(n, 187, bins)).astype(np.float32)


def _element(music_id: str, features: np.ndarray) -> Prepared:
    return Prepared(ClipRequest(music_id, f"{music_id}.ogg"), features, 6.0, len(features))


def test_a_failing_element_is_isolated_and_its_batch_failure_logged_once(caplog):
    """One element with 40 mel bins instead of 96 makes musicnn fail on the whole batch (and alone: its
    frequency filters are taller than 40 bins); the others are tagged exactly as they would be alone,
    the bad one carries the model's error."""
    backend = from_spec("musicnn")
    good = [_element("a", _patches(1)), _element("b", _patches(2))]
    bad = _element("bad", _patches(3, bins=40))
    alone = {p.clip.music_id: backend.predict(backend.load(), [p])[0] for p in good}
    caplog.set_level(logging.WARNING, logger="pipelines.inference")
    handler = TaggerHandler(backend, Shared(), max_units=6)  # all three fit one batch
    outcomes = handler.run_inference([good[0], bad, good[1]], handler.load_model())
    assert [o.ok for o in outcomes] == [True, False, True]
    for o in outcomes:
        if o.ok:
            got = [s.score for s in o.value]
            assert got == pytest.approx([s.score for s in alone[o.element.clip.music_id]], abs=1e-6)
    with pytest.raises(type(outcomes[1].error)):  # the error is the model's own, raised alone too
        backend.predict(backend.load(), [bad])
    failures = [r for r in caplog.records if "retrying them one by one" in r.getMessage()]
    assert len(failures) == 1 and "a batch of 3 inputs failed" in failures[0].getMessage()


def test_run_inference_step_with_a_failing_element_reports_metrics():
    backend, shared = from_spec("musicnn"), Shared()
    elements = [_element("a", _patches(1)), _element("bad", _patches(3, bins=40)), _element("b", _patches(2, 1))]
    with TestPipeline(runner=FnApiRunner()) as p:
        outcomes = (p | beam.Create(elements)
                    | RunInference(TaggerHandler(backend, shared, max_units=64)))
        assert_that(outcomes | beam.Map(lambda o: (o.element.clip.music_id, o.ok, len(o.value or []))),
                    equal_to([("a", True, 100), ("bad", False, 0), ("b", True, 100)]))
    metrics = inference_metrics(p.result, [INFERENCE_NAMESPACE])[INFERENCE_NAMESPACE]
    assert metrics["elements"] == 3 and metrics["batches"] >= 1
    assert metrics["batch_size"]["max"] <= 3 and metrics["inference_ms_per_element"] > 0


def test_blocks_merge_to_the_units_weighted_mean():
    a = [ScoredLabel("m", "x", 0.2), ScoredLabel("m", "y", 0.8)]
    b = [ScoredLabel("m", "x", 0.5), ScoredLabel("m", "y", 0.2)]
    merged = merge_scores([a, b], [3, 1])
    assert [(s.label, round(s.score, 6)) for s in merged] == [("x", 0.275), ("y", 0.65)]
    assert merge_scores([a], [5]) is a


def test_merge_keeps_one_error_and_prefers_the_prepare_one():
    from pipelines.tag.steps import BlockScores

    clip = ClipRequest("long", "long.ogg")
    prepare_error = {"id": "long", "stage": "prepare", "error_type": "corrupt", "message": "m", "input_ref": "{}"}
    tag_error = {**prepare_error, "stage": "tag", "error_type": "RuntimeError"}
    parts = [BlockScores(clip, 0, 64, 192.0, [], {}), tag_error, prepare_error]
    out = list(MergeBlocks().process(("long", parts)))
    assert len(out) == 1 and out[0].tag == "errors" and out[0].value["error_type"] == "corrupt"


def test_summary_has_runinference_metrics(demo_dir, tmp_path):
    shutil.copy(demo_dir / "audio" / "singularity_nebula.ogg", tmp_path)
    (tmp_path / "m.csv").write_text("music_id,audio_path\na,singularity_nebula.ogg\nb,gone.ogg\n")
    summary = run(TagJob(read_manifest(str(tmp_path / "m.csv")), from_spec("musicnn"), str(tmp_path / "out"),
                         Vocabulary.load()))
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    inference = written["inference"]
    assert inference == summary["inference"]
    assert inference["elements"] == 1 and inference["batch_size"]["max"] == 1
    assert inference["inference_ms_per_element"] > 0 and inference["failed_batches"] == 0
    assert written["counts"]["tagged"] == 1 and written["counts"]["failed"] == 1


def test_after_prepare_facts_reach_the_record_step_for_single_and_merged_clips(demo_dir, tmp_path):
    """A step between prepare and inference (as a descriptor step would be) sees block 0's decoded
    audio and its `extra` reaches the tagged element, also when the clip came in several blocks."""
    from pipelines.tag.steps import TagClips

    def peak(prepared):  # a new element, not a mutated input (Beam's rule)
        if prepared.block != 0:
            return prepared
        peak = round(float(np.abs(prepared.audio.samples).max()), 4)
        return replace(prepared, extra={**prepared.extra, "peak": peak})

    clips = [ClipRequest("ten", str(demo_dir / "audio" / "singularity_nebula.ogg"))]
    for max_units in (48, 1):  # one block, then 3 blocks of 1 patch
        with TestPipeline(runner=FnApiRunner()) as p:
            tagged = p | f"c{max_units}" >> beam.Create(clips) | TagClips(
                from_spec("musicnn"), Shared(), max_units=max_units, after_prepare=beam.Map(peak))
            assert_that(tagged.tagged | beam.Map(lambda e: (e[0].clip.music_id, e[0].n_patches, sorted(e[0].extra))),
                        equal_to([("ten", 3, ["peak"])]))


def test_elements_bigger_than_a_batch_never_make_an_empty_batch():
    """BatchElements flushes the running batch before an element that would overflow it, even when that
    batch is empty: elements of 2 patches against batches of 1 made every other batch empty (a batch of
    0 in the metrics and a predict call on nothing)."""
    backend, shared = from_spec("musicnn"), Shared()
    elements = [_element(m, _patches(i, n=2)) for i, m in enumerate("abc")]
    with TestPipeline(runner=FnApiRunner()) as p:
        outcomes = p | beam.Create(elements) | RunInference(TaggerHandler(backend, shared, max_units=1))
        assert_that(outcomes | beam.Map(lambda o: (o.element.clip.music_id, o.ok)),
                    equal_to([("a", True), ("b", True), ("c", True)]))
    metrics = inference_metrics(p.result, [INFERENCE_NAMESPACE])[INFERENCE_NAMESPACE]
    assert metrics["batch_size"]["min"] >= 1 and metrics["batches"] == 3
