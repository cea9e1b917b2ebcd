"""JSON lines for tests that compare a fast parse with json.loads: tricky ones, and fuzzed ones."""
import json
import random

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


def fuzzed_lines(count: int, seed: int = 4):
    """Random values written by json.dumps, then bytes flipped, dropped or inserted; one line each (no newline)."""
    rng = random.Random(seed)
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

    for _ in range(count):
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
        yield bytes(line).replace(b"\n", b" ")
