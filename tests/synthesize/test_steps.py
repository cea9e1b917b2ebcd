"""The synthesize steps wired by hand in a TestPipeline: parse, select + fan out, run a method."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.synthesize.methods import make_method
from pipelines.synthesize.select import TagSelection
from pipelines.synthesize.steps import ERRORS, ExpandWork, ParseTrack, RunMethod

ROWS = [
    ({"source": "t", "row": 1}, {"music_id": "a", "video_id": "v", "tags": ["rock", "piano", "sad"]}),
    ({"source": "t", "row": 2}, {"music_id": "b", "tags": [{"tag": "jazz", "confidence": 0.9}]}),
    ({"source": "t", "row": 3}, {"music_id": "c"}),  # no tags
    ({"source": "t", "row": 4}, ValueError("invalid JSON")),
]


def test_parse_expand_and_run_tags():
    with TestPipeline(runner=FnApiRunner()) as p:
        tracks = p | beam.Create(ROWS) | beam.ParDo(ParseTrack()).with_outputs(ERRORS, main="ok")
        work = tracks.ok | beam.ParDo(ExpandWork(["tags"], 2, 0, TagSelection(min_tags=1))).with_outputs("tags")
        texts = (work["tags"] | beam.BatchElements(max_batch_size=3)
                 | beam.ParDo(RunMethod(make_method("tags"))).with_outputs(ERRORS, main="ok"))
        assert_that(texts.ok | "key" >> beam.Map(lambda r: (r["music_id"], r["sample"], sorted(r["text"].split(", ")))),
                    equal_to([("a", 0, ["piano", "rock", "sad"]), ("a", 1, ["piano", "rock", "sad"]),
                              ("b", 0, ["jazz"]), ("b", 1, ["jazz"])]), label="texts")
        assert_that(tracks[ERRORS] | beam.Map(lambda e: (e["id"], e["error_type"])),
                    equal_to([("c", "malformed_row"), ("t:4", "malformed_row")]), label="errors")
        assert_that(texts[ERRORS], equal_to([]), label="no method errors")
