"""The prompt2text method alone, outside Beam: CPU per row of a rerun whose every answer is cached.

Rows are bench/synthesize_floor.py's MusicCaps-style inputs, selected as the pipeline selects them. A
first pass fills a response cache from the loopback LLM server (a process of its own); the timed passes
then run `Prompt2TextMethod.generate` in batches of 64 on a fresh method (as a new worker would) with
every answer in the cache, and, for scale, `TagsMethod.generate` on the same rows.

    .venv/bin/python bench/prompt2text_method.py [--rows 20000] [--first-run-parts] [--profile FILE]

Prints CPU microseconds per row for both methods and their ratio, and what the first run (the one that
fills the cache) costs per row with the rerun index and, on a cache of its own, without it (what
writing the index costs); --first-run-parts also runs the first run once without the index's per-row
files and once without its per-batch packs (experiments: the method always writes both); --profile
writes a cProfile of the cached rerun (read it with `python -m pstats FILE`).
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 64


def run(method, items: list) -> tuple[float, list]:
    """(CPU seconds, outputs) of `method.generate` over all items in batches, with the garbage collector
    frozen as RunMethod freezes it (else full collections over the rows' objects dominate)."""
    gc.collect()
    gc.freeze()
    outs = []
    started = time.process_time()
    for i in range(0, len(items), BATCH):
        outs.extend(method.generate(items[i:i + BATCH]))
    cpu = time.process_time() - started
    gc.unfreeze()
    return cpu, outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the cached rerun here")
    parser.add_argument("--first-run-parts", action="store_true",
                        help="also time first runs that skip the index's row files, then its packs")
    args = parser.parse_args()
    from data2text_method import work_items

    from pipelines.synthesize.methods import Prompt2TextMethod, Prompt2TextOptions, TagsMethod
    from pipelines.testing.llm_server import ServerProcess

    items = work_items(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-p2t-") as tmp, ServerProcess(0.0) as server:
        no_index_cpu = first_run(server, Path(tmp) / "cache-without-index", items, with_index=False)
        options = Prompt2TextOptions(base_url=f"{server.url}/v1", model="loopback", max_concurrency=64,
                                     cache_dir=str(Path(tmp) / "cache"))
        first_cpu = first_run(server, Path(tmp) / "cache", items, with_index=True)
        parts = first_run_parts(server, Path(tmp), items) if args.first_run_parts else {}

        method = Prompt2TextMethod(options)
        method.setup()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            cpu, outs = profiler.runcall(run, method, items)
            profiler.dump_stats(str(args.profile))
        else:
            cpu, outs = run(method, items)
        method.teardown()
        assert server.stats()["posts"] == 0, "a cached rerun sent requests"
        assert all(not isinstance(o, Exception) and o.metadata["cache_hit"] for o in outs)

    tags = TagsMethod()
    tags.setup()
    tags_cpu, _ = run(tags, items)
    n = len(items)
    print(f"{n} rows, CPU per row: prompt2text cached rerun {1e6 * cpu / n:.0f} us, tags {1e6 * tags_cpu / n:.0f} us "
          f"(ratio {cpu / tags_cpu:.1f}x, difference {1e6 * (cpu - tags_cpu) / n:.0f} us)")
    print(f"first run, filling the cache from the loopback server: {1e6 * first_cpu / n:.0f} us CPU per row with "
          f"the rerun index, {1e6 * no_index_cpu / n:.0f} us without it (writing the index: "
          f"{1e6 * (first_cpu - no_index_cpu) / n:.0f} us a row)")
    for name, part_cpu in parts.items():
        print(f"first run with the index but {name}: {1e6 * part_cpu / n:.0f} us CPU per row")


def first_run_parts(server, tmp: Path, items: list) -> dict[str, float]:
    """CPU seconds of first runs whose index skips its per-row files, then its per-batch packs."""
    from pipelines.synthesize.prompt2text.rerun_index import RerunIndex

    found = {}
    for name, attribute in (("no per-row files", "put"), ("no packs", "put_pack")):
        original = getattr(RerunIndex, attribute)
        setattr(RerunIndex, attribute, lambda self, *args: None)
        try:
            found[name] = first_run(server, tmp / f"cache-{attribute}", items, with_index=True)
        finally:
            setattr(RerunIndex, attribute, original)
    return found


def first_run(server, cache: Path, items: list, with_index: bool) -> float:
    """CPU seconds of a run that fills an empty cache (`with_index=False`: as if the install could not
    fingerprint its code, so no rerun index is written), writes included."""
    from pipelines.synthesize.methods import Prompt2TextMethod, Prompt2TextOptions
    from pipelines.synthesize.prompt2text import rerun_index

    options = Prompt2TextOptions(base_url=f"{server.url}/v1", model="loopback", max_concurrency=64,
                                 cache_dir=str(cache))
    method = Prompt2TextMethod(options)
    fingerprint = rerun_index.code_fingerprint
    if not with_index:
        rerun_index.code_fingerprint = lambda: None
    try:
        method.setup()
    finally:
        rerun_index.code_fingerprint = fingerprint
    assert (method._index is not None) == with_index
    started = time.process_time()
    run(method, items)
    method.teardown()  # waits for the cache and index writes
    cpu = time.process_time() - started
    server.reset()
    return cpu


if __name__ == "__main__":
    main()
