"""Reading Parquet rows in a pipeline with memory bounded by a chunk, not by the file's row groups.

Beam's ReadFromParquet turns a whole row group into Python dicts before it yields the first row. A
tags-*.parquet row group holds tens of thousands of tracks with 89 tag structs each: millions of live
objects, which cost memory and make every full garbage collection stall the worker (an LLM client
sharing the process then leaves its connections idle). Here each row group is converted a chunk at a
time, so only `chunk_rows` rows exist as Python objects at once.
"""
from __future__ import annotations

import apache_beam as beam

CHUNK_ROWS = 1024


class TableToRows(beam.DoFn):
    def __init__(self, chunk_rows: int = CHUNK_ROWS):
        self.chunk_rows = chunk_rows

    def process(self, table):
        for batch in table.to_batches(max_chunksize=self.chunk_rows):
            yield from batch.to_pylist()


class ReadParquetRows(beam.PTransform):
    """Row dicts of every file matching `pattern` (Beam's splitting by row group is kept)."""

    def __init__(self, pattern: str, columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS):
        super().__init__()
        self.pattern, self.columns, self.chunk_rows = pattern, columns, chunk_rows

    def expand(self, pbegin):
        return (pbegin | "ReadRowGroups" >> beam.io.ReadFromParquetBatched(self.pattern, columns=self.columns)
                | "ToRows" >> beam.ParDo(TableToRows(self.chunk_rows)))
