"""A batch of texts -> one Arrow record batch, built a column at a time: the same rows as converting a
dict per row (what Beam's WriteToParquet did before), for every method's metadata."""
import pyarrow as pa
import pytest

from pipelines.io.schemas import TRIPLETS_SCHEMA
from pipelines.synthesize.tagset import InputTag
from pipelines.synthesize.triplets import METADATA_FIELDS, triplet_batch
from pipelines.synthesize.work import TextOut, Track, WorkItem


def _item(music_id, video_id, tags, sample=0, fallback=False):
    return WorkItem(Track(music_id, video_id, (), "ref"), tuple(tags), "prompt2text", sample, 2 ** 50 + sample,
                    fallback)


def _row_by_row(written):
    """The reference: one dict per row, as the old triplet_record built them, converted by Arrow."""
    rows = []
    for item, out in written:
        metadata = {k: None for k in METADATA_FIELDS}
        metadata.update(out.metadata)
        metadata.update(seed=item.seed, selection_fallback=item.selection_fallback)
        rows.append({"video_id": item.track.video_id, "music_id": item.track.music_id, "method": item.method,
                     "sample": item.sample, "text": out.text,
                     "tags": [{"tag": t.tag, "category": t.category, "confidence": t.confidence}
                              for t in item.selected],
                     "metadata": metadata})
    return pa.Table.from_pylist(rows, schema=TRIPLETS_SCHEMA)


def test_same_rows_as_a_dict_per_row():
    fidelity = {"coverage": 0.5, "mentioned": ["rock"], "missing": ["sad"], "hallucinated": []}
    written = [
        (_item("a", "v", [InputTag("rock", "genre", 0.91), InputTag("sad")]),
         TextOut("A sad rock song.", {"fidelity": fidelity, "cache_hit": True, "attempts": 2, "latency_s": 0.25,
                                      "example_ids": ["e1", "e2"], "params": "{}"})),
        (_item("b", None, [], sample=3, fallback=True), TextOut("", {"cache_hit": False})),
        (_item("c", "w", [InputTag("piano", None, None)]), TextOut("Piano.", {})),
    ]
    batch = triplet_batch(written)
    assert batch.schema == TRIPLETS_SCHEMA
    assert pa.Table.from_batches([batch]).equals(_row_by_row(written))
    assert batch.to_pylist()[1]["metadata"]["seed"] == 2 ** 50 + 3


def test_a_field_missing_from_the_schema_is_refused():
    with pytest.raises(ValueError, match="not in the triplets schema: \\['colour'\\]"):
        triplet_batch([(_item("a", None, []), TextOut("x", {"colour": "red"}))])
