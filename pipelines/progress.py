"""Progress of a Beam stage on stderr while it runs: rows done out of the total, rate, ETA, failures.

One call in a stage's build() adds it:

    progress.track(p, "tag", done=records.ok, failed=[prepared[ERRORS], ...], total=n_rows, unit="clips")

`track` adds a step that counts the elements of `done` and `failed` (it outputs nothing), and makes the
pipeline's run() report while it runs: a plain line every VIML_SYNTH_PROGRESS_S seconds (default 10; 0: off)
on a log, a live bar (tqdm) on a terminal, and a final line at the end:

    tag: 1,200/48,000 clips (2.5 %), 31 clips/s, ETA 25 min, 3 failed

How the counts reach the driver: the local runner (FnApiRunner) runs the steps in this process or, with
--workers N, in worker processes on this machine. Each counting step writes its running totals to its
own small file in a temporary folder (at most a few times a second), and the driver sums the files.
Files rather than in-memory counters because they work across threads and processes alike; Beam's
metrics are no help here as the local runner only returns them once the run has finished.
Remote runners (Dataflow, Flink, Spark) run the steps elsewhere: nothing is counted or printed here;
their own UI shows each step's element counts (see the README).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import apache_beam as beam

INTERVAL_ENV = "VIML_SYNTH_PROGRESS_S"
DEFAULT_INTERVAL_S = 10.0
FLUSH_S = 0.25  # how often a counting step rewrites its file (a few small writes a second)
RATE_WINDOW_S = 60.0  # the rate (and ETA) is measured over the last minute: model loading is not in it
ROWS = "rows"  # a weight: each element is a batch (a list, an Arrow record batch) counting len() units


def interval_s() -> float:
    """Seconds between plain progress lines: $VIML_SYNTH_PROGRESS_S, default 10; 0 turns progress off."""
    raw = os.environ.get(INTERVAL_ENV)
    try:
        return float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


# ---------------------------------------------------------------- worker side: counting steps


class _CountTo(beam.DoFn):
    """Counts elements (times `weight`, or their len() when weight is ROWS) into its own file under
    `folder/kind`; outputs nothing."""

    def __init__(self, folder: str, kind: str, weight: int | str = 1):
        self.folder, self.kind, self.weight = folder, kind, weight

    def setup(self):
        # On a machine other than the driver's the folder does not exist: count nothing there.
        self.path = os.path.join(self.folder, f"{self.kind}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        self.enabled = os.path.isdir(self.folder)
        self.count, self.flushed_at = 0, 0.0

    def process(self, element):
        if not self.enabled:
            return
        self.count += len(element) if self.weight == ROWS else self.weight
        now = time.monotonic()
        if now - self.flushed_at >= FLUSH_S:
            self._flush(now)

    def finish_bundle(self):
        if self.enabled and self.count:
            self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        self.flushed_at = now
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as fh:
                fh.write(str(self.count))
            os.replace(tmp, self.path)  # the driver never reads a half-written number
        except OSError:  # the run is over and the folder gone, or a full disk: progress is best effort
            pass


def _read_counts(folder: str) -> dict[str, int]:
    totals = {"done": 0, "failed": 0}
    try:
        names = os.listdir(folder)
    except OSError:
        return totals
    for name in names:
        kind = name.split(".", 1)[0]
        if kind not in totals or name.endswith(".tmp"):
            continue
        try:
            with open(os.path.join(folder, name)) as fh:
                totals[kind] += int(fh.read() or 0)
        except (OSError, ValueError):
            pass
    return totals


# ---------------------------------------------------------------- driver side: what is printed


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Tracker:
    """The counts of one tracked output (a stage, or a modality of `features`)."""

    label: str
    unit: str
    total: int | None
    folder: str
    failed_before: int = 0  # failures known before the run (e.g. invalid manifest rows)
    samples: deque = field(default_factory=lambda: deque(maxlen=1000))

    def counts(self) -> tuple[int, int]:
        c = _read_counts(self.folder)
        return c["done"], c["failed"] + self.failed_before

    def rate(self, now: float, processed: int) -> float | None:
        self.samples.append((now, processed))
        while len(self.samples) > 2 and (now - self.samples[1][0] >= RATE_WINDOW_S or self.samples[1][1] == 0):
            self.samples.popleft()  # the window starts at the last moment nothing was done yet (model loading)
        t0, n0 = self.samples[0]
        return (processed - n0) / (now - t0) if now > t0 and processed > n0 else None

    def line(self, now: float, final: bool = False, elapsed: float | None = None) -> str:
        done, failed = self.counts()
        processed = done + failed
        rate = self.rate(now, processed)
        if final and elapsed:
            rate = processed / elapsed
        parts = [f"{processed:,}/{self.total:,} {self.unit}" if self.total else f"{processed:,} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * processed / self.total:.1f} %)"
        if rate is not None:
            parts.append(f"{rate:,.1f} {self.unit}/s" if rate < 10 else f"{rate:,.0f} {self.unit}/s")
        if not final and self.total and rate and processed < self.total:
            parts.append(f"ETA {format_duration(max(self.total - processed, 0) / rate)}")
        parts.append(f"{failed:,} failed")
        if final:
            parts.append(f"done in {format_duration(elapsed or 0)}")
        return f"{self.label}: " + ", ".join(parts)


class Reporter:
    """Prints the trackers of one pipeline run from a background thread until stop()."""

    def __init__(self, trackers: list[Tracker], interval: float | None = None, stream=None):
        self.trackers = trackers
        self.interval = interval if interval is not None else interval_s()
        self.stream = stream if stream is not None else sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: list = []

    def _is_tty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def start(self) -> None:
        self.started = time.monotonic()
        if self._is_tty():
            from tqdm import tqdm

            self._bars = [tqdm(total=t.total, desc=t.label, unit=f" {t.unit}", file=self.stream, position=i,
                               leave=False, dynamic_ncols=True, smoothing=0.1) for i, t in enumerate(self.trackers)]
        self._thread = threading.Thread(target=self._loop, name="viml-synth-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        # a bar is redrawn twice a second; plain lines come every `interval` seconds
        tick = min(0.5, self.interval) if self._bars else self.interval
        while not self._stop.wait(tick):
            self.report()

    def report(self) -> None:
        now = time.monotonic()
        if self._bars:
            for bar, t in zip(self._bars, self.trackers, strict=True):
                done, failed = t.counts()
                bar.update(done + failed - bar.n)
                bar.set_postfix_str(f"{failed:,} failed", refresh=True)
            return
        for t in self.trackers:
            self._write(t.line(now))

    def _write(self, line: str) -> None:
        # Written straight to stderr, not through logging: progress must show whatever the log setup
        # (the CLI's INFO lines can be swallowed when an import configured the root logger first).
        try:
            self.stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} progress {line}\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: progress is best effort
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for bar in self._bars:
            bar.close()
        now = time.monotonic()
        for t in self.trackers:  # the final line is written, terminal or not
            self._write(t.line(now, final=True, elapsed=now - self.started))


# ---------------------------------------------------------------- the one call a stage makes


def _is_local(p: beam.Pipeline) -> bool:
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return isinstance(p.runner, FnApiRunner)


def track(p: beam.Pipeline, label: str, done, failed=(), total: int | None = None, unit: str = "rows",
          failed_before: int = 0) -> None:
    """Report progress of `done` (and the `failed` PCollections) while `p` runs on the local runner.

    `done` and each item of `failed` may be a (PCollection, weight) pair: one of its elements stands for
    `weight` of `unit` (an unreadable input row of `synthesize` is every text it would have had), or for
    len(element) of them when weight is ROWS (batches of rows).
    `failed_before`: failures known before the run. Several calls on one pipeline report together."""
    if not _is_local(p) or interval_s() <= 0:
        return
    state = _attach(p)
    folder = os.path.join(state.root, str(len(state.trackers)))
    os.makedirs(folder)
    state.trackers.append(Tracker(label, unit, total, folder, failed_before))
    step = f"Progress_{label.replace(' ', '_')}"
    pcoll, weight = _weighted(done)
    pcoll | f"{step}_done" >> beam.ParDo(_CountTo(folder, "done", weight))
    for i, item in enumerate(failed if isinstance(failed, (list, tuple)) else [failed]):
        pcoll, weight = _weighted(item)
        pcoll | f"{step}_failed{i}" >> beam.ParDo(_CountTo(folder, "failed", weight))


def _weighted(item) -> tuple:
    """(PCollection, weight) of a `track` argument given as either."""
    return item if isinstance(item, tuple) else (item, 1)


def parquet_rows(pattern: str) -> int | None:
    """Rows of the Parquet files matching `pattern`, from their footers; None for other formats (counting
    their rows would mean reading them) or when they cannot be read (the stage reports that itself)."""
    from pipelines.io.fs import match_paths
    from pipelines.io.outputs import parquet_rows as footer_rows

    try:
        files = match_paths(pattern)
        return footer_rows(files) if files and all(f.endswith(".parquet") for f in files) else None
    except Exception:
        return None


# Counting lines streams the file in blocks (constant memory), at disk speed: worth it for a progress total
# on local files; a remote file would be read twice, so there the total stays unknown.
LINE_COUNT_LIMIT_BYTES = 4 << 30


def rows_hint(pattern: str) -> int | None:
    """Input rows for a progress total: Parquet footers; lines of local CSV/TSV/JSONL files (less a header
    line for CSV/TSV); None when that would mean reading remote data."""
    rows = parquet_rows(pattern)
    if rows is not None:
        return rows
    import glob

    if "://" in pattern:
        return None
    files = sorted(glob.glob(pattern)) or ([pattern] if os.path.isfile(pattern) else [])
    if (not files or any(f.endswith(".gz") for f in files)
            or sum(os.path.getsize(f) for f in files) > LINE_COUNT_LIMIT_BYTES):
        return None
    total = 0
    for path in files:
        lines, last = 0, b"\n"
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"  # a last line without its newline
        header = path.lower().endswith((".csv", ".tsv"))
        total += max(0, lines - header)
    return total


@dataclass
class _State:
    root: str
    trackers: list = field(default_factory=list)


def _attach(p: beam.Pipeline) -> _State:
    """The pipeline's progress state; on first use, wraps this pipeline's run() so the reporter runs
    exactly as long as the run (Beam has no run-started / run-finished hook to register with)."""
    state = getattr(p, "_viml_progress", None)
    if state is not None:
        return state
    state = _State(tempfile.mkdtemp(prefix="viml-synth-progress-"))
    p._viml_progress = state  # noqa: SLF001 - our own attribute
    original_run = p.run

    def run_with_progress(*args, **kwargs):
        reporter = Reporter(state.trackers)
        reporter.start()
        try:
            result = original_run(*args, **kwargs)
            result.wait_until_finish()  # the local runner has finished already; this is immediate
            return result
        finally:
            reporter.stop()
            shutil.rmtree(state.root, ignore_errors=True)

    p.run = run_with_progress
    return state
