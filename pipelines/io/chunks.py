"""Lists of rows that travel between pipeline steps as one element (see ReadInput's chunk_rows).

Beam measures the size of the elements a step outputs, and it measures every one of the first ten and
then about ten in every N: a step emitting a few hundred lists would have nearly every list measured,
each by encoding it. Beam's default coder encodes a list item by item and pickles each object it
does not know (a Track, a WorkItem) on its own, which cost more than the steps' own work. A Chunk is
pickled whole when it crosses between workers, and its size is estimated from its length.
"""
from __future__ import annotations

import pickle

import apache_beam as beam

EST_BYTES_PER_ITEM = 256  # a rough figure: Beam's size metrics only inform a runner's autoscaling


class Chunk(list):
    """A list of rows, work items or records that a step handles together."""


class ChunkCoder(beam.coders.Coder):
    def encode(self, value: Chunk) -> bytes:
        return pickle.dumps(list(value), pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Chunk:
        return Chunk(pickle.loads(encoded))

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value) -> int:
        return EST_BYTES_PER_ITEM * len(value)

    def to_type_hint(self):
        return Chunk


beam.coders.registry.register_coder(Chunk, ChunkCoder)
