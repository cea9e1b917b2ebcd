"""A batch of finished texts -> one Arrow RecordBatch of triplet rows (TRIPLETS_SCHEMA).

Built a column at a time: converting a dict per row, with its 18-field metadata struct, cost more than
writing the `tags` method's text. Most metadata fields are null for a given method and become a
single null array.
"""
from __future__ import annotations

import pyarrow as pa

from pipelines.io.schemas import TAG_STRUCT, TRIPLETS_SCHEMA
from pipelines.synthesize.work import TextOut, WorkItem

METADATA_TYPE = TRIPLETS_SCHEMA.field("metadata").type
METADATA_FIELDS = tuple(f.name for f in METADATA_TYPE)
TAGS_TYPE = TRIPLETS_SCHEMA.field("tags").type


def _tags_array(items: list[WorkItem]) -> pa.ListArray:
    offsets, names, categories, confidences = [0], [], [], []
    for item in items:
        for t in item.selected:
            names.append(t.tag)
            categories.append(t.category)
            confidences.append(t.confidence)
        offsets.append(len(names))
    values = pa.StructArray.from_arrays(
        [pa.array(names, pa.string()), pa.array(categories, pa.string()), pa.array(confidences, pa.float32())],
        fields=list(TAG_STRUCT))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=TAGS_TYPE)


def _metadata_array(items: list[WorkItem], outs: list[TextOut]) -> pa.StructArray:
    metas = [out.metadata for out in outs]
    filled = set().union(*metas)
    arrays = []
    for f in METADATA_TYPE:
        if f.name == "seed":
            arrays.append(pa.array([i.seed for i in items], f.type))
        elif f.name == "selection_fallback":
            arrays.append(pa.array([i.selection_fallback for i in items], f.type))
        elif f.name in filled:
            arrays.append(pa.array([m.get(f.name) for m in metas], f.type))
        else:  # a field this method never fills
            arrays.append(pa.nulls(len(metas), f.type))
    return pa.StructArray.from_arrays(arrays, fields=list(METADATA_TYPE))


def triplet_batch(written: list[tuple[WorkItem, TextOut]]) -> pa.RecordBatch:
    items = [item for item, _ in written]
    outs = [out for _, out in written]
    unknown = {k for out in outs for k in out.metadata} - set(METADATA_FIELDS)
    if unknown:  # a method's new field must be added to the schema, not dropped here
        raise ValueError(f"metadata fields not in the triplets schema: {sorted(unknown)}")
    return pa.RecordBatch.from_arrays([
        pa.array([i.track.video_id for i in items], pa.string()),
        pa.array([i.track.music_id for i in items], pa.string()),
        pa.array([i.method for i in items], pa.string()),
        pa.array([i.sample for i in items], pa.int32()),
        pa.array([out.text for out in outs], pa.string()),
        _tags_array(items),
        _metadata_array(items, outs),
    ], schema=TRIPLETS_SCHEMA)
