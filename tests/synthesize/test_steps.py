"""The synthesize steps wired by hand in a TestPipeline: parse, select + fan out, run a method.
Rows travel between them in lists, texts leave as Arrow record batches."""
import json

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from pipelines.synthesize.methods import Method, make_method
from pipelines.synthesize.select import TagSelection
from pipelines.synthesize.steps import ERRORS, ExpandWork, RunMethod, parse_track
from pipelines.synthesize.tagset import InputTag
from pipelines.synthesize.work import TextOut, Track, WorkItem

ROWS = [
    ({"source": "t", "row": 1}, {"music_id": "a", "video_id": "v", "tags": ["rock", "piano", "sad"]}),
    ({"source": "t", "row": 2}, {"music_id": "b", "tags": [{"tag": "jazz", "confidence": 0.9}]}),
    ({"source": "t", "row": 3}, {"music_id": "c"}),  # no tags
    ({"source": "t", "row": 4}, ValueError("invalid JSON")),
]


def test_parse_expand_and_run_tags():
    parsed = [parse_track(row) for row in ROWS]
    tracks = [t for t in parsed if isinstance(t, Track)]
    errors = [e.value for e in parsed if isinstance(e, TaggedOutput)]
    assert all(e.tag == ERRORS for e in parsed if isinstance(e, TaggedOutput))
    assert [(e["id"], e["error_type"]) for e in errors] == [("c", "malformed_row"), ("t:4", "malformed_row")]
    with TestPipeline(runner=FnApiRunner()) as p:
        work = (p | beam.Create([tracks])
                | beam.ParDo(ExpandWork(["tags"], 2, 0, TagSelection(min_tags=1))).with_outputs("tags"))
        texts = work["tags"] | beam.ParDo(RunMethod(make_method("tags"))).with_outputs(ERRORS, main="ok")
        rows = texts.ok | "rows" >> beam.FlatMap(lambda batch: batch.to_pylist())
        assert_that(rows | "key" >> beam.Map(lambda r: (r["music_id"], r["sample"], sorted(r["text"].split(", ")))),
                    equal_to([("a", 0, ["piano", "rock", "sad"]), ("a", 1, ["piano", "rock", "sad"]),
                              ("b", 0, ["jazz"]), ("b", 1, ["jazz"])]), label="texts")
        assert_that(texts[ERRORS], equal_to([]), label="no method errors")


class _Overlapping(Method):
    """A method that keeps one batch open, logging the calls RunMethod makes (its protocol under test)."""

    name = "tags"
    overlap = 1

    def __init__(self):
        self.calls = []

    def setup(self):
        pass

    def generate(self, items):
        raise AssertionError("RunMethod must use start/finish")

    def start(self, items):
        self.calls.append(("start", [i.track.music_id for i in items]))
        if items[0].track.music_id == "bad":
            raise RuntimeError("the whole batch failed")
        return items

    def finish(self, items):
        self.calls.append(("finish", [i.track.music_id for i in items]))
        return [TextOut(f"text of {i.track.music_id}") for i in items]


def _items(*ids):
    return [WorkItem(Track(m, None, (), "ref"), (), "tags", 0, 1) for m in ids]


def test_run_method_keeps_one_batch_open_and_finishes_it_with_its_window():
    method = _Overlapping()
    step = RunMethod(method)
    step.setup()
    step.start_bundle()
    window = IntervalWindow(0, 10)
    first = list(step.process(_items("a", "b"), timestamp=5, window=window))
    second = list(step.process(_items("c"), timestamp=7, window=IntervalWindow(5, 15)))
    failed = list(step.process(_items("bad"), timestamp=9, window=IntervalWindow(5, 15)))
    last = list(step.finish_bundle())
    step.teardown()
    assert first == []  # batch 1 stays open while batch 2 starts
    assert method.calls == [("start", ["a", "b"]), ("start", ["c"]), ("finish", ["a", "b"]),
                            ("start", ["bad"]), ("finish", ["c"])]
    assert [r.value.column("text").to_pylist() for r in second] == [["text of a", "text of b"]]  # one batch
    assert [r.value.column("text").to_pylist() for r in failed] == [["text of c"]]
    # each batch's outputs keep the batch's own timestamp and window, whenever they leave
    assert [(r.timestamp, r.windows) for r in second] == [(Timestamp(5), [window])]
    assert [(r.timestamp, r.windows) for r in failed] == [(Timestamp(7), [IntervalWindow(5, 15)])]
    [error] = last  # finished after process(): it carries the batch's timestamp and window
    assert isinstance(error, TaggedOutput) and error.tag == ERRORS
    assert error.value.timestamp == 9 and error.value.windows == [IntervalWindow(5, 15)]
    assert error.value.value["id"] == "bad" and "the whole batch failed" in error.value.value["message"]


def test_work_items_carry_only_the_selected_tags():
    tags = tuple(InputTag(f"t{i}", "instrument", i / 100) for i in range(89))
    track = Track("m", "v", tags, "ref")
    [[item]] = [o.value for o in ExpandWork(["tags"], 1, 0, TagSelection()).process([track])]
    assert item.track == Track("m", "v", (), "ref")  # ids and ref kept, the 89 input tags not copied
    assert [t.tag for t in item.selected] == [f"t{i}" for i in range(83, 89)]  # top 6 instruments


def test_methods_without_a_model_run_in_fixed_batches():
    """Fixed batch sizes spare BatchElements its per-batch timing regression (a cost per row for methods
    that take microseconds per row); a seq2seq rewriter keeps Beam's adaptive sizing; prompt2text sends
    its configured batch."""
    from pipelines.synthesize.methods import (
        CPU_BATCH,
        Data2TextMethod,
        Prompt2TextMethod,
        Prompt2TextOptions,
        TagsMethod,
    )

    assert TagsMethod().fixed_batch_size() == CPU_BATCH
    assert Data2TextMethod().fixed_batch_size() == CPU_BATCH
    assert Data2TextMethod(rewriter="hf:some/model").fixed_batch_size() is None
    assert Prompt2TextMethod(Prompt2TextOptions(batch_size=48)).fixed_batch_size() == 48


class _Recording(Method):
    """A method with a fixed batch size that records the batches RunMethod hands it."""

    name = "tags"

    def __init__(self):
        self.batches = []

    def setup(self):
        pass

    def fixed_batch_size(self):
        return 2

    def generate(self, items):
        self.batches.append([i.track.music_id for i in items])
        return [TextOut(i.track.music_id) for i in items]


def test_lists_are_cut_into_the_methods_fixed_batches():
    method = _Recording()
    step = RunMethod(method)
    step.setup()
    step.start_bundle()
    window = IntervalWindow(0, 10)
    out = list(step.process(_items("a", "b", "c", "d", "e"), timestamp=5, window=window))
    out += list(step.finish_bundle())
    step.teardown()
    assert method.batches == [["a", "b"], ["c", "d"], ["e"]]
    # the texts of one call leave as one record batch
    assert [r.value.column("text").to_pylist() for r in out] == [["a", "b", "c", "d", "e"]]


def test_a_rows_ref_is_the_json_of_its_ref():
    from pipelines.synthesize.steps import _ref_json

    for ref in ({"source": "/data/tags \u00e9\"q\".jsonl", "row": 12}, {"row": 3, "source": "a"},
                {"source": "a", "row": 1, "extra": [1]}, {"source": 5, "row": "x"}):
        assert _ref_json(ref) == json.dumps(ref, default=str)


def test_run_method_keeps_the_process_objects_out_of_full_collections_until_the_last_step_ends():
    import gc

    from pipelines.synthesize.steps import _GC_FROZEN

    first, second = RunMethod(make_method("tags")), RunMethod(make_method("tags"))
    assert _GC_FROZEN["holders"] == 0 and gc.get_freeze_count() == 0  # earlier tests tore their steps down
    first.setup()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # imports, vocabulary, matcher: not scanned by every full collection
    second.setup()
    first.teardown()
    assert gc.get_freeze_count() >= frozen  # the other step still runs
    second.teardown()
    assert gc.get_freeze_count() == 0


def test_json_with_constant_is_json_dumps():
    from pipelines.synthesize.methods import JsonWithConstant

    value = {"name": "builtin", "p_fuse": 0.3, "max_list": 7, "nested": {"b": [1.5, None], "a": "x"}}
    encoder = JsonWithConstant("rewriter", value, json.dumps(value, sort_keys=True, default=str))
    rows = [
        {"rewriter": value},
        {"categories": {"b": "x", "a": "y"}, "rewriter": value, "words": {}, "templated_text": "A \"q\" é."},
        {"a": 1, "rewriter": value},
        {"zz": [1, 2], "rewriter": value},
        {"rewriter": {**value, "p_fuse": 0.5}, "a": 1},  # not the constant: the plain path
        {"a": 1, "b": "x"},  # no such key at all
        {"rewriter": value, "when": object},  # default=str still applies around the constant
    ]
    for row in rows:
        assert encoder.dumps(row) == json.dumps(row, sort_keys=True, default=str)
