"""JSONL rows are parsed by orjson only where its answer is json.loads' answer: same values, same key
order, same types; every other line takes json.loads and gets the error message it always had."""
import io
import json
import random

import orjson

from pipelines.io import read_rows
from pipelines.io.read_rows import RowError

TRICKY = [
    b'{"a": 1, "b": 2, "a": 3}', b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'{"x": 1e400}',
    b'{"x": -1e400}', b'{"x": 1e-400}', b'{"x": 12345678901234567890}', b'{"x": -9223372036854775809}',
    b'{"x": 18446744073709551616}', b'{"x": 9223372036854775807}', b'{"x": "\\ud800"}', b'{"x": "\\udc00x"}',
    b'{"x": "\\ud83c\\udfb5"}', b'{"x": "a\x01b"}', b'{"x": 01}', b'{"x": +1}', b'{"x": .5}', b'{"x": 1.}',
    b'{"x": [1, 2,]}', b"{'x': 1}", b'{"x": 1} x', b'\xef\xbb\xbf{"x": 1}', b'{"x": "\xff"}', b'{"x": "\xed\xa0\x80"}',
    b'{"x": -0}', b'{"x": -0.0}', b'{"x": 0.1e1}', b'{"x": 1E+2}', b'{"x": "\\u0000"}', b'{"x": true, "y": null}',
    b'"text"', b'3', b'{"music_id": "m1", "tags": ["rock", "jazz"]}', b'{"x": 1}\r\n', b'\t{"x": {}}',
    b'{"x": 5e-324}', b'{"x": 1.7976931348623157e308}', b'{"x": 2.2250738585072011e-308}', b'{"x": "\\/"}',
    b'{"x": 1' + b"0" * 30 + b'}', b'{"x": 0.' + b"1" * 40 + b'}', b'{"x": [' * 300 + b']' * 300 + b'}',
]


def _read(line: bytes, monkeypatch=None):
    """What iter_jsonl gives for the line: the row dict, or its error's message. With `monkeypatch`, every
    line takes json.loads, as before orjson (the long-number guard then says yes to every line)."""
    if monkeypatch is not None:
        monkeypatch.setattr(read_rows, "_may_hold_long_number", lambda line: True)
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
    rng = random.Random(4)
    alphabet = b'{}[]":,.-+eE0123456789 \t\\/ntruefalsenull\x00\x1f\x7f\xc3\xa9\xff\xed\xa0u'

    def value(depth=0):
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return rng.randint(-2 ** 70, 2 ** 70) if rng.random() < 0.3 else rng.randint(-1000, 1000)
        if kind == 1:
            return rng.choice([rng.random() * 10 ** rng.randint(-320, 308), -0.0, 1e-310, float(rng.randint(0, 9))])
        if kind == 2:
            return "".join(rng.choice("ab é\u2028\"\\/\n\t\x00\ud83c\udfb5") for _ in range(rng.randint(0, 6)))
        if kind == 3:
            return rng.choice([True, False, None])
        if kind == 4:
            return f"m{rng.randint(0, 99)}"
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice("abcab"): value(depth + 1) for _ in range(rng.randint(0, 4))}

    agreed = fallback = 0
    for _ in range(20000):
        obj = {"music_id": value(), **{rng.choice(["tags", "x", "music_id"]): value() for _ in range(3)}}
        line = bytearray(json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            at = rng.randrange(len(line) + 1)
            op = rng.randrange(3)
            if op == 0 and at < len(line):
                line[at] = rng.choice(alphabet)
            elif op == 1 and at < len(line):
                del line[at]
            else:
                line[at:at] = bytes([rng.choice(alphabet)])
        line = bytes(line).replace(b"\n", b" ")
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
    assert not read_rows._may_hold_long_number(b'{"music_id": "m1", "tags": ["rock"], "n": 123456789012345678}')
    assert read_rows._may_hold_long_number(b'{"n": 1234567890123456789}')
    assert _read(b'{"music_id": 12345678901234567890123}') == {"music_id": 12345678901234567890123}
