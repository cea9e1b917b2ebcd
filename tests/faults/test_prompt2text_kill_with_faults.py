"""prompt2text against a server that fails in every way it can, killed with SIGKILL mid-run and resumed:
the resumed run asks again only for what had not been answered (at most the requests in flight when the
process died), and every track ends in the output exactly once."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from pipelines.cli import EXIT_OK, main
from pipelines.testing.llm_server import LLMServer

CONCURRENCY = 4
POOL = [{"id": "ex-rock", "tags": ["rock", "electric guitar"], "description": "A loud rock song."},
        {"id": "ex-jazz", "tags": ["jazz", "saxophone"], "description": "A smooth jazz tune."},
        {"id": "ex-folk", "tags": ["folk", "acoustic guitar"], "description": "A gentle folk song."}]


def _every_fault(server: LLMServer) -> None:
    # recurring faults at co-prime periods, so a retried request soon meets a healthy answer
    server.faults.push(429, times=None, every=7, retry_after=0.05)
    server.faults.push(503, times=None, every=11)
    server.faults.push(500, times=None, every=13)
    server.faults.push("drop", times=None, every=17)
    server.faults.push("malformed", times=None, every=19)
    server.faults.push("slow", times=None, every=5, delay_s=0.3)


def _answered(requests) -> set[str]:
    return {r.body["prompt"] for r in requests if r.fault in (None, "slow") and isinstance(r.body, dict)}


def test_killed_and_resumed_under_faults_repeats_only_requests_in_flight(tmp_path):
    tracks = [(f"f{i:02d}", ["rock", f"tag{i}", "energetic"]) for i in range(60)]
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": m, "video_id": f"v-{m}", "tags": t}) + "\n" for m, t in tracks))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(e) + "\n" for e in POOL))
    cache, out = tmp_path / "cache", tmp_path / "out"
    with LLMServer(latency_ms=150) as server:
        _every_fault(server)
        argv = ["synthesize", "--input", str(tags), "--out", str(out), "--methods", "prompt2text",
                "--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback-llm", "--examples", str(pool),
                "--k", "2", "--cache-dir", str(cache), "--backoff-s", "0.01", "--max-attempts", "8",
                "--max-concurrency", str(CONCURRENCY), "--log-level", "WARNING"]
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *argv], env={**os.environ},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 90
        while time.time() < deadline and len(list(cache.rglob("*.json"))) < 20:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cached = len(list(cache.rglob("*.json")))
        assert 20 <= cached < len(tracks), "the run was not killed mid-way"
        first = list(server.requests)
        faults_seen = {r.fault for r in first if r.fault}
        assert len(faults_seen) >= 3, faults_seen
        server.reset()
        assert main(argv) == EXIT_OK
        second_prompts = {r.body["prompt"] for r in server.requests if isinstance(r.body, dict)}
    repeated = _answered(first) & second_prompts
    # answered but not yet cached when the process died: at most one batch of requests in flight
    assert len(repeated) <= CONCURRENCY, len(repeated)
    assert len(_answered(first) - second_prompts) >= cached - CONCURRENCY
    rows = [r for f in sorted(glob.glob(str(out / "triplets-*.parquet"))) for r in pq.read_table(f).to_pylist()]
    keys = [(r["music_id"], r["sample"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(tracks)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["texts"] == len(tracks)
    assert not glob.glob(str(out / ".staging-*"))
