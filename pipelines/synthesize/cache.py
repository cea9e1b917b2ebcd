"""A persistent, content-addressed cache of LLM responses.

key = sha256 of (rendered prompt or chat messages, model, generation parameters, sample index), so a
rerun with unchanged prompts makes no request, a changed template or example pool misses only for
the rows whose prompt changed, and a killed run resumes where it stopped.

One small JSON file per key under `<root>/<k[:2]>/<k>.json`, written atomically (temp file + rename
locally; object stores write whole objects), so several worker processes - or machines sharing a
bucket - can read and fill it at the same time. Any Beam filesystem works (local, gs://, s3://).
The same root also holds prompt2text's rerun index (`rows-v1/`, files *.row and *.pack; see
prompt2text/rerun_index.py), which is derived from these responses and safe to delete.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from dataclasses import asdict, fields, is_dataclass
from typing import Any

from pipelines.io import json_bytes

CACHE_FORMAT = 1


def cache_key(prompt: Any, model: str, params: Any, sample: int) -> str:
    """Stable across processes and runs: canonical JSON, sorted keys, no floats formatting surprises."""
    payload = {
        "v": CACHE_FORMAT,
        "prompt": prompt,
        "model": model,
        "params": _fields(params) if is_dataclass(params) else params,
        "sample": sample,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=list)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _fields(params) -> dict:
    """A dataclass's fields as a dict, as `asdict` gives them; shallow when no field holds a dataclass
    (asdict deep-copies every value: a tenth of a cached prompt2text rerun's time went there)."""
    values = {name: getattr(params, name) for name in _field_names(type(params))}
    return asdict(params) if any(is_dataclass(v) for v in values.values() if not _plain(v)) else values


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))  # dataclasses.fields() cost more than the rest of a key


def _plain(value) -> bool:
    """A value that is surely not a dataclass (the generation parameters' own types)."""
    return value is None or type(value) in (int, float, str, bool, tuple, list)


def join_path(root: str, *parts: str) -> str:
    """`root`/parts..., for a local folder or any Beam filesystem URI."""
    if "://" not in root:
        return os.path.join(root, *parts)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(root, *parts)


def encode_value(value: dict) -> bytes:
    """The bytes a cached value is stored as (what `put` writes)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


class ResponseCache:
    """Files named by key under `root`; `suffix` tells kinds of files apart when they share a root."""

    def __init__(self, root: str, suffix: str = ".json"):
        self.root = root
        self.suffix = suffix
        self._local = "://" not in root
        self._prefix = os.path.join(root, "") if self._local else None  # paths by concatenation: many per row
        self._made: set[str] = set()  # shard folders known to exist (one makedirs each, not one per put)

    @property
    def is_local(self) -> bool:
        """A folder on this machine (else a Beam filesystem URI, whose reads take tens of ms each)."""
        return self._local

    def _path(self, key: str) -> str:
        if self._local:
            return f"{self._prefix}{key[:2]}{os.sep}{key}{self.suffix}"
        return join_path(self.root, key[:2], f"{key}{self.suffix}")

    def get(self, key: str) -> dict | None:
        found = self.get_with_bytes(key)
        return found[0] if found is not None else None

    def get_with_bytes(self, key: str) -> tuple[dict, bytes] | None:
        """The cached value and its file's bytes (what the rerun index hashes), or None for a miss."""
        data = self.get_bytes(key)
        if data is None:
            return None
        try:
            value = json_bytes.loads(data)  # orjson where it agrees with json.loads: a rerun reads a file a row
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # a torn or foreign file is a miss; the next put overwrites it
        return (value, data) if isinstance(value, dict) else None

    def get_bytes(self, key: str) -> bytes | None:
        """The stored file's bytes, or None when there is none."""
        path = self._path(key)
        try:
            if self._local:
                return _read_local(path)
            from apache_beam.io.filesystems import FileSystems

            if not FileSystems.exists(path):
                return None
            with FileSystems.open(path) as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def put(self, key: str, value: dict) -> bytes:
        """Stores `value`; returns the bytes written (what a later `get_bytes` reads unless another writer
        replaced them)."""
        data = encode_value(value)
        self.put_bytes(key, data)
        return data

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self._local:
            folder = os.path.dirname(path)
            if folder not in self._made:
                os.makedirs(folder, exist_ok=True)
                self._made.add(folder)
            # a temp name unique to this process and thread (cheaper than mkstemp's retry loop)
            tmp = os.path.join(os.path.dirname(path), f".tmp-{os.getpid()}-{threading.get_ident()}-{key[:8]}")
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
            return
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(path) as fh:
            fh.write(data)


def _read_local(path: str) -> bytes:
    """A whole small file through the OS calls: open() with its buffered text layer and json.load cost a
    cached prompt2text rerun ~15 us per file more. One read gets a file smaller than its buffer (a
    regular file reads short only at its end); a bigger one is read on to the end."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, _READ_SIZE)
        if len(data) < _READ_SIZE:
            return data
        chunks = [data]
        while chunk := os.read(fd, _READ_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_READ_SIZE = 1 << 16  # responses and index entries are about a kilobyte
