"""JSONL rows are parsed by orjson only where its answer is json.loads' answer: same values, same key
order, same types; every other line takes json.loads and gets the error message it always had."""
import io

import orjson
from json_cases import TRICKY, fuzzed_lines

from pipelines.io import json_bytes, read_rows
from pipelines.io.read_rows import RowError


def _read(line: bytes, monkeypatch=None):
    """What iter_jsonl gives for the line: the row dict, or its error's message. With `monkeypatch`, every
    line takes json.loads, as before orjson (the long-number guard then says yes to every line)."""
    if monkeypatch is not None:
        monkeypatch.setattr(json_bytes, "_may_hold_long_number", lambda line: True)
    try:
        [(row, got)] = list(read_rows.iter_jsonl(io.BytesIO(line + b"\n"), "f.jsonl"))
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()
    assert row == 1
    return f"error: {got}" if isinstance(got, RowError) else got


def _same(got, expected) -> bool:
    """Equal values, types and key order (repr shows all three; NaN compares by repr too)."""
    return repr(got) == repr(expected)


def test_tricky_lines_read_as_json_loads_reads_them(monkeypatch):
    for line in TRICKY:
        assert _same(_read(line), _read(line, monkeypatch)), line


def test_fuzzed_lines_read_as_json_loads_reads_them(monkeypatch):
    """Random values written by json.dumps, then bytes flipped, dropped or inserted: whatever orjson accepts
    is what json.loads gives, and the rest reads as before."""
    agreed = fallback = 0
    for line in fuzzed_lines(20000):
        if not line.strip() or line.lstrip().startswith(b"["):
            continue  # blank lines are skipped, and a leading "[" is a whole-file array: not one row
        assert _same(_read(line), _read(line, monkeypatch)), line
        try:
            orjson.loads(line)
            agreed += 1
        except orjson.JSONDecodeError:
            fallback += 1
    assert agreed > 5000 and fallback > 2000  # both parsers were exercised


def test_fast_path_is_taken_and_long_numbers_are_not():
    """orjson reads ordinary rows; a 19-digit run sends the line to json.loads, which keeps the integer."""
    assert not json_bytes._may_hold_long_number(b'{"music_id": "m1", "tags": ["rock"], "n": 123456789012345678}')
    assert json_bytes._may_hold_long_number(b'{"n": 1234567890123456789}')
    assert _read(b'{"music_id": 12345678901234567890123}') == {"music_id": 12345678901234567890123}
