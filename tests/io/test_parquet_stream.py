"""Streaming Parquet reads hold one row group at a time, not every row group read so far.

pyarrow's ParquetFile pre-buffers by default and kept every range it had read until the reader was
dropped: reading a file row by row ended up holding the whole file (issue 9, the synthesize stage's
memory rising by ~440 bytes per input track on a tagger's output).
"""
import base64
import os
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io.parquet_stream import iter_batches
from pipelines.io.read_rows import iter_file

ROW_GROUPS = 40
ROWS_PER_GROUP = 250
BLOB_BYTES = 750  # random, so that compression cannot shrink the file


def write_file(path) -> int:
    """A file of ROW_GROUPS row groups; returns its size on disk."""
    with pq.ParquetWriter(path, pa.schema([("music_id", pa.string()), ("blob", pa.string())])) as writer:
        for g in range(ROW_GROUPS):
            ids = [f"m{g * ROWS_PER_GROUP + i:06d}" for i in range(ROWS_PER_GROUP)]
            blobs = [base64.b64encode(os.urandom(BLOB_BYTES)).decode() for _ in ids]
            writer.write_table(pa.table({"music_id": ids, "blob": blobs}))
    return os.path.getsize(path)


def held_while_reading(rows) -> tuple[int, int]:
    """(rows read, the most memory the reader held at any row), counting Python's heap (a Python file
    object's reads) and Arrow's pool (decoded columns)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes()
        n, most = 0, 0
        for _ in rows:
            n += 1
            if n % 50 == 0:
                most = max(most, tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes() - base)
        return n, most
    finally:
        tracemalloc.stop()


def test_reading_a_file_row_by_row_holds_about_one_row_group(tmp_path):
    path = tmp_path / "tags.parquet"
    size = write_file(path)
    n, most = held_while_reading(iter_file(str(path), "parquet"))
    assert n == ROW_GROUPS * ROWS_PER_GROUP
    # a few row groups' worth (the one being read, its decoded batch and rows as Python objects); before
    # the fix the reader held the whole file (12.5 MB of 9.8 MB)
    row_group = size / ROW_GROUPS
    assert most < 8 * row_group, f"held {most / 2**20:.1f} MB of a {size / 2**20:.1f} MB file"


def test_iter_batches_gives_every_row_in_order_with_the_columns_asked_for(tmp_path):
    path = tmp_path / "small.parquet"
    rows = [{"music_id": f"m{i}", "tags": [{"tag": "rock", "confidence": i / 10}], "note": None if i % 2 else "x"}
            for i in range(11)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)  # 4 row groups, the last short
    with open(path, "rb") as fh:
        batches = list(iter_batches(fh, batch_size=2))
    assert [r for b in batches for r in b.to_pylist()] == rows
    assert max(len(b) for b in batches) == 2
    with open(path, "rb") as fh:
        assert [r for b in iter_batches(fh, columns=["music_id"]) for r in b.to_pylist()] == [
            {"music_id": r["music_id"]} for r in rows]
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pylist(rows).slice(0, 0), empty)
    with open(empty, "rb") as fh:
        assert list(iter_batches(fh)) == []
