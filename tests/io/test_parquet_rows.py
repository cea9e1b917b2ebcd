"""ReadParquetRows: every row of every row group, a chunk at a time, as Beam's reader gives them."""
import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.io.parquet_rows import ReadParquetRows, TableToRows

ROWS = [{"music_id": f"m{i}", "tags": [{"tag": "rock", "confidence": i / 10}], "note": None if i % 2 else "x"}
        for i in range(7)]


def write(path, rows, row_group_size):
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def test_table_to_rows_in_chunks_keeps_order_and_values():
    table = pa.Table.from_pylist(ROWS)
    assert list(TableToRows(chunk_rows=3).process(table)) == ROWS
    assert list(TableToRows(chunk_rows=100).process(table.slice(0, 0))) == []


def test_read_parquet_rows_across_files_and_row_groups(tmp_path):
    write(tmp_path / "a.parquet", ROWS[:5], row_group_size=2)  # 3 row groups
    write(tmp_path / "b.parquet", ROWS[5:], row_group_size=10)
    with TestPipeline(runner=FnApiRunner()) as p:
        rows = p | ReadParquetRows(str(tmp_path / "*.parquet"), chunk_rows=1)
        ids = p | "OnlyIds" >> ReadParquetRows(str(tmp_path / "*.parquet"), columns=["music_id"])
        assert_that(rows | beam.Map(lambda r: (r["music_id"], r["tags"][0]["confidence"], r["note"])),
                    equal_to([(r["music_id"], r["tags"][0]["confidence"], r["note"]) for r in ROWS]), label="rows")
        assert_that(ids, equal_to([{"music_id": r["music_id"]} for r in ROWS]), label="columns")
