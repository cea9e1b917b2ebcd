import json
import multiprocessing as mp

from pipelines.synthesize.cache import ResponseCache, cache_key, encode_value


def test_key_depends_on_every_part():
    base = cache_key("prompt", "m", {"temperature": 0.7, "max_new_tokens": 10}, 0)
    assert base == cache_key("prompt", "m", {"max_new_tokens": 10, "temperature": 0.7}, 0)  # order-free
    others = [
        cache_key("prompt.", "m", {"temperature": 0.7, "max_new_tokens": 10}, 0),
        cache_key("prompt", "m2", {"temperature": 0.7, "max_new_tokens": 10}, 0),
        cache_key("prompt", "m", {"temperature": 0.8, "max_new_tokens": 10}, 0),
        cache_key("prompt", "m", {"temperature": 0.7, "max_new_tokens": 10}, 1),
        cache_key([{"role": "user", "content": "prompt"}], "m", {"temperature": 0.7, "max_new_tokens": 10}, 0),
    ]
    assert len({base, *others}) == 6


def test_get_put_roundtrip_and_torn_file(tmp_path):
    cache = ResponseCache(str(tmp_path / "c"))
    key = cache_key("p", "m", {}, 0)
    assert cache.get(key) is None
    cache.put(key, {"text": "héllo"})
    assert cache.get(key) == {"text": "héllo"}
    path = tmp_path / "c" / key[:2] / f"{key}.json"
    path.write_text('{"text": "tor')  # a crash mid-write by some other tool
    assert cache.get(key) is None
    assert not [p for p in (tmp_path / "c" / key[:2]).iterdir() if p.name.startswith(".tmp")]


def _writer(root, worker):
    cache = ResponseCache(root)
    for i in range(200):
        cache.put(cache_key("shared", "m", {}, i % 20), {"text": f"w{worker}-{i}"})


def test_concurrent_writers_never_leave_partial_files(tmp_path):
    root = str(tmp_path / "c")
    procs = [mp.get_context("fork").Process(target=_writer, args=(root, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    cache = ResponseCache(root)
    for i in range(20):
        value = cache.get(cache_key("shared", "m", {}, i))
        assert value and value["text"].startswith("w")
    files = list((tmp_path / "c").rglob("*.json"))
    assert len(files) == 20 and all(json.loads(f.read_text()) for f in files)


def test_cache_keys_are_stable_across_versions():
    """A key computed differently would make every user's cache miss: pinned to the value of the first
    release of this format (computed then with dataclasses.asdict)."""
    from pipelines.synthesize.cache import cache_key
    from pipelines.synthesize.llm import GenerationParams

    key = cache_key("Tags: rock\nDescription:", "loopback", GenerationParams(stop=("\n\n", "Tags:"), seed=7), 2)
    assert key == "1ae7b607b4a4c3f353ecb7ae161312e1fa8287484d84d463597efe0b48a8b7c9"


def test_get_bytes_returns_what_put_wrote_whatever_its_size(tmp_path):
    cache = ResponseCache(str(tmp_path / "c"))
    for i, text in enumerate(["", "short", "x" * (1 << 16), "y" * ((1 << 16) - 20), "z" * 300_000]):
        key = cache_key("p", "m", {}, i)
        assert cache.get_bytes(key) is None
        data = cache.put(key, {"text": text})
        assert cache.get_bytes(key) == data and cache.get(key) == {"text": text}


def test_a_foreign_json_value_is_a_miss(tmp_path):
    cache = ResponseCache(str(tmp_path / "c"))
    key = cache_key("p", "m", {}, 0)
    cache.put_bytes(key, b"[1, 2]")
    assert cache.get(key) is None and cache.get_bytes(key) == b"[1, 2]"


def test_a_suffix_keeps_kinds_of_files_apart(tmp_path):
    responses, rows = ResponseCache(str(tmp_path)), ResponseCache(str(tmp_path), suffix=".row")
    key = cache_key("p", "m", {}, 0)
    responses.put(key, {"text": "answer"})
    assert rows.get(key) is None
    rows.put(key, {"text": "row"})
    assert responses.get(key) == {"text": "answer"} and rows.get(key) == {"text": "row"}


def test_values_read_back_as_json_loads_reads_them(tmp_path):
    """Files are parsed by orjson where it surely agrees with json.loads: long integers, NaN, non-ASCII
    text and key order come back as they were written."""
    cache = ResponseCache(str(tmp_path))
    value = {"z": 1, "text": "caf\u00e9 \U0001f3b5", "n": 12345678901234567890123, "nan": float("nan"),
             "a": [1.5, -0.0, None, True], "seed": 2 ** 63 - 1}
    cache.put("k" * 64, value)
    got = cache.get("k" * 64)
    assert repr(got) == repr(json.loads(encode_value(value)))
    assert list(got) == sorted(value)
