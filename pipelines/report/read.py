"""Reading a run's output folder batch by batch: the report never holds a whole run in memory."""
from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.io.parquet_stream import iter_batches

BATCH_ROWS = 65_536
KEY_SEP = "\x1f"  # joins music_id and video_id into one track key (a character no id contains)


def files(folder: str, prefix: str) -> list[str]:
    """`<prefix>-*.parquet` in `folder` (local or any Beam filesystem), sorted."""
    from pipelines.io.outputs import committed_files

    return sorted(committed_files(folder, prefix))  # a killed run's files are not the run's outputs


def read_json(path: str) -> dict | None:
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        data = json.loads(fh.read().decode("utf-8"))
    return data if isinstance(data, dict) else None


def schema_names(path: str) -> list[str]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return pq.ParquetFile(fh).schema_arrow.names


def batches(paths: Iterable[str], columns: list[str]) -> Iterator[pa.Table]:
    """The files' rows as tables of at most BATCH_ROWS rows, only `columns` (dotted paths select struct
    fields, e.g. "metadata.fidelity")."""
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for batch in iter_batches(fh, batch_size=BATCH_ROWS, columns=columns):
                yield pa.Table.from_batches([batch])


def track_keys(table: pa.Table) -> pa.Array:
    """One string per row naming its track: music_id, and video_id when there is one."""
    video = pc.fill_null(table["video_id"], "") if "video_id" in table.column_names else pa.array([""] * len(table))
    return pc.binary_join_element_wise(table["music_id"], video, KEY_SEP).combine_chunks()


def key_parts(key: str) -> tuple[str, str | None]:
    music_id, _, video_id = key.partition(KEY_SEP)
    return music_id, video_id or None


def seeded_rank(seed: int, key: str) -> int:
    """A stable pseudo-random rank of a key: the smallest ranks are a seeded sample that does not depend
    on file or row order (CRC32: fast, and only has to spread keys evenly, not resist anyone)."""
    return zlib.crc32(f"{seed}{KEY_SEP}{key}".encode())


class BottomK:
    """The k keys of smallest seeded rank seen so far, each with an item (a bounded heap: memory is O(k)
    at any run size). A key offered again keeps its first item."""

    def __init__(self, k: int, seed: int):
        self.k, self.seed = k, seed
        self._heap: list[tuple[int, str]] = []  # (-rank, key): the root is the largest rank kept
        self._items: dict[str, object] = {}

    def offer(self, key: str, item=None) -> None:
        if self.k <= 0 or key in self._items:
            return
        entry = (-seeded_rank(self.seed, key), key)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:  # a smaller rank (ties broken by key) than the largest kept
            _, dropped = heapq.heapreplace(self._heap, entry)
            del self._items[dropped]
        else:
            return
        self._items[key] = item

    def items(self) -> list[tuple[str, object]]:
        """(key, item) pairs, smallest rank first."""
        return [(key, self._items[key]) for _, key in sorted(self._heap, reverse=True)]
