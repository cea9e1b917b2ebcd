"""The data2text method alone, outside Beam: CPU per row, how often its memos hit, and what they hold.

Rows are bench/synthesize_floor.py's MusicCaps-style inputs, selected as the pipeline selects them, then
written in batches of 64 by `Data2TextMethod.generate` (templates, built-in rewriter, fidelity).

    .venv/bin/python bench/data2text_method.py [--rows 50000]

Prints CPU microseconds per row, the render and mention memos' hit rates, and, from a second run under
tracemalloc, the memory the method still holds afterwards (its memos, which are bounded).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    from pipelines.synthesize.data2text import grammar
    from pipelines.synthesize.methods import Data2TextMethod

    items = work_items(args.rows)
    method = Data2TextMethod()
    method.setup()
    started = time.process_time()
    for i in range(0, len(items), 64):
        method.generate(items[i:i + 64])
    cpu = time.process_time() - started
    print(f"{args.rows} rows: {1e6 * cpu / args.rows:.0f} us CPU per row")
    if not hasattr(grammar, "_mentions_short"):  # code from before the memos (to compare against)
        return
    renders, mentions = method._bank._written_lru.cache_info(), grammar._mentions_short.cache_info()
    print(f"template renders memoized: {renders.hits / (renders.hits + renders.misses):.0%} hits "
          f"({renders.currsize} kept); mention checks: {mentions.hits / (mentions.hits + mentions.misses):.0%}")

    # again from empty memos, under tracemalloc (which slows everything several times: not timed)
    grammar._mentions_short.cache_clear()
    method = Data2TextMethod()
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
