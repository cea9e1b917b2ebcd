"""Writing Arrow record batches to Parquet in row groups of a chosen size.

Beam's WriteToParquetBatched writes every table it receives as its own row group(s). Steps that emit a
small record batch per batch of work would then write thousands of tiny row groups, so batches are
gathered here into tables of about `row_group_bytes` first (as WriteToParquet does for row dicts).
"""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows


class ArrowCoder(beam.coders.Coder):
    """Record batches and tables as Arrow IPC streams. Beam estimates the size of a step's outputs by
    encoding them (every one of the first ten, then about ten in every N); its default coder would
    pickle each; here the size is read off the buffers instead."""

    def __init__(self, table: bool = False):
        self._table = table

    def encode(self, value) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, value.schema) as writer:
            writer.write(value)
        return sink.getvalue().to_pybytes()

    def decode(self, encoded: bytes):
        reader = pa.ipc.open_stream(encoded)
        return reader.read_all() if self._table else reader.read_next_batch()

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value) -> int:
        return value.nbytes

    def __eq__(self, other):
        return type(self) is type(other) and self._table == other._table

    def __hash__(self):
        return hash((type(self), self._table))


class TableCoder(ArrowCoder):
    def __init__(self):
        super().__init__(table=True)


beam.coders.registry.register_coder(pa.RecordBatch, ArrowCoder)
beam.coders.registry.register_coder(pa.Table, TableCoder)


class GatherRowGroups(beam.DoFn):
    """pa.RecordBatch elements -> pa.Table elements of about `row_group_bytes` each (bounded input, the
    global window: what every stage here reads)."""

    def __init__(self, schema: pa.Schema, row_group_bytes: int):
        self.schema, self.row_group_bytes = schema, row_group_bytes

    def start_bundle(self):
        self._batches: list[pa.RecordBatch] = []
        self._bytes = 0

    def process(self, batch: pa.RecordBatch):
        self._batches.append(batch)
        self._bytes += batch.nbytes
        if self._bytes >= self.row_group_bytes:
            yield self._table()

    def finish_bundle(self):
        if self._batches:
            yield GlobalWindows.windowed_value_at_end_of_window(self._table())

    def _table(self) -> pa.Table:
        table = pa.Table.from_batches(self._batches, schema=self.schema)
        self._batches, self._bytes = [], 0
        return table


class WriteBatchesToParquet(beam.PTransform):
    """Record batches of `schema` -> `<prefix>-SSSSS-of-NNNNN<suffix>` files with row groups of about
    `row_group_bytes`."""

    def __init__(self, prefix: str, schema: pa.Schema, row_group_bytes: int, file_name_suffix: str = ".parquet"):
        super().__init__()
        self.prefix, self.schema, self.row_group_bytes, self.suffix = prefix, schema, row_group_bytes, file_name_suffix

    def expand(self, batches):
        return (batches
                | "RowGroups" >> beam.ParDo(GatherRowGroups(self.schema, self.row_group_bytes))
                .with_output_types(pa.Table)
                | "Write" >> beam.io.WriteToParquetBatched(self.prefix, self.schema,
                                                           file_name_suffix=self.suffix))
