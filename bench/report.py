"""`viml-synth report` figures (prints them; not a test): HTML size, wall time and peak memory.

  0. the `make demo` run (demo/out), when it is there
  1. a real run: `synthesize` (tags + data2text) on N tracks, then `report --triplets`
  2. the same run scaled up to R rows by copying its triplets under new track ids (synthesis at that
     size takes tens of minutes on a laptop; the report only reads Parquet, so copies load it alike),
     then `report`, and `report --compare` of it against itself

Each report runs in a fresh process; peak memory is its maximum resident set size (ru_maxrss).

    .venv/bin/python bench/report.py [--tracks 20000] [--rows 2000000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthesize import synthesize, write_tags  # noqa: E402  (bench/synthesize.py)

PEAK = ("import resource, sys; from pipelines.cli import main; status = main(sys.argv[1:]); "
        "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(status)")


def report(triplets: Path, out: Path, *extra: str) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one `viml-synth report` in its own process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, "report", "--triplets", str(triplets), "--out", str(out),
                           "--log-level", "WARNING", *extra], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    kib = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("maxrss "))
    return wall, kib / 1024


def scale(src: Path, dst: Path, rows: int) -> int:
    """Copies of src's triplets under new track ids until `rows` rows; returns the rows written."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dst.mkdir(parents=True, exist_ok=True)
    tables = {f.name.split("-")[1]: pq.read_table(f) for f in sorted(src.glob("triplets-*.parquet"))}
    per_copy = sum(len(t) for t in tables.values())
    copies = max(1, rows // per_copy)
    for method, table in tables.items():
        with pq.ParquetWriter(dst / f"triplets-{method}-00000-of-00001.parquet", table.schema) as writer:
            for k in range(copies):
                suffix = f"~{k}"
                copy = table.set_column(table.schema.get_field_index("music_id"), "music_id",
                                        pc.binary_join_element_wise(table["music_id"], suffix, ""))
                writer.write_table(copy)
    return copies * per_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--demo", default="demo/out", help="a `make demo` output folder, reported first if present")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        demo = Path(args.demo)
        if (demo / "triplets").is_dir():
            wall, peak = report(demo / "triplets", work / "demo.html", "--tags", str(demo / "tags"))
            size = (work / "demo.html").stat().st_size
            n = json.loads((demo / "triplets" / "summary.json").read_text())["counts"]["texts"]
            print(f"make demo    {n:>10,} texts                    report {size / 1e6:.2f} MB  "
                  f"{wall:6.1f} s  peak RSS {peak:,.0f} MiB")
        tags = work / "tags.parquet"
        write_tags(tags, args.tracks)
        summary = synthesize(["--input", str(tags), "--out", str(work / "run"), "--methods", "tags,data2text"])
        n = summary["counts"]["texts"]
        wall, peak = report(work / "run", work / "run.html")
        size = (work / "run.html").stat().st_size
        print(f"real run     {n:>10,} texts ({args.tracks:,} tracks)  report {size / 1e6:.2f} MB  "
              f"{wall:6.1f} s  peak RSS {peak:,.0f} MiB")
        rows = scale(work / "run", work / "big", args.rows)
        wall, peak = report(work / "big", work / "big.html")
        size = (work / "big.html").stat().st_size
        print(f"scaled copy  {rows:>10,} texts                    report {size / 1e6:.2f} MB  "
              f"{wall:6.1f} s  peak RSS {peak:,.0f} MiB")
        wall, peak = report(work / "big", work / "compare.html", "--compare", str(work / "big"))
        size = (work / "compare.html").stat().st_size
        print(f"--compare    {rows:>10,} texts each               report {size / 1e6:.2f} MB  "
              f"{wall:6.1f} s  peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
