"""Reading input manifests (CSV, JSONL or Parquet) into validated rows plus per-row errors.

A malformed row never stops the run: it becomes an error record. Only a manifest that cannot be
read at all (missing, unknown format, no required columns) raises ManifestError.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from pipelines.io.errors import error_record

REQUIRED = ("music_id", "audio_path")
OPTIONAL = ("start_s", "end_s", "video_id")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


class ManifestError(ValueError):
    """The manifest as a whole is unusable."""


class RowError(ValueError):
    """One row could not be parsed; `partial` keeps what could be read (e.g. its music_id)."""

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}


@dataclass
class ClipRequest:
    """One validated manifest row: what to tag. `row` is the 1-based data row number in the manifest."""

    music_id: str
    audio_path: str
    start_s: float | None = None
    end_s: float | None = None
    video_id: str | None = None
    row: int = 0
    manifest: str = ""
    extra: dict = field(default_factory=dict)

    def ref(self) -> dict:
        return asdict(self)


@dataclass
class Manifest:
    clips: list[ClipRequest]
    errors: list[dict]
    n_rows: int
    source: str


def detect_format(path: str, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    stem = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(stem)[1].lower()
    if ext not in FORMATS:
        raise ManifestError(f"{path}: cannot tell the manifest format from '{ext or 'no extension'}'; "
                            f"use one of {', '.join(sorted(FORMATS))} or pass --manifest-format")
    return FORMATS[ext]


def _open_bytes(path: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as fh:
            return fh.read()
    except Exception as exc:  # Beam wraps IO errors in several types; all mean "cannot read it"
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc


def _iter_csv(data: bytes, delimiter: str, path: str) -> Iterator[tuple[int, Any]]:
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ManifestError(f"{path}: the manifest is empty (no header row)")
    header = [h.strip() for h in header]
    for i, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue  # blank lines are not rows
        if len(values) != len(header):
            yield i, RowError(f"expected {len(header)} fields, found {len(values)}: {values!r}",
                              dict(zip(header, values)))
        else:
            yield i, dict(zip(header, values))


def _iter_jsonl(data: bytes, path: str) -> Iterator[tuple[int, Any]]:
    text = data.decode("utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects is accepted too
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not valid JSON: {exc}") from exc
        yield from ((i, r if isinstance(r, dict) else ValueError(f"not an object: {r!r}"))
                    for i, r in enumerate(rows, start=1))
        return
    row = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        row += 1
        try:
            obj = json.loads(line)
            yield row, obj if isinstance(obj, dict) else ValueError(f"not a JSON object: {line[:200]!r}")
        except json.JSONDecodeError as exc:
            yield row, ValueError(f"invalid JSON ({exc.msg} at column {exc.colno}): {line[:200]!r}")


def _iter_parquet(data: bytes, path: str) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:
        raise ManifestError(f"{path}: not a readable Parquet file: {exc}") from exc
    yield from enumerate(table.to_pylist(), start=1)


def optional_float(raw: dict, key: str) -> float | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{key} must be a finite, non-negative number of seconds, got {value!r}")
    return number


def optional_str(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def resolve_path(audio_path: str, manifest_path: str) -> str:
    """Relative local paths are relative to the manifest's folder, so a manifest travels with its audio."""
    if "://" in audio_path or os.path.isabs(audio_path) or "://" in manifest_path:
        return audio_path
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(manifest_path)), audio_path))


def validate_row(raw: dict, row: int, path: str, require_audio: bool = True) -> ClipRequest:
    music_id = optional_str(raw, "music_id")
    audio_path = optional_str(raw, "audio_path")
    required = (("music_id", music_id), ("audio_path", audio_path)) if require_audio else (("music_id", music_id),)
    missing = [k for k, v in required if v is None]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    start_s, end_s = optional_float(raw, "start_s"), optional_float(raw, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
    extra = {k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL}
    return ClipRequest(music_id, resolve_path(audio_path, path) if audio_path else "", start_s, end_s,
                       optional_str(raw, "video_id"), row, path, extra)


def iter_records(path: str, fmt: str | None = None) -> Iterator[tuple[int, dict | Exception]]:
    """(1-based row number, row dict or the reason it could not be parsed) for a CSV/TSV/JSONL/Parquet file."""
    fmt = detect_format(path, fmt)
    data = _open_bytes(path)
    if fmt == "parquet":
        return _iter_parquet(data, path)
    if fmt in ("csv", "tsv"):
        return _iter_csv(data, "," if fmt == "csv" else "\t", path)
    return _iter_jsonl(data, path)


def read_validated(path: str, fmt: str | None, validate, id_field: str, purpose: str,
                   required: tuple[str, ...]) -> Manifest:
    """Rows of any manifest through `validate(raw, row, path)`: malformed rows and repeated ids become
    error records; the first row of an id wins. `purpose` completes "only the first is ..."."""
    items: list = []
    errors: list[dict] = []
    first_row: dict[str, int] = {}
    n_rows, columns = 0, set()
    for row, raw in iter_records(path, fmt):
        n_rows += 1
        columns |= set(raw) if isinstance(raw, dict) else set()
        fields = raw.partial if isinstance(raw, RowError) else raw if isinstance(raw, dict) else None
        ref = {"manifest": path, "row": row, "raw": fields}
        try:
            if isinstance(raw, Exception):
                raise raw
            item = validate(raw, row, path)
        except ValueError as exc:
            rid = optional_str(fields, id_field) if fields else None
            errors.append(error_record(rid or f"{path}:{row}", "manifest", "malformed_row",
                                       f"manifest row {row}: {exc}", ref))
            continue
        item_id = getattr(item, id_field)
        if item_id in first_row:
            errors.append(error_record(item_id, "manifest", "duplicate_id",
                                       f"manifest row {row}: {id_field} '{item_id}' was already used "
                                       f"by row {first_row[item_id]}; only the first is {purpose}", ref))
            continue
        first_row[item_id] = row
        items.append(item)
    if n_rows == 0:
        raise ManifestError(f"{path}: the manifest has no rows")
    if not items and columns and not set(required) <= columns:
        raise ManifestError(f"{path}: the manifest needs the column(s) {', '.join(required)} "
                            f"(found: {', '.join(sorted(columns))})")
    return Manifest(items, errors, n_rows, path)


def read_manifest(path: str, fmt: str | None = None, require_audio: bool = True) -> Manifest:
    """The tag stage's manifest: ClipRequests (music_id, audio_path, segment, video_id)."""
    return read_validated(path, fmt, lambda raw, row, p: validate_row(raw, row, p, require_audio),
                          "music_id", "tagged", ("music_id",))
