"""Pure-Python reader for TensorFlow 1 checkpoints (tensor bundles), so musicnn needs no TensorFlow.

A checkpoint is ``<prefix>.index`` (a LevelDB SSTable: name -> BundleEntryProto) plus
``<prefix>.data-00000-of-00001`` (raw little-endian tensor bytes). Every table block and every
tensor carries a masked CRC32C; all are verified, so a damaged download fails loudly instead of
producing a tagger that silently outputs junk.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np


class CheckpointError(ValueError):
    """The checkpoint is missing, truncated, corrupted or in an unsupported format."""


DATA_SUFFIX = ".data-00000-of-00001"
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5  # compression type byte + masked crc32c
_MASK_DELTA = 0xA282EAD8
# TensorFlow DataType enum -> numpy dtype (little endian); only plain numeric types occur here.
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2",
           19: "<f2", 22: "<u4", 23: "<u8"}


# ---------------------------------------------------------------- CRC32C (Castagnoli)
def _make_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(v) for v in _TABLE]


def _crc_scalar(reg: int, data: bytes | memoryview) -> int:
    table = _TABLE_LIST
    for b in bytes(data):
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _crc_lanes(reg: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Run the raw CRC register of many lanes at once; ``cols`` is [steps, lanes] uint8."""
    for row in cols:
        reg = _TABLE[(reg ^ row) & 0xFF] ^ (reg >> 8)
    return reg


def _shift_columns(n_zero_bytes: int) -> list[int]:
    """Image of each register bit after n zero bytes (the CRC is linear over GF(2))."""
    units = np.array([1 << i for i in range(32)], dtype=np.uint32)
    zeros = np.zeros((n_zero_bytes, 32), dtype=np.uint8)
    return [int(v) for v in _crc_lanes(units, zeros)]


def _apply_shift(cols: list[int], reg: int) -> int:
    out = 0
    for i in range(32):
        if reg >> i & 1:
            out ^= cols[i]
    return out


def crc32c(data: bytes | memoryview) -> int:
    """CRC32C; large inputs are split into lanes run in parallel with numpy, then recombined."""
    n = len(data)
    if n < 8192:
        return _crc_scalar(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    lane_len = int(np.sqrt(n))
    lanes = n // lane_len
    body = np.frombuffer(data, dtype=np.uint8, count=lanes * lane_len).reshape(lanes, lane_len)
    init = np.zeros(lanes, dtype=np.uint32)
    init[0] = 0xFFFFFFFF
    regs = _crc_lanes(init, np.ascontiguousarray(body.T))
    shift = _shift_columns(lane_len)
    reg = int(regs[0])
    for r in regs[1:]:
        reg = _apply_shift(shift, reg) ^ int(r)
    reg = _crc_scalar(reg, memoryview(data)[lanes * lane_len:])
    return reg ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


# ---------------------------------------------------------------- varints and protobuf
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CheckpointError("truncated or malformed varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one protobuf message into (field number, int or bytes) pairs."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise CheckpointError("truncated protobuf message")
        fields.append((number, value))
    return fields


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _proto_fields(buf):
        if number == 2:  # Dim { int64 size = 1; string name = 2; }
            size = dict(_proto_fields(value)).get(1, 0)
            dims.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif number == 3 and value:
            raise CheckpointError("tensor with unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorEntry:
    f = {n: v for n, v in _proto_fields(buf)}
    if 7 in f:
        raise CheckpointError(f"tensor '{name}' is stored as slices (unsupported)")
    return TensorEntry(name, f.get(1, 0), _parse_shape(f.get(2, b"")), f.get(3, 0),
                       f.get(4, 0), f.get(5, 0), f.get(6, 0))


# ---------------------------------------------------------------- SSTable (.index)
def _read_block(index: bytes, offset: int, size: int) -> bytes:
    end = offset + size + _BLOCK_TRAILER_LEN
    if end > len(index) - _FOOTER_LEN:
        raise CheckpointError(f"block at offset {offset} runs past the end (truncated)")
    contents = index[offset:offset + size]
    kind, stored = struct.unpack_from("<BI", index, offset + size)
    if masked_crc32c(index[offset:offset + size + 1]) != stored:
        raise CheckpointError(f"crc mismatch in table block at offset {offset}")
    if kind != 0:
        raise CheckpointError(f"compressed table block (type {kind}) is not supported")
    return contents


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointError("table block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (n_restarts + 1)
    if limit < 0:
        raise CheckpointError("table block has a corrupt restart array")
    entries, pos, key = [], 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise CheckpointError("table block has a corrupt entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + vlen]))
        pos += vlen
    return entries


def _block_handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _table_items(index: bytes) -> list[tuple[bytes, bytes]]:
    if len(index) < _FOOTER_LEN:
        raise CheckpointError(f"file is {len(index)} bytes, shorter than a table footer (truncated)")
    footer = index[-_FOOTER_LEN:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise CheckpointError("bad table magic number (not a TensorFlow checkpoint index, or truncated)")
    _, _, pos = _block_handle(footer)  # metaindex block: unused by tensor bundles
    index_off, index_size, _ = _block_handle(footer, pos)
    items = []
    for _, handle in _block_entries(_read_block(index, index_off, index_size)):
        offset, size, _ = _block_handle(handle)
        items.extend(_block_entries(_read_block(index, offset, size)))
    return items


# ---------------------------------------------------------------- bundle
def _check_header(value: bytes) -> None:
    header = dict(_proto_fields(value))
    if header.get(1, 1) != 1:
        raise CheckpointError(f"{header.get(1)} data shards (only single-shard checkpoints supported)")
    if header.get(2, 0) != 0:
        raise CheckpointError("big-endian checkpoint is not supported")


def read_index(index: bytes) -> list[TensorEntry]:
    """All tensor entries of a bundle index, in key order."""
    items = _table_items(index)
    if not items or items[0][0] != b"":
        raise CheckpointError("missing bundle header entry")
    _check_header(items[0][1])
    return [_parse_entry(k.decode("utf-8"), v) for k, v in items[1:]]


def is_optimizer_state(name: str) -> bool:
    """Adam slots and beta powers: training state, not model weights."""
    leaf = name.rsplit("/", 1)[-1]
    return leaf.startswith("Adam") or leaf in ("beta1_power", "beta2_power")


def _decode_tensor(entry: TensorEntry, data: bytes) -> np.ndarray:
    if entry.dtype not in _DTYPES:
        raise CheckpointError(f"tensor '{entry.name}' has unsupported dtype enum {entry.dtype}")
    dtype = np.dtype(_DTYPES[entry.dtype])
    count = int(np.prod(entry.shape, dtype=np.int64))
    if entry.shard != 0 or entry.size != count * dtype.itemsize:
        raise CheckpointError(f"tensor '{entry.name}' has inconsistent size/shard in the index")
    if entry.offset + entry.size > len(data):
        raise CheckpointError(f"tensor '{entry.name}' needs bytes up to {entry.offset + entry.size} "
                              f"but the data file has {len(data)} (truncated)")
    raw = memoryview(data)[entry.offset:entry.offset + entry.size]
    if masked_crc32c(raw) != entry.crc:
        raise CheckpointError(f"crc mismatch in tensor '{entry.name}'")
    return np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()


def read_checkpoint_bytes(index: bytes, data: bytes, *, skip_optimizer: bool = True,
                          index_name: str = "<index>", data_name: str = "<data>") -> dict[str, np.ndarray]:
    """Decode an in-memory checkpoint; the names only label error messages."""
    try:
        entries = read_index(index)
    except CheckpointError as exc:
        raise CheckpointError(f"{index_name}: {exc}") from None
    out = {}
    for entry in entries:
        if skip_optimizer and is_optimizer_state(entry.name):
            continue
        try:
            out[entry.name] = _decode_tensor(entry, data)
        except CheckpointError as exc:
            raise CheckpointError(f"{data_name}: {exc}") from None
    return out


def read_checkpoint(path: str | os.PathLike, *, skip_optimizer: bool = True) -> dict[str, np.ndarray]:
    """Read ``<prefix>.index`` + data; ``path`` is the prefix, or a directory holding one bundle."""
    path = prefix = os.fspath(path)
    if os.path.isdir(path):
        found = [f[:-len(".index")] for f in os.listdir(path) if f.endswith(".index")]
        if len(found) != 1:
            raise CheckpointError(f"{path}: expected one *.index file, found {len(found)}")
        prefix = os.path.join(path, found[0])
    index_path, data_path = prefix + ".index", prefix + DATA_SUFFIX
    try:
        with open(index_path, "rb") as f:
            index = f.read()
        with open(data_path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint: {exc}") from exc
    return read_checkpoint_bytes(index, data, skip_optimizer=skip_optimizer,
                                 index_name=index_path, data_name=data_path)
