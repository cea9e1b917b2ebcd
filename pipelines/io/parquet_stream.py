"""Reading a Parquet file as a stream of record batches, holding one row group at a time.

pyarrow's ParquetFile pre-buffers by default: one `iter_batches` over a file reads its column chunks in
coalesced ranges (up to 32 MB each) into a cache that lives as long as that reader and is never
trimmed, so by the end of the file the reader holds every byte it has read. On a tagger's output
(89 tag structs per track) that was ~440 bytes per input track, the synthesize stage's steady memory
growth in issue 9 (tests/io/test_parquet_stream.py; bench/synthesize.py --only memory).
A reader per row group keeps pre-buffering's coalesced reads (fewer requests on remote files) and
frees each row group's ranges when the next one starts.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def iter_batches(source, batch_size: int = 65536, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The file's rows in order, as record batches of at most `batch_size` rows (a batch never spans
    two row groups); `columns` selects columns as ParquetFile.iter_batches does. `source`: an open file,
    or a ParquetFile already made of one (its footer is not read again)."""
    import pyarrow.parquet as pq

    parquet = source if isinstance(source, pq.ParquetFile) else pq.ParquetFile(source)
    for group in range(parquet.num_row_groups):
        yield from parquet.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns)
