"""The data2text method alone, outside Beam: CPU per row, how often its memos hit, and what they hold.

Rows are bench/synthesize_floor.py's MusicCaps-style inputs, selected as the pipeline selects them, then
written in batches of 64 by `Data2TextMethod.generate` (templates, built-in rewriter, fidelity).

    .venv/bin/python bench/data2text_method.py [--rows 50000]

Prints CPU microseconds per row, the render and dedupe memos' hit rates, the same rows again without
fidelity and metadata JSON (`data2text_many` alone), fidelity alone on the texts, and, from a third run
under tracemalloc, the memory the method still holds afterwards (its memos, which are bounded). Each run
starts from empty memos (so the memory figure includes the grammar's and lexicon's, unlike this script's
figures before the method's speed work); CPU figures move by 10-20% between runs on a shared machine.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def work_items(rows: int) -> list:
    from synthesize_floor import write_input

    from pipelines.io.read_rows import iter_jsonl
    from pipelines.synthesize.select import TagSelection, select_tags
    from pipelines.synthesize.work import Track, WorkItem, row_seed, track_from_row

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tags.jsonl"
        write_input(src, rows)
        items = []
        with open(src, "rb") as fh:
            for _, raw in iter_jsonl(fh, str(src)):
                track = track_from_row(raw, "bench")
                selected, fallback = select_tags(list(track.tags), TagSelection())
                seed = row_seed(0, track.music_id, track.video_id, "data2text", 0)
                items.append(WorkItem(Track(track.music_id, track.video_id, (), "bench"), tuple(selected),
                                      "data2text", 0, seed, fallback))
    return items


def fresh_memos() -> None:
    """Empties the process-wide memos the method fills, so that each timed run starts cold like a worker."""
    from pipelines.synthesize import categorize
    from pipelines.synthesize.data2text import grammar, method, rewriter, templates

    rewriter._dedupe.cache_clear()
    grammar.default_grammar.cache_clear()
    grammar._PATTERNS.clear()
    method._TAG_WORDS.clear()
    templates._regex.cache_clear()
    categorize._DEFAULT = None  # the default lexicon and its memos


def timed(items: list, with_fidelity: bool):
    """(CPU seconds, the method, the texts) for all items in batches of 64, from cold memos."""
    from pipelines.synthesize.data2text.method import data2text_many
    from pipelines.synthesize.methods import Data2TextMethod

    fresh_memos()
    method = Data2TextMethod()
    method.setup()
    texts = []
    started = time.process_time()
    for i in range(0, len(items), 64):
        batch = items[i:i + 64]
        if with_fidelity:
            texts.extend(out.text for out in method.generate(batch))
        else:  # the method's own work: templates and rewriter, no fidelity, no metadata JSON
            texts.extend(text for text, _ in data2text_many(
                [list(b.selected) for b in batch], [b.rng() for b in batch], method._bank, method._rewriter,
                method._vocabulary))
    return time.process_time() - started, method, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    from pipelines.synthesize.data2text import rewriter

    items = work_items(args.rows)
    cpu, method, texts = timed(items, with_fidelity=True)
    print(f"{args.rows} rows: {1e6 * cpu / args.rows:.0f} us CPU per row (Data2TextMethod.generate: templates, "
          f"rewriter, fidelity, metadata JSON)")
    renders, dedupes = method._bank._written_lru.cache_info(), rewriter._dedupe.cache_info()
    print(f"template renders memoized: {renders.hits / (renders.hits + renders.misses):.0%} hits "
          f"({renders.currsize} kept); tag-list dedupes: {dedupes.hits / max(dedupes.hits + dedupes.misses, 1):.0%}")
    cpu, _, _ = timed(items, with_fidelity=False)
    print(f"without fidelity and metadata JSON (data2text_many): {1e6 * cpu / args.rows:.0f} us CPU per row")
    started = time.process_time()
    for item, text in zip(items, texts, strict=True):
        method.fidelity(text, item.selected)
    cpu = time.process_time() - started
    print(f"fidelity alone on those texts (mean {sum(map(len, texts)) / len(texts):.0f} characters): "
          f"{1e6 * cpu / args.rows:.0f} us CPU per row")

    # again from empty memos, under tracemalloc (which slows everything several times: not timed)
    fresh_memos()
    method = type(method)()
    method.setup()
    gc.collect()
    tracemalloc.start()
    for i in range(0, len(items), 64):
        method.generate(items[i:i + 64])
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    print(f"memory the method holds after the run (its memos, bounded): {held / 2 ** 20:.0f} MB")


if __name__ == "__main__":
    main()
