"""JSON from bytes: orjson's parse wherever its answer is surely ``json.loads``', json.loads elsewhere.

orjson parses a small document in about half json.loads' time (JSONL rows: 1.7 against 2.8 us; every row
is parsed twice, once for its id), but it is not the same parser everywhere:
- it rejects what json.loads accepts beyond strict JSON (NaN, Infinity, lone surrogates, 1e400, a UTF-8
  BOM or UTF-16): orjson raises, and json.loads then gives its answer or its own error;
- it reads an integer beyond 64 bits as a float, silently: a document with 19 digits in a row is left to
  json.loads. Most documents hold fewer than 19 digits in all, which one bytes.translate pass tells;
  the others have every digit mapped to "0" and every other byte to "." and are searched for nineteen
  "0"s in a row: passes in C, where a regex search cost 910 us on a 77 KB document (69 us this way).
Documents of 64 KB or more go to json.loads at once: there the check costs as much as orjson's parse
(683 against 701 us on 300 KB of rerun index entries), and such documents mostly fail it anyway (hex
digests and small floats such as 0.000123... hold 19-digit runs). The rerun index's packs, which are that
big, do not come here: their writer records whether orjson may read them (prompt2text/rerun_index.py).
tests/io/test_json_bytes.py and test_jsonl_rows.py compare both parsers on tricky and fuzzed documents.
"""
from __future__ import annotations

import json

import orjson

NOT_SURE = object()  # parse_if_sure's answer when only json.loads can say
LARGE = 1 << 16  # bytes from which `loads` leaves documents to json.loads
_DIGITS = b"0123456789"
_DIGIT_MARKS = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(".") for b in range(256))
_LONG_RUN = b"0" * 19


def _may_hold_long_number(data: bytes) -> bool:
    """True when `data` has 19 ASCII digits in a row (an integer orjson might read as a float)."""
    return len(data) - len(data.translate(None, _DIGITS)) >= 19 and _LONG_RUN in data.translate(_DIGIT_MARKS)


def parse_if_sure(data: bytes):
    """orjson's value for `data` when it is surely json.loads' value; NOT_SURE otherwise (an error included:
    json.loads words its errors differently, and callers report those words)."""
    if _may_hold_long_number(data):
        return NOT_SURE
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_SURE


def loads(data: bytes):
    """``json.loads(data)``, by orjson where that gives the same value (and the document is small)."""
    if len(data) >= LARGE:
        return json.loads(data)
    value = parse_if_sure(data)
    return json.loads(data) if value is NOT_SURE else value
