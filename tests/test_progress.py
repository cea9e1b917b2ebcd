"""Progress of the Beam stages: lines while a run goes, counts that add up at its end, across workers."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time

import pytest

from pipelines import progress

LINE = re.compile(r"progress tag: (\d+)/48 clips \(([\d.]+) %\).*?(\d+) failed")


def _tag_manifest(path, n=48, bad=0):
    """n precomputed-tag clips, the last `bad` of them with an out-of-range confidence (they fail)."""
    rows = [{"music_id": f"clip{i:02d}", "tags": [{"tag": "rock", "confidence": 1.5 if i >= n - bad else 0.7},
                                                  {"tag": "piano", "confidence": 0.4}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _tag(tmp_path, *extra):
    manifest = _tag_manifest(tmp_path / "clips.jsonl", bad=2)
    env = {**os.environ, progress.INTERVAL_ENV: "0.05"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "tag", "--tagger", f"precomputed:{manifest}",
                           "--out", str(tmp_path / "out"), "--batch-clips", "4", *extra],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stderr.splitlines() if "progress tag:" in line]


def test_a_48_clip_tag_run_prints_progress_lines_before_it_ends(tmp_path):
    lines = _tag(tmp_path)
    *during, final = lines
    assert len(during) >= 2, lines
    assert all(LINE.search(line) for line in lines), lines
    assert "done in" in final and "done in" not in "".join(during)
    processed, share, failed = LINE.search(final).groups()
    assert (processed, share, failed) == ("48", "100.0", "2")  # 46 tagged + 2 failed: every clip accounted for
    counts = [int(LINE.search(line).group(1)) for line in during]
    assert counts == sorted(counts)  # never goes backwards


def test_counts_add_up_across_worker_processes(tmp_path):
    lines = _tag(tmp_path, "--workers", "2")
    assert LINE.search(lines[-1]).groups() == ("48", "100.0", "2")


def _tracker(tmp_path, done=0, failed=0, total=48_000):
    folder = tmp_path / "counts"
    folder.mkdir(exist_ok=True)
    (folder / "done.1.a").write_text(str(done))
    (folder / "failed.1.b").write_text(str(failed))
    (folder / "failed.2.c.tmp").write_text("999")  # a file being written is not read
    return progress.Tracker("tag", "clips", total, str(folder))


def test_line_format(tmp_path):
    tracker = _tracker(tmp_path, done=1_197, failed=3)
    tracker.samples.append((100.0, 0))
    assert tracker.line(now=100.0 + 1200 / 31) == "tag: 1,200/48,000 clips (2.5 %), 31 clips/s, ETA 25 min, 3 failed"
    assert tracker.line(now=200.0, final=True, elapsed=100.0).endswith("12 clips/s, 3 failed, done in 100 s")
    unknown = progress.Tracker("features text", "texts", None, str(tmp_path / "counts"))
    assert unknown.line(now=1.0) == "features text: 1,200 texts, 3 failed"


def test_rate_ignores_the_time_before_the_first_row(tmp_path):
    tracker = _tracker(tmp_path)
    tracker.line(now=0.0)
    tracker.line(now=30.0)  # still loading the model
    (tmp_path / "counts" / "done.1.a").write_text("100")
    assert "100 clips/s" in tracker.line(now=31.0)  # 100 rows in the 1 s since loading ended, not in 31 s


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_live_bar_and_a_log_plain_lines(tmp_path):
    for stream, bar in ((_Terminal(), True), (io.StringIO(), False)):
        tracker = _tracker(tmp_path, done=10, failed=1, total=20)
        reporter = progress.Reporter([tracker], interval=0.05, stream=stream)
        reporter.start()
        time.sleep(0.3)
        reporter.stop()
        text = stream.getvalue()
        assert ("\r" in text) == bar  # tqdm redraws one line; a log gets whole lines
        assert re.search(r"progress tag: 11/20 clips \(55\.0 %\), .*, 1 failed, done in 0 s$", text.rstrip()), text


def test_off_when_the_interval_is_zero(monkeypatch):
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    monkeypatch.setenv(progress.INTERVAL_ENV, "0")
    p = beam.Pipeline(runner=FnApiRunner())
    progress.track(p, "tag", p | beam.Create([1]), total=1)
    assert not hasattr(p, "_viml_progress")


@pytest.mark.parametrize("seconds,text", [(5, "5 s"), (100, "100 s"), (600, "10 min"), (7200, "2.0 h")])
def test_durations(seconds, text):
    assert progress.format_duration(seconds) == text


def test_rows_hint_counts_local_lines_and_parquet_footers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.progress import rows_hint

    (tmp_path / "m.csv").write_text("music_id,audio_path\na,x.wav\nb,y.wav")  # no final newline
    (tmp_path / "t.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    pq.write_table(pa.table({"a": [1, 2, 3, 4]}), tmp_path / "p-0.parquet")
    assert rows_hint(str(tmp_path / "m.csv")) == 2
    assert rows_hint(str(tmp_path / "t.jsonl")) == 3
    assert rows_hint(str(tmp_path / "p-*.parquet")) == 4
    assert rows_hint(str(tmp_path / "missing.csv")) is None
    assert rows_hint("gs://bucket/m.csv") is None


def test_synthesize_counts_texts_not_batches(tmp_path):
    """synthesize's texts leave in record batches of up to 64: progress counts the texts in them, and the
    rows that fail, to the total."""
    src = tmp_path / "tags.jsonl"
    rows = [{"music_id": f"m{i}", "tags": ["rock", "piano", "sad"]} for i in range(150)] + [{"tags": ["x"]}] * 3
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, progress.INTERVAL_ENV: "0.05"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "synthesize", "--input", str(src), "--out",
                           str(tmp_path / "out"), "--methods", "tags", "--samples-per-track", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    final = [line for line in done.stderr.splitlines() if "progress synthesize tags:" in line][-1]
    assert "306/306 texts (100.0 %)" in final and "6 failed" in final, final
