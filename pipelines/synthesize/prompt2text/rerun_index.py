"""The rerun index: a row's finished prompt2text output, found without rebuilding its prompt.

The response cache is keyed by the rendered prompt, so a rerun must pick examples, choose surface
words and render the Jinja template only to learn each row's key, then post-process the answer and
measure fidelity again: five times the `tags` method's cost per row, for answers it already has. The
index is derived from the cache and sits inside it (`<cache root>/rows-v1/<k[:2]>/<k>.row`, one JSON
file per row, written atomically like responses, on any Beam filesystem):

  index key = sha256 of everything the row's output is a function of, apart from the LLM's answers:
    - the method's context: its options (all but the purely operational ones, OPERATIONAL_OPTIONS), the
      backend's model, the prompt template's name and full text (and system prompt), both example
      pools' content, the vocabulary's tags and version;
    - the code and data that turn those into a row (`code_fingerprint`: every module of
      pipelines/synthesize, the vocabulary loader, the packaged data files, the Python, Jinja and
      PyStemmer versions), so an upgrade never serves a row the new code would write differently;
    - the row's own seed, sample index, example-pool choice (tags from a tagger or not) and selected
      tags (every field of each InputTag).
  entry = {"format", "index_key", "responses": [[response key, sha256 of the response file's bytes],
    ...one per candidate], "text", "metadata"} where text and metadata are the output the full path
    computes from those responses (as a cached read: cache_hit true).

Nothing in an entry is trusted blindly: it is served only when its format and index key match and
every response file it was made from still holds the same bytes (each is read and hashed, as the full
path would read it). Any mismatch - an unreadable or foreign entry, a response file deleted or
replaced by another writer - is a miss: the row goes through the full path, which writes the entry
again. Entries are only ever written for rows whose every candidate answer is in the cache, so a
rerun through the full path would compute exactly the stored output. Deleting the `rows-v1` folder
(or the whole cache) is always safe; a format change gets a new folder name.
"""
from __future__ import annotations

import functools
import hashlib
import json
import operator
import sys
from dataclasses import fields
from importlib import metadata as package_metadata
from pathlib import Path
from typing import NamedTuple

import orjson

from pipelines.synthesize.cache import ResponseCache, encode_value, join_path
from pipelines.synthesize.tagset import InputTag
from pipelines.synthesize.work import TextOut, WorkItem

INDEX_FORMAT = 1
INDEX_FOLDER = f"rows-v{INDEX_FORMAT}"
INDEX_SUFFIX = ".row"  # not .json: the response files are the cache's only *.json
PACK_SUFFIX = ".pack"
# A pack is a header line and the JSON of {"format", "pack_key", "rows"}. The header says whether every
# integer in it is within 64 bits, the one case where orjson reads JSON otherwise than json.loads (it reads
# a longer integer as a float): then orjson parses it, in half json.loads' time (a 300 KB pack of 64 rows:
# 0.7 against 1.4-1.6 ms). json.loads' extensions that orjson rejects (NaN) send the pack to json.loads.
PACK_EXACT64 = b"viml-synth pack; json; integers within 64 bits\n"
PACK_JSON = b"viml-synth pack; json\n"
# Options that change how answers are fetched, never what a row says once its answers are cached (paths
# whose content is hashed into the context instead are here too, so machines with other paths agree).
OPERATIONAL_OPTIONS = frozenset({
    "base_url", "max_concurrency", "requests_per_minute", "max_attempts", "timeout_s", "backoff_base_s",
    "cache_dir", "batch_size", "api_key_env", "http_transport", "examples", "prompt_template", "system_prompt",
})
# every field of a tag: a field added to InputTag is part of the key at once
_TAG_VALUES = operator.attrgetter(*(f.name for f in fields(InputTag)))
_PACKAGE = Path(__file__).resolve().parents[2]  # pipelines/


@functools.cache
def code_fingerprint() -> str | None:
    """A hash of the code and packaged data a prompt2text row depends on (read once per process); None when
    the sources cannot be read (e.g. a zipped install): then there is no index, only the full path."""
    digest = hashlib.sha256()
    files = sorted([*(_PACKAGE / "synthesize").rglob("*.py"), _PACKAGE / "tag" / "vocabulary.py",
                    *(p for p in (_PACKAGE / "data").rglob("*") if p.is_file() and "__pycache__" not in p.parts)])
    try:
        for path in files:
            digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    versions = [sys.version, *(_version(p) for p in ("jinja2", "PyStemmer", "PyYAML"))]
    digest.update(json.dumps(versions).encode())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return package_metadata.version(package)
    except package_metadata.PackageNotFoundError:
        return "-"


def method_context(options, model: str, template, pools, vocabulary) -> dict:
    """Everything about a Prompt2TextMethod that its rows' outputs depend on, as JSON-able values."""
    return {
        "options": {k: v for k, v in sorted(vars(options).items()) if k not in OPERATIONAL_OPTIONS},
        "model": model,
        "template": [template.id, template.version, template.source, template.system],
        "pools": [[pool.version, [[e.id, list(e.tags), e.description] for e in pool.examples]] for pool in pools],
        "vocabulary": [str(vocabulary.version), [repr(t) for t in vocabulary.tags]],
    }


class RerunIndex:
    @classmethod
    def open(cls, cache_root: str, responses: ResponseCache, context: dict) -> RerunIndex | None:
        """The index in this cache, or None when this install cannot fingerprint its code."""
        return cls(cache_root, responses, context) if code_fingerprint() is not None else None

    def __init__(self, cache_root: str, responses: ResponseCache, context: dict):
        folder = join_path(cache_root, INDEX_FOLDER)
        self._entries = ResponseCache(folder, suffix=INDEX_SUFFIX)
        self._packs = ResponseCache(folder, suffix=PACK_SUFFIX)
        self._responses = responses
        blob = json.dumps([INDEX_FORMAT, code_fingerprint(), context], sort_keys=True, ensure_ascii=False,
                          default=list)
        self._context = hashlib.sha256(hashlib.sha256(blob.encode("utf-8")).digest())  # copied per row

    def key(self, item: WorkItem) -> str:
        # repr of plain values (str, int, float, bool, None) is exact and unambiguous, and quicker than JSON
        row = repr((item.seed, item.sample, item.track.from_tagger, [_TAG_VALUES(t) for t in item.selected]))
        digest = self._context.copy()
        digest.update(row.encode("utf-8"))
        return digest.hexdigest()

    @staticmethod
    def pack_key(keys: list[str]) -> str:
        return hashlib.sha256(("pack\0" + "\0".join(keys)).encode()).hexdigest()

    def lookup(self, keys: list[str], map_fn=map) -> list[Found]:
        """Per row key, in order: its stored output if sound. The batch's pack (one file for the same rows
        in the same order) is read first; a row it lacks is looked up in its own entry. `map_fn` may read
        the rows side by side (e.g. a thread pool's map: a bucket answers each read in tens of ms)."""
        pack_key = self.pack_key(keys)
        data = self._packs.get_bytes(pack_key)
        pack = decode_pack(data) if data is not None else None
        rows = pack.get("rows") if pack is not None else None
        if (pack is None or pack.get("format") != INDEX_FORMAT or pack.get("pack_key") != pack_key
                or not isinstance(rows, list) or len(rows) != len(keys)):
            rows = [None] * len(keys)

        def one(i: int) -> Found:
            packed = rows[i] if isinstance(rows[i], dict) and rows[i].get("index_key") == keys[i] else None
            entry = packed if packed is not None else self._entries.get(keys[i])
            out = self.verified(keys[i], entry) if entry is not None else None
            return Found(out, entry if out is not None else None, out is not None and packed is not None)

        return list(map_fn(one, range(len(keys))))

    def verified(self, key: str, entry: dict) -> TextOut | None:
        """The entry's output if it is the row's sound entry and every response it came from is unchanged."""
        if entry.get("format") != INDEX_FORMAT or entry.get("index_key") != key:
            return None
        try:
            responses, text, meta = entry["responses"], entry["text"], entry["metadata"]
            if not responses or not isinstance(text, str) or not isinstance(meta, dict):
                return None
            for response_key, digest in responses:
                data = self._responses.get_bytes(response_key)
                if data is None or hashlib.sha256(data).hexdigest() != digest:
                    return None
        except (KeyError, TypeError, ValueError):
            return None  # a foreign or damaged entry
        return TextOut(text, meta)

    @staticmethod
    def entry(key: str, responses: list[tuple[str, bytes]], out: TextOut) -> dict:
        """The entry of `out`, the output the full path computed from exactly these (response key, file bytes)."""
        return {"format": INDEX_FORMAT, "index_key": key,
                "responses": [[k, hashlib.sha256(data).hexdigest()] for k, data in responses],
                "text": out.text, "metadata": out.metadata}

    def put(self, entry: dict) -> None:
        self._entries.put(entry["index_key"], entry)

    def put_pack(self, keys: list[str], entries: list[dict | None]) -> None:
        """One file with the entries of a batch's rows (None: a row without one), read by a rerun whose
        batch holds the same rows in the same order (the same input): one read instead of one per row."""
        pack_key = self.pack_key(keys)
        self._packs.put_bytes(pack_key, encode_pack({"format": INDEX_FORMAT, "pack_key": pack_key, "rows": entries}))


def encode_pack(value: dict) -> bytes:
    """The pack file's bytes: its header, then the JSON a response file would hold (``encode_value``)."""
    try:
        orjson.dumps(value)  # raises on an integer beyond 64 bits (and on what orjson cannot write: int keys)
        header = PACK_EXACT64
    except (orjson.JSONEncodeError, TypeError):
        header = PACK_JSON
    return header + encode_value(value)


def decode_pack(data: bytes) -> dict | None:
    """The pack's value, as json.loads reads its JSON; None for a file that is not a whole pack."""
    try:
        if data.startswith(PACK_EXACT64):
            try:
                value = orjson.loads(memoryview(data)[len(PACK_EXACT64):])
            except orjson.JSONDecodeError:  # NaN, or a torn file: json.loads decides
                value = json.loads(data[len(PACK_EXACT64):])
        elif data.startswith(PACK_JSON):
            value = json.loads(data[len(PACK_JSON):])
        else:
            return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


class Found(NamedTuple):
    out: TextOut | None  # the row's stored output, or None: not in the index, or not sound
    entry: dict | None  # its entry
    packed: bool  # found in the batch's pack
