"""Record batches gathered into row groups of about a chosen size before Beam writes them to Parquet."""
import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines.io.row_groups import GatherRowGroups, WriteBatchesToParquet

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def _batch(start: int, rows: int = 100) -> pa.RecordBatch:
    ids = [f"row-{i:06d}" for i in range(start, start + rows)]
    return pa.RecordBatch.from_arrays([pa.array(ids), pa.array(range(start, start + rows))], schema=SCHEMA)


def test_batches_are_gathered_until_the_size_is_reached():
    step = GatherRowGroups(SCHEMA, row_group_bytes=3 * _batch(0).nbytes)
    step.start_bundle()
    emitted = [t for b in range(7) for t in step.process(_batch(100 * b))]
    rest = [w.value for w in step.finish_bundle()]
    assert [t.num_rows for t in emitted] == [300, 300] and [t.num_rows for t in rest] == [100]
    assert pa.concat_tables(emitted + rest).column("n").to_pylist() == list(range(700))


def test_written_file_has_every_row_once_in_few_row_groups(tmp_path):
    batches = [_batch(100 * b) for b in range(40)]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        (p | beam.Create(batches, reshuffle=False)
         | WriteBatchesToParquet(str(tmp_path / "out"), SCHEMA, row_group_bytes=10 * batches[0].nbytes))
    [path] = list(tmp_path.glob("out-*.parquet"))
    parquet = pq.ParquetFile(path)
    assert sorted(parquet.read().column("n").to_pylist()) == list(range(4000))
    assert parquet.metadata.num_row_groups <= 5  # not one per record batch (40)


def test_arrow_and_chunk_coders_round_trip_and_estimate_without_encoding():
    """What crosses between workers (a shuffle, --workers N) comes back whole; sizes are estimated from
    buffers and lengths (Beam samples them for its metrics)."""
    from apache_beam.coders.typecoders import registry

    from pipelines.io.chunks import EST_BYTES_PER_ITEM, Chunk
    from pipelines.synthesize.tagset import InputTag

    batch = _batch(0, 50)
    table = pa.Table.from_batches([batch, _batch(50, 25)])
    for value, kind in ((batch, pa.RecordBatch), (table, pa.Table)):
        coder = registry.get_coder(kind)
        decoded = coder.decode(coder.encode(value))
        assert type(decoded) is kind and decoded.equals(value)
        assert coder.estimate_size(value) == value.nbytes
    chunk = Chunk([({"source": "f", "row": 1}, {"tags": [InputTag("rock", "genre", 0.5)]})] * 3)
    coder = registry.get_coder(Chunk)
    decoded = coder.decode(coder.encode(chunk))
    assert type(decoded) is Chunk and decoded == chunk
    assert coder.estimate_size(chunk) == 3 * EST_BYTES_PER_ITEM
