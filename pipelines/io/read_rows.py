"""Input files read by the workers, not the launcher.

The launcher only checks that each input file exists and that its header (CSV/TSV), first record (JSONL)
or schema (Parquet) is usable: those problems exit 2 naming the file before the pipeline starts. Rows
are read, validated and de-duplicated inside the pipeline:

  files ─┬─ ReadIds: valid rows' ids ── GroupByKey(bucket)* ── later occurrences ─┐ (side input: few)
         └─ ReadRows (counts inputs) ── CheckRows: malformed / duplicate_id ───────┴─> errors
                                              └─> first occurrence of each id ─> (Reshuffle) ─> stage

The rows are read twice (once for their ids only) so that only ids, not whole rows, go through the
shuffle: a runner that holds a shuffle in memory (Beam's local FnApiRunner does) then needs a few dozen
bytes per row instead of the row itself, and the rows stream from the file to the stage's steps.
Rows travel in lists (Chunks of READ_ROWS) from the file to the check, whose ids are grouped by bucket
of ids, a list per bucket and chunk; a stage gets the lists (`chunk_rows`) or the rows one by one.
"""
from __future__ import annotations

import codecs
import errno
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics

from pipelines.io.chunks import Chunk
from pipelines.io.errors import error_record
from pipelines.io.json_bytes import NOT_SURE, parse_if_sure

ERRORS = "errors"
NAMESPACE = "inputs"  # Beam counter namespace: inputs/rows is the row count every summary reports
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
HEAD_BYTES = 1 << 16  # what the launcher reads of each file to check its header
FILE_BITS = 40  # order key = file index << FILE_BITS | row number: one int per row in the shuffle
ID_BUCKETS = 64  # ids are grouped in this many buckets (see _ids_by_bucket)
READ_ROWS = 1024  # rows per list between the file and the check, when the stage does not choose


class InputError(ValueError):
    """An input file that cannot be used at all (exit 2, the file named)."""


class RowError(ValueError):
    """One row could not be parsed; `partial` keeps what could be read (e.g. its music_id)."""

    reason = "malformed_row"

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}

    def __reduce__(self):  # keep `partial` when Beam pickles the row
        return (type(self), (str(self), self.partial))


def detect_format(path: str, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    stem = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(stem)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"{path}: cannot tell the file format from '{ext or 'no extension'}'; "
                         f"use one of {', '.join(sorted(FORMATS))} or pass the --*-format option")
    return FORMATS[ext]


def row_id(raw: Any, id_field: str) -> str:
    """A row's id as text; raises ValueError when it has none (missing, empty, NaN)."""
    value = raw.get(id_field) if isinstance(raw, dict) else None
    if isinstance(value, float) and not math.isfinite(value):
        # pandas and Parquet writers turn an empty cell of a numeric column into NaN: not an id
        raise ValueError(f"{id_field} is {value} (an empty cell?), not an id")
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError(f"missing required field(s): {id_field}")
    return text


# ---------------------------------------------------------------- launcher side: checks only

@dataclass(frozen=True)
class InputSource:
    """Checked input files; the rows are read later, by the workers."""

    pattern: str
    files: tuple[str, ...]
    fmt: str
    id_field: str
    required: tuple[str, ...]


def _local_problem(path: str) -> str | None:
    """Why a local path cannot be read, told apart (a symlink loop is not a missing file)."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (the link points back to itself)"
        if os.path.islink(path):
            return f"is a symbolic link to something that does not exist ({os.readlink(path)})"
        if exc.errno == errno.ENOENT:
            return "does not exist"
        return f"cannot be read: {exc.strerror}"
    if os.path.isdir(path):
        return "is a directory, not a file"
    return None


def _is_local(path: str) -> bool:
    from pipelines.io.media_source import URI_SCHEME

    return not URI_SCHEME.match(path) or path.startswith("file://")


def match_inputs(pattern: str, what: str) -> list[str]:
    from pipelines.io.outputs import resolve_inputs

    if _is_local(pattern) and not any(c in pattern for c in "*?["):
        problem = _local_problem(pattern[len("file://"):] if pattern.startswith("file://") else pattern)
        if problem:
            raise InputError(f"{what} {pattern} {problem}")
    files = resolve_inputs(pattern)
    if not files:
        raise InputError(f"{what} {pattern}: no such file (nothing matches)")
    for path in files:
        if _is_local(path):
            problem = _local_problem(path)
            if problem:
                raise InputError(f"{what} {path} {problem}")
    return files


def _head(path: str, what: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as fh:  # AUTO compression: a .csv.gz is read as text
            return fh.read(HEAD_BYTES)
    except Exception as exc:  # Beam wraps IO errors in several types; all mean "cannot read it"
        raise InputError(f"cannot read {what} {path}: {exc}") from exc


def _decode_head(data: bytes, path: str, what: str) -> str:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return decoder.decode(data, final=len(data) < HEAD_BYTES)  # a cut multibyte char is not an error
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8") from None


def _check_columns(found: list[str], required: tuple[str, ...], path: str, what: str, kind: str) -> None:
    missing = [c for c in required if c not in found]
    if missing:
        raise InputError(f"{what} {path} needs the column(s) {', '.join(missing)} "
                         f"({kind}: {', '.join(found) if found else 'none'})")


def _check_file(path: str, fmt: str, required: tuple[str, ...], id_field: str, what: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                names = pq.ParquetFile(fh).schema_arrow.names
        except Exception as exc:
            raise InputError(f"{what} {path} is not a readable Parquet file: {exc}") from exc
        _check_columns(names, required, path, what, "columns found")
        return
    data = _head(path, what)
    text = _decode_head(data, path, what)
    if not text.strip():
        raise InputError(f"{what} {path} is empty (no header row)" if fmt in ("csv", "tsv")
                         else f"{what} {path} is empty")
    if fmt in ("csv", "tsv"):
        import csv
        import io

        header = next(csv.reader(io.StringIO(text, newline=""), delimiter="," if fmt == "csv" else "\t"), [])
        _check_columns([h.strip() for h in header], required, path, what, "header")
        return
    first = text.lstrip()
    if first.startswith("["):
        return  # a JSON array of objects: read whole by the worker
    line = first.split("\n", 1)[0]
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return  # a broken first line is that row's error, not the file's
    if isinstance(obj, dict) and id_field:
        # JSONL has no header: its first record stands for one, as far as the id goes
        _check_columns(list(obj), (id_field,), path, what, "keys of the first record")


def check_input(pattern: str, fmt: str | None, required: tuple[str, ...], id_field: str,
                what: str = "manifest") -> InputSource:
    """Exists, has a known format and a usable header/schema; raises InputError naming the file."""
    files = match_inputs(pattern, what)
    fmt = detect_format(files[0], fmt)
    for path in files:
        _check_file(path, fmt, required, id_field, what)
    return InputSource(pattern, tuple(files), fmt, id_field, tuple(required))


# ---------------------------------------------------------------- worker side: streaming readers

def _lines(fh) -> Iterator[bytes]:
    first = True
    for line in iter(fh.readline, b""):
        if first:
            line, first = line[3:] if line.startswith(codecs.BOM_UTF8) else line, False
        yield line


def _not_utf8(line: bytes) -> str:
    try:
        line.decode("utf-8")
        return ""
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8"


def iter_csv(fh, delimiter: str, path: str) -> Iterator[tuple[int, Any]]:
    import csv

    # surrogateescape keeps a non-UTF-8 byte visible to the check below instead of failing the file
    text = (line.decode("utf-8", "surrogateescape") for line in _lines(fh))
    reader = csv.reader(text, delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    for i, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue  # blank lines are not rows
        try:
            "".join(values).encode("utf-8")
        except UnicodeEncodeError:
            bad = "".join(values).encode("utf-8", "surrogateescape")
            yield i, RowError(f"{path} row {i}: {_not_utf8(bad)}", {})
            continue
        if len(values) != len(header):
            yield i, RowError(f"expected {len(header)} fields, found {len(values)}: {values!r}",
                              # the fields that line up with the header, for the error row: truncation intended
                              dict(zip(header, values, strict=False)))
        else:
            yield i, dict(zip(header, values, strict=True))


def iter_jsonl(fh, path: str) -> Iterator[tuple[int, Any]]:
    lines = _lines(fh)
    row = 0
    for line in lines:
        if not line.strip():
            continue
        if row == 0 and line.lstrip().startswith(b"["):  # a JSON array of objects is accepted too
            data = line + b"".join(lines)
            try:
                rows = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield 1, RowError(f"{path} is not a valid JSON array: {exc}")
                return
            for i, r in enumerate(rows, start=1):
                yield i, r if isinstance(r, dict) else RowError(f"not an object: {r!r}")
            return
        row += 1
        obj = parse_if_sure(line)  # orjson where it surely agrees with json.loads (pipelines/io/json_bytes.py)
        if obj is not NOT_SURE:
            yield row, obj if isinstance(obj, dict) else RowError(f"not a JSON object: {line[:200]!r}")
            continue
        # json.loads says what is wrong, in the words it always has
        try:
            text = line.decode("utf-8")  # decoded once: json.loads on bytes would detect and decode again
        except UnicodeDecodeError:
            yield row, RowError(f"{path} row {row}: {_not_utf8(line)}")
            continue
        try:
            obj = json.loads(text)
            yield row, obj if isinstance(obj, dict) else RowError(f"not a JSON object: {line[:200]!r}")
        except json.JSONDecodeError as exc:
            yield row, RowError(f"invalid JSON ({exc.msg} at column {exc.colno}): {line[:200]!r}")


def iter_parquet(fh, columns: list[str] | None, chunk_rows: int = 1024) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    from pipelines.io.parquet_stream import iter_batches

    parquet = pq.ParquetFile(fh)
    if columns:
        columns = [c for c in columns if c in parquet.schema_arrow.names]
    row = 0
    # a chunk at a time: a whole row group as Python objects can be millions of objects; and a row group
    # at a time: one reader over the whole file keeps every byte it has read (parquet_stream.py)
    for batch in iter_batches(parquet, batch_size=chunk_rows, columns=columns or None):
        for raw in batch.to_pylist():
            row += 1
            yield row, raw


def iter_file(path: str, fmt: str, columns: list[str] | None = None) -> Iterator[tuple[int, Any]]:
    """(1-based row number, row dict or RowError) of one file, streamed."""
    from apache_beam.io.filesystems import FileSystems

    if fmt == "parquet":
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            yield from iter_parquet(fh, columns)
        return
    with FileSystems.open(path) as fh:
        if fmt in ("csv", "tsv"):
            yield from iter_csv(fh, "," if fmt == "csv" else "\t", path)
        else:
            yield from iter_jsonl(fh, path)


class ReadFileRows(beam.DoFn):
    """(file index, path) -> lists of up to `chunk_rows` (order, ref, raw) rows; counts rows when `count`
    is set."""

    def __init__(self, fmt: str, columns: list[str] | None = None, count: bool = True, counter: str = "rows",
                 chunk_rows: int = READ_ROWS):
        self.fmt, self.columns, self.count, self.chunk_rows = fmt, columns, count, chunk_rows
        self.rows = Metrics.counter(NAMESPACE, counter)

    def process(self, element):
        rows = self._rows(*element)
        chunk = Chunk()
        for row in rows:
            chunk.append(row)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = Chunk()
        if chunk:
            yield chunk

    def _rows(self, index: int, path: str):
        from pipelines.io.outputs import kill_point

        for row, raw in iter_file(path, self.fmt, self.columns):
            if self.count:
                self.rows.inc()
            yield (index << FILE_BITS) | row, {"source": path, "row": row}, raw
            if self.count and row == 2:
                kill_point("during_pipeline")  # tests/faults: a worker dies mid-run


def _validated(validate, raw, ref, id_field: str):
    """(id, item) of a row, or raises ValueError saying why the row is unusable."""
    if isinstance(raw, Exception):
        raise raw
    rid = row_id(raw, id_field)
    return rid, (validate(raw, ref) if validate else (ref, raw))


def _ids_of(element, validate, id_field) -> list:
    order, ref, raw = element
    try:
        rid, _ = _validated(validate, raw, ref, id_field)
    except ValueError:
        return []  # the main branch reports it
    return [(rid, order)]


def _ids_by_bucket(chunk, validate, id_field) -> list:
    """A list of rows -> (bucket, [(id, order), ...]) per bucket its ids fall in. Grouping by bucket
    instead of by id shuffles a few lists per chunk instead of an element per row (the shuffle was half
    the duplicate check's cost); a bucket holds 1/ID_BUCKETS of the ids when its group is read."""
    buckets: dict[int, list] = {}
    for element in chunk:
        for rid, order in _ids_of(element, validate, id_field):
            # crc32, not hash(): the same bucket on every worker (str hashes are salted per process)
            buckets.setdefault(zlib.crc32(rid.encode("utf-8", "surrogatepass")) % ID_BUCKETS, []).append((rid, order))
    return list(buckets.items())


def _later_in_bucket(group):
    """A bucket's (id, order) lists -> (order, (id, first order)) of every occurrence after an id's first."""
    _, lists = group
    orders: dict[str, list[int]] = {}
    for pairs in lists:
        for rid, order in pairs:
            orders.setdefault(rid, []).append(order)
    for rid, found in orders.items():
        if len(found) > 1:
            yield from _later_occurrences((rid, found))


def _later_occurrences(group):
    rid, orders = group
    orders = sorted(orders)
    for later in orders[1:]:
        yield later, (rid, orders[0])


class CheckRows(beam.DoFn):
    """A list of rows -> the usable ones' items as one list, each error on its own: malformed_row, or
    duplicate_id for every occurrence of an id after the first (in file order, then row order).

    `then(item)`, when given, turns each usable item into the stage's own (or a TaggedOutput(ERRORS, record)
    saying why it cannot be used). Its errors then share this step's error output: each error output
    costs the pipeline a Parquet writer, four stages on the local runner."""

    def __init__(self, validate: Callable | None, id_field: str, stage: str, purpose: str, files: tuple[str, ...],
                 then: Callable | None = None):
        self.validate, self.id_field, self.stage, self.purpose, self.files = validate, id_field, stage, purpose, files
        self.then = then

    def process(self, chunk, duplicates):
        items = Chunk()
        for element in chunk:
            out = self.check(element, duplicates)
            if self.then is not None and not isinstance(out, beam.pvalue.TaggedOutput):
                out = self.then(out)
            if isinstance(out, beam.pvalue.TaggedOutput):
                yield out
            else:
                items.append(out)
        if items:
            yield items

    def check(self, element, duplicates):
        """The row's item, or a TaggedOutput(ERRORS, record) saying why it is not used."""
        order, ref, raw = element
        fields = raw.partial if isinstance(raw, RowError) else raw if isinstance(raw, dict) else None
        try:
            rid, item = _validated(self.validate, raw, ref, self.id_field)
        except ValueError as exc:
            input_ref = {**ref, "raw": fields}
            try:
                rid = row_id(fields, self.id_field) if fields else None
            except ValueError:
                rid = None
            message = str(exc) if str(exc).startswith(ref["source"]) else f"{ref['source']} row {ref['row']}: {exc}"
            return beam.pvalue.TaggedOutput(ERRORS, error_record(
                rid or f"{ref['source']}:{ref['row']}", self.stage, getattr(exc, "reason", None) or "malformed_row",
                message, input_ref))
        first = duplicates.get(order)
        if first is not None:
            _, first_order = first
            first_file, first_row = self.files[first_order >> FILE_BITS], first_order & ((1 << FILE_BITS) - 1)
            where = f"row {first_row}" + ("" if first_file == ref["source"] else f" of {first_file}")
            input_ref = {**ref, "raw": fields}
            return beam.pvalue.TaggedOutput(ERRORS, error_record(
                rid, self.stage, "duplicate_id",
                f"{ref['source']} row {ref['row']}: {self.id_field} '{rid}' was already used by {where}; "
                f"only the first is {self.purpose}", input_ref))
        return item


class ReadInput(beam.PTransform):
    """The rows of an InputSource: main output = validated items (first occurrence of each id), ERRORS =
    error records. `validate(raw, ref)` builds a stage's item (default: the (ref, raw) pair) and raises
    ValueError for a malformed row; it runs on both branches so only valid rows claim an id.

    With `chunk_rows` the main output's elements are lists of up to that many items: a stage whose
    per-row work takes microseconds would otherwise spend most of its time in Beam's per-element
    dispatch between steps (bench/synthesize_floor.py). Without, items leave one by one (a stage whose
    rows each take seconds, spread over workers row by row). `then`: see CheckRows."""

    def __init__(self, source: InputSource, stage: str, purpose: str, validate: Callable | None = None,
                 spread: bool = True, counter: str = "rows", chunk_rows: int | None = None,
                 then: Callable | None = None):
        super().__init__()
        self.source, self.stage, self.purpose, self.validate, self.spread = source, stage, purpose, validate, spread
        self.counter, self.chunk_rows, self.then = counter, chunk_rows, then

    def expand(self, pbegin):
        s = self.source
        files = list(enumerate(s.files))
        id_columns = None if self.validate else [s.id_field]
        # Two Creates, not one shared: Beam's local runner fuses steps that share a producer, and a
        # stage feeding the side input cannot also hold its consumer, so a shared one would make the
        # runner buffer every row between ReadRows and Check.
        read_rows = self.chunk_rows or READ_ROWS
        # Lists of rows are Chunks for Beam (see chunks.py: their coder is what makes them cheap).
        duplicates = (
            pbegin
            | "FilesForIds" >> beam.Create(files)
            | "ReadIds" >> beam.ParDo(ReadFileRows(s.fmt, id_columns, count=False, chunk_rows=read_rows))
            .with_output_types(Chunk)
            | "Ids" >> beam.FlatMap(_ids_by_bucket, self.validate, s.id_field)
            | "ByBucket" >> beam.GroupByKey()
            | "Later" >> beam.FlatMap(_later_in_bucket)
        )
        checked = (
            pbegin
            | "FilesForRows" >> beam.Create(files)
            # a file per worker; a large file is read by one worker while its rows stream onwards
            | "ReadRows" >> beam.ParDo(ReadFileRows(s.fmt, counter=self.counter, chunk_rows=read_rows))
            .with_output_types(Chunk)
            | "Check" >> beam.ParDo(
                CheckRows(self.validate, s.id_field, self.stage, self.purpose, s.files, then=self.then),
                duplicates=beam.pvalue.AsDict(duplicates)).with_outputs(ERRORS, main="ok")
        )
        ok = checked.ok if self.chunk_rows else checked.ok | "Rows" >> beam.FlatMap(iter)
        if self.spread:
            ok = ok | "Spread" >> beam.Reshuffle().with_output_types(Chunk if self.chunk_rows else Any)
        return {"ok": ok, ERRORS: checked[ERRORS]}


def spread_rows(runner: str, workers: int) -> bool:
    """Reshuffle rows over workers, except where there is one worker in this process: there the
    shuffle would only hold every row in memory at once (FnApiRunner keeps shuffles in memory)."""
    return not (runner in ("local", "FnApiRunner") and workers <= 1)


def input_rows(result, counter: str = "rows") -> int | None:
    """inputs/<counter> from the run's Beam metrics (None when the runner reports none)."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(counter))["counters"]
    except Exception:
        return None
    if not counters:
        return 0
    return sum(int(c.committed if c.committed is not None else c.attempted or 0) for c in counters)


def read_all(source: InputSource, validate: Callable | None, stage: str, purpose: str) -> tuple[list, list[dict], int]:
    """The same rules without Beam, for small files and tests: (items, errors, number of rows)."""
    rows = [((i << FILE_BITS) | row, {"source": path, "row": row}, raw)
            for i, path in enumerate(source.files) for row, raw in iter_file(path, source.fmt)]
    groups: dict[str, list[int]] = {}
    for element in rows:
        for rid, order in _ids_of(element, validate, source.id_field):
            groups.setdefault(rid, []).append(order)
    duplicates = dict(x for g in groups.items() for x in _later_occurrences(g))
    items, errors = [], []
    check = CheckRows(validate, source.id_field, stage, purpose, source.files)
    for element in rows:
        out = check.check(element, duplicates)
        (errors.append(out.value) if isinstance(out, beam.pvalue.TaggedOutput) else items.append(out))
    return items, errors, len(rows)

