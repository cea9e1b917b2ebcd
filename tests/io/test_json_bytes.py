"""pipelines/io/json_bytes.loads: json.loads' answer for bytes, from orjson where that is surely the same."""
import json

import pytest
from json_cases import TRICKY, fuzzed_lines

from pipelines.io import json_bytes


def _outcome(parse, data: bytes):
    """The value (repr: types, key order and NaN included) or the kind of error."""
    try:
        return repr(parse(data))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return f"error: {type(exc).__name__}"


@pytest.mark.parametrize("data", TRICKY + [b'\xff\xfe{\x00}\x00', b'{"x": 1}\n\n', b"", b"   "])
def test_tricky_documents_load_as_json_loads_loads_them(data):
    assert _outcome(json_bytes.loads, data) == _outcome(json.loads, data)


def test_fuzzed_documents_load_as_json_loads_loads_them():
    fast = 0
    for data in fuzzed_lines(8000, seed=11):
        assert _outcome(json_bytes.loads, data) == _outcome(json.loads, data), data
        fast += json_bytes.parse_if_sure(data) is not json_bytes.NOT_SURE
    assert fast > 2000  # orjson's path was exercised


def test_not_sure_of_long_numbers_and_of_what_orjson_rejects():
    assert json_bytes.parse_if_sure(b'{"n": 1234567890123456789}') is json_bytes.NOT_SURE
    assert json_bytes.parse_if_sure(b'{"x": NaN}') is json_bytes.NOT_SURE
    assert json_bytes.parse_if_sure(b'{"n": 123456789012345678, "t": "a"}') == {"n": 123456789012345678, "t": "a"}
    assert json_bytes.loads(b'{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}


def test_long_number_check_finds_exactly_runs_of_nineteen_ascii_digits():
    import random
    import re

    rng = random.Random(3)
    for _ in range(5000):
        data = bytes(rng.choice(b"0123456789abc\xd9\x80 ,") for _ in range(rng.randint(0, 60)))
        assert json_bytes._may_hold_long_number(data) == (re.search(rb"[0-9]{19}", data) is not None), data
    assert json_bytes._may_hold_long_number(b"x" * 10000 + b"1" * 19)
    assert not json_bytes._may_hold_long_number(("\u0660" * 30).encode())  # Arabic-Indic digits are not JSON's


def test_large_documents_go_to_json_loads(monkeypatch):
    big = json.dumps({"rows": [{"x": "a" * 100, "n": i} for i in range(1000)]}).encode()
    assert len(big) >= json_bytes.LARGE
    monkeypatch.setattr(json_bytes, "parse_if_sure", lambda data: pytest.fail("checked a large document"))
    assert json_bytes.loads(big) == json.loads(big)
