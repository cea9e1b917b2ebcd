"""The prompt2text rerun index: what it serves equals the full path, and it never serves a stale row."""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.synthesize.methods import Prompt2TextMethod, Prompt2TextOptions
from pipelines.synthesize.prompt2text import rerun_index
from pipelines.synthesize.prompt2text.prompt import PromptTemplate
from pipelines.synthesize.prompt2text.rerun_index import INDEX_FOLDER, INDEX_SUFFIX, PACK_SUFFIX, RerunIndex
from pipelines.synthesize.work import TextOut, Track, WorkItem, row_seed, track_from_row

ROWS = [
    ["rock", "electric guitar", "angry", "acoustic drumset"],
    ["jazz", "saxophone", "relaxing", "mellow piano melody"],
    ["hip-hop", "male vocals", "synth bass", "low quality"],
    ["classical", "violin", "sad"],
    ["electronic", "synthesizer keyboard", "happy", "female vocals"],
    ["folk", "acoustic guitar", "nostalgic", "live performance"],
    ["pop", "vocals", "chill"],
    ["metal", "electric guitar", "aggressive", "fast tempo"],
]
POOL = [
    {"id": "ex-rock", "tags": ["rock", "electric guitar"], "description": "A loud rock song with electric guitars."},
    {"id": "ex-jazz", "tags": ["jazz", "saxophone"], "description": "A smooth jazz tune led by a saxophone."},
    {"id": "ex-folk", "tags": ["folk", "acoustic guitar"], "description": "A gentle folk song on acoustic guitar."},
    {"id": "ex-edm", "tags": ["electronic", "dance"], "description": "An energetic electronic dance track."},
]
BATCH = 5  # rows per generate call: batches cut across rows


def _items(n: int = 24, samples: int = 2) -> list[WorkItem]:
    """Rows of free-form and vocabulary tags (some with surface forms), every third from a tagger (the
    other example pool), every fourth with a measured tempo (a tag with a value)."""
    items = []
    for i in range(n):
        raw = {"music_id": f"m{i}", "video_id": f"v{i}", "tags": ROWS[i % len(ROWS)], "tagger": "musicnn" if i % 3 == 0
               else None, **({"bpm": 80 + i} if i % 4 == 0 else {})}
        track = track_from_row(raw, "test")
        for sample in range(samples):
            seed = row_seed(0, track.music_id, track.video_id, "prompt2text", sample)
            items.append(WorkItem(Track(track.music_id, track.video_id, (), "test", track.from_tagger),
                                  track.tags, "prompt2text", sample, seed))
    return items


@pytest.fixture
def files(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(e) + "\n" for e in POOL))
    return {"pool": pool, "cache": tmp_path / "cache", "root": tmp_path}


def _options(server, files, **kw) -> Prompt2TextOptions:
    return Prompt2TextOptions(base_url=f"{server.url}/v1", model="loopback-llm", backoff_base_s=0.01, k=2,
                              cache_dir=str(files["cache"]), **kw)


def _run(options, items, vocabulary=None) -> list:
    method = Prompt2TextMethod(options, vocabulary)
    method.setup()
    try:
        return [out for i in range(0, len(items), BATCH) for out in method.generate(items[i:i + BATCH])]
    finally:
        method.teardown()


@pytest.fixture
def served(monkeypatch):
    """Counts the rows the index served; `served.off()` makes every lookup a miss (the full path)."""
    original = RerunIndex.verified
    state = {"n": 0, "on": True}

    def verified(self, key, entry):
        out = original(self, key, entry) if state["on"] else None
        state["n"] += out is not None
        return out

    monkeypatch.setattr(RerunIndex, "verified", verified)

    class Served:
        @property
        def n(self):
            return state["n"]

        def reset(self):
            state["n"] = 0

        def off(self):
            state["on"] = False

        def on(self):
            state["on"] = True

    return Served()


def _full_path(served, options, items, vocabulary=None) -> list:
    served.off()
    try:
        return _run(options, items, vocabulary)
    finally:
        served.on()


def _same(a: list, b: list, hits_only: bool = False) -> None:
    """The same texts and metadata (`hits_only`: but for `a`'s cache_hit, when `a` asked the LLM)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, TextOut) and isinstance(y, TextOut), (x, y)
        meta = {**x.metadata, "cache_hit": True} if hits_only else x.metadata
        assert (x.text, meta) == (y.text, y.metadata)


def _entries(files, suffix=INDEX_SUFFIX) -> list[Path]:
    return sorted((files["cache"] / INDEX_FOLDER).rglob(f"*{suffix}"))


def _packs(files) -> list[Path]:
    return _entries(files, PACK_SUFFIX)


@pytest.mark.parametrize("variant", [{}, {"candidates": 2}, {"api": "chat"}, {"example_selection": "similar"}])
def test_a_rerun_from_the_index_equals_the_full_path(server, files, served, variant):
    options, items = _options(server, files, examples=str(files["pool"]), **variant), _items()
    first = _run(options, items)
    assert all(isinstance(o, TextOut) and not o.metadata["cache_hit"] for o in first)
    assert len(_entries(files)) == len(items)  # the first run indexed every row
    posts = server.count

    rerun = _run(options, items)
    assert served.n == len(items) and server.count == posts
    reference = _full_path(served, options, items)
    assert server.count == posts
    _same(rerun, reference)
    assert all(o.metadata["cache_hit"] for o in rerun)
    # and the first run's rows, apart from their cache_hit, are the rerun's
    assert [(o.text, {**o.metadata, "cache_hit": True}) for o in first] == [(o.text, o.metadata) for o in rerun]


def test_a_rerun_from_the_index_does_not_rebuild_prompts(server, files, monkeypatch):
    options, items = _options(server, files), _items()
    first = _run(options, items)

    def no_render(self, examples, target):
        raise AssertionError("the prompt was rendered again")

    monkeypatch.setattr(PromptTemplate, "render", no_render)
    rerun = _run(options, items)
    assert [o.text for o in rerun] == [o.text for o in first]


def test_the_default_pools_and_packaged_vocabulary_rows_are_indexed_too(server, files, served):
    options, items = _options(server, files), _items(12, 1)  # the packaged pools (tagger rows: the tagger pool)
    _run(options, items)
    served.reset()
    rerun = _run(options, items)
    assert served.n == len(items)
    _same(rerun, _full_path(served, options, items))


def _vocabulary_with_other_surface(tmp_path) -> str:
    from pipelines.tag.vocabulary import _packaged

    text = _packaged("vocabulary.yaml").read_text(encoding="utf-8")
    assert "  male vocals: [male vocals, male voice, male singer]" in text
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text.replace("  male vocals: [male vocals, male voice, male singer]",
                                 "  male vocals: [male vocals, man singing]"))
    return str(path)


CHANGES = {
    "template": lambda o, f: replace(o, prompt_template=str(_file(f, "t.j2", "Describe.\n{% for e in examples %}"
                                                                  "\nTags: {{ e.tags|join(', ') }}\nDescription: "
                                                                  "{{ e.description }}\n{% endfor %}\nTags: "
                                                                  "{{ target|join(', ') }}\nDescription:"))),
    "system prompt": lambda o, f: replace(o, api="chat", system_prompt=str(_file(f, "s.txt", "Be brief."))),
    "example pool": lambda o, f: replace(o, examples=str(_file(f, "p.jsonl", "".join(
        json.dumps(dict(e, description=e["description"].replace("song", "piece"))) + "\n" for e in POOL)))),
    "model": lambda o, f: replace(o, model="another-llm"),
    "temperature": lambda o, f: replace(o, temperature=0.8),
    "max tokens": lambda o, f: replace(o, max_new_tokens=64),
    "stop": lambda o, f: replace(o, stop=("\n",)),
    "k": lambda o, f: replace(o, k=1),
    "selection": lambda o, f: replace(o, example_selection="similar"),
    "candidates": lambda o, f: replace(o, candidates=2),
    "api": lambda o, f: replace(o, api="chat"),
}


def _file(files, name, text) -> Path:
    path = files["root"] / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_template_pool_model_param_or_option_is_never_served_a_stale_row(server, files, served, change):
    base, items = _options(server, files, examples=str(files["pool"])), _items(8, 1)
    _run(base, items)
    changed = CHANGES[change](base, files)
    served.reset()
    out = _run(changed, items)
    assert served.n == 0
    _same(out, _full_path(served, changed, items), hits_only=True)


def test_a_changed_vocabulary_is_never_served_a_stale_row(server, files, served, tmp_path):
    options, items = _options(server, files), [i for i in _items(16, 1) if "male vocals" in
                                                 {t.tag for t in i.selected}]
    assert items
    _run(options, items)
    served.reset()
    other = _vocabulary_with_other_surface(tmp_path)
    out = _run(options, items, other)
    assert served.n == 0
    _same(out, _full_path(served, options, items, other), hits_only=True)


def test_changed_code_is_never_served_a_stale_row(server, files, served, monkeypatch):
    options, items = _options(server, files), _items(8, 1)
    _run(options, items)
    monkeypatch.setattr(rerun_index, "code_fingerprint", lambda: "another version of the code")
    served.reset()
    _run(options, items)
    assert served.n == 0


def test_operational_options_share_the_index(server, files, served):
    options, items = _options(server, files), _items(8, 1)
    _run(options, items)
    served.reset()
    _run(replace(options, max_concurrency=2, batch_size=3, timeout_s=5.0, max_attempts=2), items)
    assert served.n == len(items)


def _response_file(files, key) -> Path:
    return files["cache"] / key[:2] / f"{key}.json"


def test_a_replaced_or_deleted_response_is_read_again_not_served_from_the_index(server, files, served):
    options, items = _options(server, files), _items(6, 1)
    first = _run(options, items)
    # another writer replaced row 0's answer; row 1's answer was deleted
    replaced = _response_file(files, first[0].metadata["cache_key"])
    value = json.loads(replaced.read_text())
    replaced.write_text(json.dumps(dict(value, text=" a different answer from another worker.")))
    _response_file(files, first[1].metadata["cache_key"]).unlink()
    posts = server.count
    served.reset()
    rerun = _run(options, items)
    assert served.n == len(items) - 2
    assert server.count == posts + 1  # the deleted answer only
    assert rerun[0].text == "a different answer from another worker."
    assert [o.text for o in rerun[2:]] == [o.text for o in first[2:]]
    reference = _full_path(served, options, items)
    _same(rerun[:1] + rerun[2:], reference[:1] + reference[2:])
    _same(rerun[1:2], reference[1:2], hits_only=True)  # asked again, then read from the cache


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong key", "other format", "not a dict"])
def test_a_damaged_or_foreign_entry_is_a_miss(server, files, served, damage):
    options, items = _options(server, files), _items(4, 1)
    first = _run(options, items)
    for pack in _packs(files):  # the rows' own entries are read when the batch has no pack
        pack.unlink()
    entries = _entries(files)
    target, other = entries[0], entries[1]
    _damage(target, other, damage)
    served.reset()
    rerun = _run(options, items)
    assert served.n == len(items) - 1
    assert [o.text for o in rerun] == [o.text for o in first]
    # the full path wrote the entry again (and the batches' packs)
    for pack in _packs(files):
        pack.unlink()
    served.reset()
    _run(options, items)
    assert served.n == len(items)


def _damage(target: Path, other: Path, damage: str) -> None:
    if damage == "garbage":
        target.write_bytes(b"\xff\x00 not json")
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:40])
    elif damage == "wrong key":  # another row's (batch's) entry under this one's name
        target.write_bytes(other.read_bytes())
    elif damage == "other format":
        target.write_text(json.dumps(dict(json.loads(target.read_text()), format=99)))
    else:
        target.write_text("[1, 2]")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong key", "other format", "not a dict",
                                    "rows reordered", "a row's entry changed", "no header"])
def test_a_damaged_or_foreign_pack_falls_back_to_the_rows_entries(server, files, served, damage):
    options, items = _options(server, files), _items(10, 1)  # two batches: two packs
    first = _run(options, items)
    packs = _packs(files)
    assert len(packs) == 2 and len(_entries(files)) == len(items)
    target = packs[0]
    if damage == "rows reordered":
        pack = rerun_index.decode_pack(target.read_bytes())
        target.write_bytes(rerun_index.encode_pack(dict(pack, rows=pack["rows"][::-1])))
    elif damage == "a row's entry changed":  # a text the row's responses never gave
        pack = rerun_index.decode_pack(target.read_bytes())
        pack["rows"][0]["responses"][0][1] = "0" * 64
        pack["rows"][0]["text"] = "a stale text"
        target.write_bytes(rerun_index.encode_pack(pack))
    elif damage == "other format":
        pack = rerun_index.decode_pack(target.read_bytes())
        target.write_bytes(rerun_index.encode_pack(dict(pack, format=99)))
    elif damage == "no header":  # a pack as this index wrote them before it had headers: plain JSON
        target.write_bytes(json.dumps(rerun_index.decode_pack(target.read_bytes())).encode())
    else:
        _damage(target, packs[1], damage)
    served.reset()
    rerun = _run(options, items)
    assert [o.text for o in rerun] == [o.text for o in first] and all(o.metadata["cache_hit"] for o in rerun)
    _same(rerun, _full_path(served, options, items))
    if damage == "a row's entry changed":
        assert served.n == len(items) - 1  # that row went the full path
    else:
        assert served.n == len(items)  # from the rows' own entries


def test_a_batch_of_other_rows_reads_the_rows_entries_and_writes_its_pack(server, files, served):
    options, items = _options(server, files), _items(10, 1)
    _run(options, items)
    served.reset()
    shifted = items[1:] + items[:1]  # other batches: no pack matches
    out = _run(options, shifted)
    assert served.n == len(items)
    _same(out, _full_path(served, options, shifted))
    assert len(_packs(files)) == 4


def test_rows_whose_answer_could_not_be_cached_are_not_indexed(server, files, monkeypatch):
    from pipelines.synthesize.cache import ResponseCache

    def full_disk(self, key, value):
        raise OSError(28, "No space left on device")

    options, items = _options(server, files), _items(4, 1)
    with monkeypatch.context() as m:
        m.setattr(ResponseCache, "put", full_disk)
        _run(options, items)
    assert _entries(files) == []
    posts = server.count
    _run(options, items)
    assert server.count == 2 * posts  # asked again, then cached and indexed
    assert len(_entries(files)) == len(items)


def test_the_index_works_on_any_beam_filesystem(server, files, served, memfs):
    options, items = replace(_options(server, files), cache_dir="memtest://bucket/llm"), _items(10, 1)
    first = _run(options, items)
    assert any(p.startswith(f"memtest://bucket/llm/{INDEX_FOLDER}/") for p in memfs)
    posts = server.count
    served.reset()
    rerun = _run(options, items)
    assert served.n == len(items) and server.count == posts
    assert [o.text for o in rerun] == [o.text for o in first]
    _same(rerun, _full_path(served, options, items))
    assert not (files["cache"]).exists()


def test_a_pipeline_rerun_from_the_index_writes_the_same_triplets_as_the_full_path(server, files, served):
    import glob

    import pyarrow.parquet as pq

    from pipelines.cli import EXIT_OK, main

    tags = files["root"] / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": f"m{i}", "video_id": f"v{i}", "tags": t,
                                        **({"bpm": 90 + i} if i % 3 == 0 else {})}) + "\n"
                            for i, t in enumerate(ROWS * 3)))

    def run(out: str) -> list[dict]:
        argv = ["synthesize", "--input", str(tags), "--out", str(files["root"] / out), "--methods", "prompt2text",
                "--samples", "2", "--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback-llm",
                "--cache-dir", str(files["cache"]), "--log-level", "WARNING"]
        assert main(argv) == EXIT_OK
        rows = [r for f in sorted(glob.glob(f"{files['root'] / out}/triplets-*.parquet"))
                for r in pq.read_table(f).to_pylist()]
        return sorted(rows, key=lambda r: (r["music_id"], r["sample"]))

    run("first")
    served.reset()
    rerun = run("rerun")
    assert served.n == len(rerun) == 2 * len(ROWS) * 3
    served.off()
    assert rerun == run("full")


def test_without_readable_sources_there_is_no_index_and_rows_are_still_written(server, files, monkeypatch):
    monkeypatch.setattr(rerun_index, "_PACKAGE", Path("/nonexistent/pipelines"))
    rerun_index.code_fingerprint.cache_clear()
    try:
        options, items = _options(server, files), _items(4, 1)
        first = _run(options, items)
        assert _entries(files) == []
        rerun = _run(options, items)
        assert [o.text for o in rerun] == [o.text for o in first] and all(o.metadata["cache_hit"] for o in rerun)
    finally:
        rerun_index.code_fingerprint.cache_clear()


@pytest.mark.parametrize("variant", [{}, {"candidates": 2}])
def test_the_first_run_post_processes_each_row_once(server, files, monkeypatch, variant):
    """Its index entries come from the row's own output (cache_hit set): the cache holds exactly the answers
    the row was written from, so post-processing them again (fidelity included) would give the same."""
    options, items = _options(server, files, examples=str(files["pool"]), **variant), _items(12, 1)
    calls = []
    original = Prompt2TextMethod._choose
    monkeypatch.setattr(Prompt2TextMethod, "_choose", lambda self, item, *a: calls.append(item.id)
                        or original(self, item, *a))
    first = _run(options, items)
    assert len(_entries(files)) == len(items)
    assert sorted(calls) == sorted(item.id for item in items)
    rerun = _run(options, items)
    assert len(calls) == len(items)  # the rerun came from the index
    assert [(o.text, {**o.metadata, "cache_hit": True}) for o in first] == [(o.text, o.metadata) for o in rerun]


def test_an_answer_stored_otherwise_than_received_is_post_processed_again(server, files, served, monkeypatch):
    """When the cache's bytes do not read back as the answer the row used (here the cache records another
    attempt count), the entry is computed from the cache's bytes, as a rerun's full path would."""
    from pipelines.synthesize.cache import ResponseCache

    options, items = _options(server, files, examples=str(files["pool"])), _items(6, 1)
    put = ResponseCache.put
    monkeypatch.setattr(ResponseCache, "put", lambda self, key, value: put(self, key, dict(value, attempts=7)))
    first = _run(options, items)
    assert all(o.metadata["attempts"] != 7 for o in first)
    monkeypatch.setattr(ResponseCache, "put", put)
    rerun = _run(options, items)
    assert served.n == len(items)
    assert all(o.metadata["attempts"] == 7 for o in rerun)
    _same(rerun, _full_path(served, options, items))


def test_packs_without_long_integers_are_read_by_orjson(server, files, served, monkeypatch):
    """A pack's writer records whether every integer in it is within 64 bits (the one thing orjson would read
    otherwise than json.loads); such packs are parsed by orjson, the others by json.loads."""
    options, items = _options(server, files), _items(10, 1)
    first = _run(options, items)
    assert all(p.read_bytes().startswith(rerun_index.PACK_EXACT64) for p in _packs(files))

    class NoLoads:  # rerun_index's json, without loads
        JSONDecodeError, dumps = json.JSONDecodeError, staticmethod(json.dumps)

        @staticmethod
        def loads(*args, **kwargs):
            pytest.fail("json.loads read a pack")

    monkeypatch.setattr(rerun_index, "json", NoLoads)
    served.reset()
    rerun = _run(options, items)
    assert served.n == len(items)
    assert [o.text for o in rerun] == [o.text for o in first]


@pytest.mark.parametrize("value, header", [({"n": 2 ** 64}, "PACK_JSON"), ({"n": -2 ** 63 - 1}, "PACK_JSON"),
                                           ({"n": 2 ** 64 - 1, "m": -2 ** 63}, "PACK_EXACT64"),
                                           ({"x": float("nan")}, "PACK_EXACT64"), ({1: "int key"}, "PACK_JSON")])
def test_pack_bytes_read_back_as_json_loads_reads_them(value, header):
    data = rerun_index.encode_pack(value)
    assert data.startswith(getattr(rerun_index, header))
    assert repr(rerun_index.decode_pack(data)) == repr(json.loads(json.dumps(value, sort_keys=True)))
    assert rerun_index.decode_pack(json.dumps(value).encode()) is None  # no header: not a pack
    assert rerun_index.decode_pack(data[:len(data) // 2]) is None  # torn
