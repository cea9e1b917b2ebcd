"""The synthesize stage against Beam's own floor, on the same input, measured two ways (issue 9 §3).

  (a) floor: a trivial Beam pipeline on the local FnApiRunner that reads the JSONL, shuffles each
      row's tags with a seeded RNG, joins them and writes Parquet
  (b) `viml-synth synthesize --methods tags`
  (c) `viml-synth synthesize --methods data2text` (built-in rewriter)
  (d) `viml-synth synthesize --methods prompt2text` rerun with every answer in its cache (the first run,
      not timed, fills the cache from the loopback LLM server, which runs in its own process)

Whole process (the issue's measure): each of (a)-(d) is a fresh Python process, timed from start to
exit, imports included: wall time and the process's CPU time.
In process (stricter): all runs share this process; each is run once untimed first, so neither
Beam's nor the project's imports and first-pipeline costs are counted, only the run itself.

--breakdown also times `tags` in process with duplicate-id detection switched off, then with fidelity
off too (an experiment only: the pipeline always does both), to show where its time goes.

--bound asks how fast data2text could get if its template rendering and fidelity cost nothing, outputs
unchanged. A process of its own runs data2text twice (untimed, then timed), then switches fidelity off
and makes every TemplateBank.load() return one bank with an unbounded memo of rendered templates, fills
it with an untimed run and times a last run, which renders nothing (its texts are checked equal). The
timed runs differ in those two parts and in the bank's load (about 0.2 s, which the shared bank skips:
the bound errs on the optimistic side); what the last one still spends is the planner's and the
rewriter's per-row decisions, the metadata and Beam. The bound printed is the whole-process data2text
time less that difference.

Prints wall and CPU seconds and their ratios to the floor (targets: tags <= 2x, data2text <= 4x; the
cached prompt2text rerun at the tags method's rate). On a shared machine CPU time moves less than
wall time. The input is MusicCaps-style: each row a list of free-text aspects ("low quality",
"mellow piano melody", ...) mixed with tagger vocabulary names.

    .venv/bin/python bench/synthesize_floor.py [--rows 50000] [--seed 0] [--no-prompt2text] [--breakdown]
                                               [--only whole-process|in-process] [--repeat N] [--profile DIR]
                                               [--bound]

--profile DIR also writes a cProfile of the in-process runs of (b) and (c) to DIR/<method>.prof
(slower; ratios then mean little).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# MusicCaps-like aspects: genres, instruments, moods and the free descriptive phrases its captions use
ASPECTS = [
    "rock", "pop", "jazz", "classical", "electronic", "hip hop", "metal", "folk", "ambient", "blues",
    "country", "reggae", "funk", "soul", "techno", "house", "punk", "orchestral", "acoustic guitar",
    "electric guitar", "piano", "drums", "bass", "synthesizer", "strings", "violin", "cello", "flute",
    "saxophone", "trumpet", "male vocals", "female vocals", "choir", "harp", "organ", "happy", "sad",
    "calm", "energetic", "mellow", "dark", "uplifting", "romantic", "aggressive", "dreamy", "epic",
    "low quality", "mellow piano melody", "slow tempo", "fast tempo", "soft female vocal",
    "groovy bassline", "punchy kick", "emotional", "live performance", "amateur recording",
    "sustained strings melody", "distorted electric guitar", "catchy melody", "reverberant",
    "noisy", "instrumental", "medium tempo", "passionate male vocal", "shimmering hi hats",
]


def write_input(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(rows):
            tags = rng.sample(ASPECTS, rng.randint(3, 12))
            fh.write(json.dumps({"music_id": f"m{i:07d}", "video_id": f"v{i:07d}", "tags": tags}) + "\n")


class ShuffleJoin:
    """The floor's only work per row: parse it, shuffle its tags with a per-row seeded RNG, join them."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, line: str) -> dict:
        row = json.loads(line)
        tags = list(row["tags"])
        random.Random(f"{self.seed}:{row['music_id']}").shuffle(tags)
        return {"music_id": row["music_id"], "video_id": row.get("video_id"), "text": ", ".join(tags)}


def run_floor(src: Path, out: Path, seed: int) -> float:
    import apache_beam as beam
    import pyarrow as pa
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    schema = pa.schema([("music_id", pa.string()), ("video_id", pa.string()), ("text", pa.string())])
    started = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions([])) as p:
        (p | beam.io.ReadFromText(str(src))
           | beam.Map(ShuffleJoin(seed))
           | beam.io.WriteToParquet(str(out / "floor"), schema, file_name_suffix=".parquet"))
    return time.perf_counter() - started


def cpu_s() -> float:
    """CPU seconds of this process so far, all threads (the local runner runs the pipeline in-process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_synthesize(src: Path, out: Path, method: str, seed: int, profile_dir: Path | None,
                   extra: list[str] = (), name: str | None = None) -> float:
    from pipelines.cli import main

    argv = ["synthesize", "--log-level", "WARNING", "--input", str(src), "--out", str(out / (name or method)),
            "--methods", method, "--seed", str(seed), *extra]
    started = time.perf_counter()
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        status = profiler.runcall(main, argv)
        profiler.dump_stats(str(profile_dir / f"{name or method}.prof"))
    else:
        status = main(argv)
    wall = time.perf_counter() - started
    assert status == 0, status
    texts = json.loads((out / (name or method) / "summary.json").read_text())["counts"]["texts"]
    assert texts > 0, texts
    return wall


def without_duplicate_detection():
    """Experiment: ReadInput without its ids pass (no GroupByKey of ids; no row is a duplicate)."""
    import apache_beam as beam

    from pipelines.io import read_rows
    from pipelines.io.chunks import Chunk

    def expand(self, pbegin):
        s = self.source
        none = pbegin | "NoIds" >> beam.Create([])
        checked = (pbegin | "FilesForRows" >> beam.Create(list(enumerate(s.files)))
                   | "ReadRows" >> beam.ParDo(read_rows.ReadFileRows(s.fmt, counter=self.counter,
                                                                     chunk_rows=self.chunk_rows))
                   .with_output_types(Chunk)
                   | "Check" >> beam.ParDo(read_rows.CheckRows(self.validate, s.id_field, self.stage, self.purpose,
                                                               s.files, then=self.then),
                                           duplicates=beam.pvalue.AsDict(none))
                   .with_output_types(Chunk).with_outputs(read_rows.ERRORS, main="ok"))
        return {"ok": checked.ok, read_rows.ERRORS: checked[read_rows.ERRORS]}

    read_rows.ReadInput.expand = expand


def without_fidelity():
    """Experiment: methods record no fidelity."""
    from pipelines.synthesize import fidelity as fidelity_module
    from pipelines.synthesize.methods import Method

    Method.fidelity = lambda self, text, tags: {}
    fidelity_module.fidelity_of_list = lambda parts, tags, matcher: fidelity_module.Fidelity([], [], [], 1.0, 0.0)


def with_every_render_memoized():
    """Experiment: every TemplateBank.load() returns one bank whose memo of rendered templates is unbounded,
    so a second run over the same rows renders nothing (its outputs are the same: the memo is exact)."""
    import functools

    from pipelines.synthesize.data2text.templates import TemplateBank

    load = TemplateBank.load.__func__

    @functools.cache
    def shared(cls, *args, **kwargs):
        bank = load(cls, *args, **kwargs)
        bank._written_lru = functools.lru_cache(maxsize=None)(bank._write)
        return bank

    TemplateBank.load = classmethod(shared)


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU s) of fn()."""
    cpu = cpu_s()
    wall = fn()
    return wall, cpu_s() - cpu


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_timed(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of a whole new process, from its start to its exit."""
    cpu = children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, children_cpu_s() - cpu


def synthesize_argv(src: Path, seed: int) -> list[str]:
    """`viml-synth synthesize` on `src` as a process of its own (add --out, --methods and the rest)."""
    return [sys.executable, "-m", "pipelines.cli", "synthesize", "--log-level", "WARNING", "--input", str(src),
            "--seed", str(seed)]


def whole_process_rows(src: Path, work: Path, seed: int, llm: list[str] | None) -> list[tuple]:
    """The floor, tags, data2text (and the cached prompt2text rerun) each in a process of its own."""
    cli = synthesize_argv(src, seed)
    rows = [("floor (trivial Beam pipeline)", *process_timed(
        [sys.executable, __file__, "--floor-only", str(src), str(work / "floor-process"), "--seed", str(seed)]), None)]
    for method, target in (("tags", "2x"), ("data2text", "4x")):
        rows.append((f"synthesize --methods {method}", *process_timed(
            cli + ["--out", str(work / f"{method}-process"), "--methods", method]), target))
    if llm is not None:
        rows.append(("prompt2text rerun, all cached", *process_timed(
            cli + ["--out", str(work / "prompt2text-process"), "--methods", "prompt2text", *llm]), "= tags"))
    return rows


def fastest(runs: list[list[tuple]]) -> list[tuple]:
    """Per pipeline, the least wall and the least CPU time over rounds (other processes on the machine
    only ever add time)."""
    return [(name, min(r[i][1] for r in runs), min(r[i][2] for r in runs), target)
            for i, (name, _, _, target) in enumerate(runs[0])]


def print_table(title: str, rows: list[tuple], n: int) -> None:
    print(title)
    print(f"| {'pipeline':34s} | {'wall s':>7s} | {'us/row':>7s} | {'vs floor':>8s} | {'CPU s':>6s} | "
          f"{'vs floor':>8s} | target |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 8}|{'-' * 10}|--------|")
    _, fwall, fcpu, _ = rows[0]
    for name, wall, cpu, target in rows:
        print(f"| {name:34s} | {wall:7.1f} | {1e6 * wall / n:7.0f} | {wall / fwall:7.1f}x | {cpu:6.1f} | "
              f"{cpu / fcpu:7.1f}x | {target or '':>6s} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-prompt2text", action="store_true", help="skip the cached prompt2text rerun")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time tags without duplicate detection, then without fidelity too (last)")
    parser.add_argument("--only", choices=("whole-process", "in-process"), help="measure one way only")
    parser.add_argument("--repeat", type=int, default=1,
                        help="whole-process rounds (floor, tags, ... in turn); each figure is its fastest round")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the synthesize runs here")
    parser.add_argument("--bound", action="store_true",
                        help="also bound data2text with free template renders and fidelity (see above)")
    parser.add_argument("--floor-only", nargs=2, metavar=("INPUT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--bound-only", nargs=2, metavar=("INPUT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_only:  # the floor's own process (whole-process measure)
        run_floor(Path(args.floor_only[0]), Path(args.floor_only[1]), args.seed)
        return
    if args.bound_only:  # the bound's own process: prints its figures as JSON
        print(json.dumps(bound_runs(Path(args.bound_only[0]), Path(args.bound_only[1]), args.seed)))
        return
    if args.bound and args.only == "in-process":
        parser.error("--bound compares with the whole-process data2text run")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    tables, bound = [], None
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        work = Path(tmp)
        src = work / "tags.jsonl"
        write_input(src, args.rows, args.seed)
        server = None
        llm = None
        if not args.no_prompt2text:
            from pipelines.testing.llm_server import ServerProcess

            server = ServerProcess(0.0).__enter__()
            llm = ["--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback", "--max-concurrency", "64",
                   "--cache-dir", str(work / "llm-cache")]
            # fills the cache, in a process of its own: 50,000 rows' objects would otherwise stay in this one
            process_timed(synthesize_argv(src, args.seed) + ["--out", str(work / "prompt2text-first"),
                                                             "--methods", "prompt2text", *llm])
            server.reset()
        try:
            if args.only != "in-process":
                runs = [whole_process_rows(src, work, args.seed, llm) for _ in range(args.repeat)]
                tables.append(("whole process: each run a new process, imports included"
                               + (f"; fastest of {args.repeat} rounds" if args.repeat > 1 else ""), fastest(runs)))
            if args.only != "whole-process":
                tables.append(("in process: after an untimed run of each, so imports and first runs are not "
                               "counted", in_process_rows(src, work, args, llm)))
            if args.bound:
                done = subprocess.run([sys.executable, __file__, "--bound-only", str(src), str(work / "bound"),
                                       "--seed", str(args.seed)], capture_output=True, text=True, check=True)
                bound = json.loads(done.stdout.strip().splitlines()[-1])
            if server is not None:
                assert server.stats()["posts"] == 0, "a cached rerun sent requests"
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    for title, rows in tables:
        print_table(f"{args.rows} JSONL rows, {title}", rows, args.rows)
    if bound is not None:
        print_bound(tables[0][1], bound)


def print_bound(whole: list[tuple], runs: dict[str, tuple[float, float]]) -> None:
    """The whole-process data2text time less what free renders and free fidelity saved."""
    floor = next(r for r in whole if r[0].startswith("floor"))
    d2t = next(r for r in whole if r[0] == "synthesize --methods data2text")
    (wall, cpu), (bound_wall, bound_cpu) = runs["data2text"], runs["bound"]
    print(f"bound, in a process of its own: data2text {cpu:.1f} s CPU, with every render memoized and no "
          f"fidelity {bound_cpu:.1f} s CPU (renders and fidelity: {cpu - bound_cpu:.1f} s)")
    print(f"data2text whole process less that: wall {d2t[1] - (wall - bound_wall):.1f} s "
          f"({(d2t[1] - (wall - bound_wall)) / floor[1]:.1f}x floor), CPU {d2t[2] - (cpu - bound_cpu):.1f} s "
          f"({(d2t[2] - (cpu - bound_cpu)) / floor[2]:.1f}x floor); target 4x")


def in_process_rows(src: Path, work: Path, args, llm: list[str] | None) -> list[tuple]:
    run_floor(src, work, args.seed)  # warm-up: imports and the first pipeline are not the floor's cost
    gc.collect()
    rows = [("floor (trivial Beam pipeline)", *timed(lambda: run_floor(src, work, args.seed)), None)]
    runs = [("tags", "2x", ()), ("data2text", "4x", ())] + ([("prompt2text", "= tags", llm)] if llm else [])
    for method, target, extra in runs:
        run_synthesize(src, work, method, args.seed, None, extra, f"{method}-warm")  # the same for each method
        gc.collect()
        wall = timed(lambda m=method, e=extra: run_synthesize(src, work, m, args.seed, args.profile, e))
        rows.append((f"synthesize --methods {method}" if method != "prompt2text"
                     else "prompt2text rerun, all cached", *wall, target))
    if args.breakdown:  # last: these switch parts of the pipeline off for the rest of the process
        without_duplicate_detection()
        rows.append(("tags, no duplicate detection", *timed(
            lambda: run_synthesize(src, work, "tags", args.seed, None, (), "tags-no-dedupe")), None))
        without_fidelity()
        rows.append(("tags, no dup. check, no fidelity", *timed(
            lambda: run_synthesize(src, work, "tags", args.seed, None, (), "tags-bare")), None))
    return rows


def bound_runs(src: Path, work: Path, seed: int) -> dict[str, tuple[float, float]]:
    """In this process (a new one): (wall s, CPU s) of a data2text run, then of one with fidelity off
    and every template render already memoized; each after an untimed run like it."""
    found = {}
    work.mkdir(parents=True, exist_ok=True)
    run_synthesize(src, work, "data2text", seed, None, (), "data2text-warm")
    gc.collect()
    found["data2text"] = timed(lambda: run_synthesize(src, work, "data2text", seed, None, (), "data2text"))
    with_every_render_memoized()
    without_fidelity()
    run_synthesize(src, work, "data2text", seed, None, (), "data2text-fill")  # fills the shared memo
    gc.collect()
    found["bound"] = timed(lambda: run_synthesize(src, work, "data2text", seed, None, (), "data2text-bound"))
    assert texts_of(work / "data2text-bound") == texts_of(work / "data2text"), "the bound changed texts"
    return found


def texts_of(out: Path) -> dict[str, str]:
    """{music id: text} of a synthesize output folder."""
    import pyarrow.parquet as pq

    found = {}
    for path in sorted(out.glob("triplets-*.parquet")):
        table = pq.read_table(path, columns=["music_id", "text"]).to_pydict()
        found.update(zip(table["music_id"], table["text"], strict=True))
    return found


if __name__ == "__main__":
    main()
