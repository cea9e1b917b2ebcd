"""Example pools of human (tags, description) pairs and how a row's k examples are chosen."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from pipelines.resources import data_dir
from pipelines.synthesize.tagset import InputTag, printable

SELECTION_MODES = ("random", "similar")


class ExamplePoolError(ValueError):
    """The pool file is unusable; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    id: str
    tags: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class ExamplePool:
    examples: tuple[Example, ...]
    source: str
    version: str  # hash of the pool's content: a changed pool shows in every row's metadata

    def choose(self, target: list[InputTag], k: int, mode: str, rng: random.Random) -> list[Example]:
        """k examples for one row: a seeded random sample, or the k with the most similar tags."""
        k = min(k, len(self.examples))
        if mode == "random":
            return rng.sample(self.examples, k)  # a tuple: the same draw as from a list, without the copy
        if mode == "similar":
            wanted = {t.tag.lower() for t in target}
            # random tie-break (seeded) so equally similar examples rotate instead of always the first
            keyed = [(-_jaccard(wanted, {t.lower() for t in ex.tags}), rng.random(), i)
                     for i, ex in enumerate(self.examples)]
            return [self.examples[i] for *_, i in sorted(keyed)[:k]]
        raise ValueError(f"unknown example selection '{mode}'; use one of {SELECTION_MODES}")


def _jaccard(a: set[str], b: set[str]) -> float:
    words_a = {w for t in a for w in t.split()}
    words_b = {w for t in b for w in t.split()}
    # whole-tag overlap counts most; shared words ("piano" in "mellow piano melody") break ties
    return len(a & b) + 0.1 * len(words_a & words_b) / max(1, len(words_a | words_b))


def default_pool_path() -> Path:
    return data_dir("prompts", "examples", "musiccaps.jsonl")


def tagger_pool_path() -> Path:
    """The pool in the tagger's style (vocabulary tags matched from MusicCaps aspects; prompts/README.md),
    the default for tags that come from `viml-synth tag`."""
    return data_dir("prompts", "examples", "musiccaps_tagger.jsonl")


def load_pool(path: str | Path | None = None) -> ExamplePool:
    path = Path(path) if path else default_pool_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExamplePoolError(f"cannot read example pool {path}: {exc.strerror or exc}") from exc
    examples, seen = [], {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExamplePoolError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExamplePoolError(f"{path}, line {line_no}: invalid JSON ({exc.msg})") from None
        tags, description = obj.get("tags") if isinstance(obj, dict) else None, (obj or {}).get("description")
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ExamplePoolError(f"{path}, line {line_no}: 'tags' must be a non-empty list of strings")
        if not isinstance(description, str) or not description.strip():
            raise ExamplePoolError(f"{path}, line {line_no}: 'description' must be a non-empty string")
        ex_id = str(obj.get("id") or f"{path.name}:{line_no}")
        if ex_id in seen:
            raise ExamplePoolError(f"{path}, line {line_no}: id '{ex_id}' already used on line {seen[ex_id]}")
        seen[ex_id] = line_no
        # example tags go into the prompt like the target's: no line break may forge its structure
        examples.append(Example(ex_id, tuple(printable(t).strip() for t in tags), " ".join(description.split())))
    if not examples:
        raise ExamplePoolError(f"{path}: the example pool is empty")
    return ExamplePool(tuple(examples), str(path), hashlib.sha256(raw).hexdigest()[:12])


def iter_musiccaps(csv_path: str | Path):
    """(example id, aspect list, caption with whitespace collapsed) per row of a MusicCaps CSV: the source
    both packaged pools are built from (prompts/build_*_pool.py)."""
    import ast
    import csv

    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            aspects = [a.strip() for a in ast.literal_eval(row["aspect_list"]) if a.strip()]
            yield f"musiccaps:{row['ytid']}:{row['start_s']}", aspects, " ".join(row["caption"].split())


def write_pool(candidates: list[dict], n: int, seed: int, out: str | Path) -> list[dict]:
    """A seeded sample of n candidate {id, tags, description} rows, sorted by id, written as the JSONL
    `load_pool` reads; returns the rows written."""
    candidates = list(candidates)
    random.Random(seed).shuffle(candidates)
    chosen = sorted(candidates[:n], key=lambda r: r["id"])
    with open(out, "w", encoding="utf-8") as fh:
        for row in chosen:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return chosen
