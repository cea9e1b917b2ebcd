"""prompt2text end to end through the CLI, against a real HTTP server on 127.0.0.1."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from pipelines.cli import EXIT_OK, main
from pipelines.testing.llm_server import LLMServer

TOKEN = "hf_TESTSECRET_do_not_leak_0123456789"
from pipelines.tag.vocabulary import Vocabulary  # noqa: E402

VOCABULARY = Vocabulary.load()

TRACKS = [
    ("t0", ["rock", "electric guitar", "angry"]),
    ("t1", ["jazz", "saxophone", "relaxing"]),
    ("t2", ["hip-hop", "male vocals", "synth bass"]),
    ("t3", ["classical", "violin", "sad"]),
    ("t4", ["electronic", "synthesizer keyboard", "happy"]),
    ("t5", ["folk", "acoustic guitar", "nostalgic"]),
]
POOL = [
    {"id": "ex-rock", "tags": ["rock", "electric guitar"], "description": "A loud rock song with electric guitars."},
    {"id": "ex-jazz", "tags": ["jazz", "saxophone"], "description": "A smooth jazz tune led by a saxophone."},
    {"id": "ex-folk", "tags": ["folk", "acoustic guitar"], "description": "A gentle folk song on acoustic guitar."},
    {"id": "ex-edm", "tags": ["electronic", "dance"], "description": "An energetic electronic dance track."},
]


@pytest.fixture
def files(tmp_path):
    tags = tmp_path / "tags.jsonl"
    tags.write_text("".join(json.dumps({"music_id": m, "video_id": f"v-{m}", "tags": t}) + "\n" for m, t in TRACKS))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(e) + "\n" for e in POOL))
    return {"tags": tags, "pool": pool, "cache": tmp_path / "cache", "root": tmp_path}


def _argv(server, files, out, *extra):
    return ["synthesize", "--input", str(files["tags"]), "--out", str(out), "--methods", "prompt2text",
            "--llm-base-url", f"{server.url}/v1", "--llm-model", "loopback-llm", "--examples", str(files["pool"]),
            "--k", "2", "--cache-dir", str(files["cache"]), "--backoff-s", "0.01", "--log-level", "WARNING", *extra]


def _rows(out, prefix="triplets"):
    return [r for f in sorted(glob.glob(f"{out}/{prefix}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_prompts_are_exact_analogies_and_seeded(server, files):
    out = files["root"] / "out"
    assert main(_argv(server, files, out, "--seed", "7")) == EXIT_OK
    prompts = {r.body["prompt"] for r in server.requests}
    assert len(prompts) == len(TRACKS)
    rows = {r["music_id"]: r for r in _rows(out)}
    pool = {e["id"]: e for e in POOL}
    for music_id, tags in TRACKS:
        meta = rows[music_id]["metadata"]
        examples = [pool[i] for i in meta["example_ids"]]
        expected = ("Each music description below was written by a person who listened to the track and was "
                    "given its tags.\n"
                    + "".join(f"\nTags: {', '.join(e['tags'])}\nDescription: {e['description']}\n" for e in examples)
                    + "\nTags: ")
        # the query's tags in the vocabulary's natural words (surface forms), in order
        queries = [p[len(expected):-len("\nDescription:")].split(", ") for p in prompts
                   if p.startswith(expected) and p.endswith("\nDescription:")]
        assert any(len(q) == len(tags)
                   and all(w == t or w in VOCABULARY.get(t).surface for w, t in zip(q, tags, strict=True))
                   for q in queries), (music_id, queries)
        assert len(examples) == 2 and meta["prompt_id"] == "analogy.j2" and meta["model"] == "loopback-llm"
        params = json.loads(meta["params"])
        assert params["stop"] == ["\n\n", "\nTags:", "\nDescription:"] and params["seed"] is not None
    body = server.requests[0].body
    assert body["model"] == "loopback-llm" and body["max_tokens"] == 96 and body["stop"][0] == "\n\n"

    # same seed -> same prompts (a fresh cache forces requests); another seed -> other example draws
    server.reset()
    assert main(_argv(server, files, files["root"] / "again", "--seed", "7", "--no-cache")) == EXIT_OK
    assert {r.body["prompt"] for r in server.requests} == prompts
    server.reset()
    assert main(_argv(server, files, files["root"] / "other", "--seed", "8", "--no-cache")) == EXIT_OK
    assert {r.body["prompt"] for r in server.requests} != prompts


def test_similar_example_selection(server, files):
    out = files["root"] / "out"
    assert main(_argv(server, files, out, "--example-selection", "similar", "--k", "1")) == EXIT_OK
    rows = {r["music_id"]: r["metadata"]["example_ids"] for r in _rows(out)}
    assert rows["t0"] == ["ex-rock"] and rows["t1"] == ["ex-jazz"] and rows["t5"] == ["ex-folk"]


def test_cache_second_run_makes_no_requests_and_changed_example_only_affected_rows(server, files):
    out = files["root"] / "out"
    assert main(_argv(server, files, out)) == EXIT_OK
    first = {r["music_id"]: r for r in _rows(out)}
    assert server.count == len(TRACKS)
    assert _summary(out)["per_method"]["prompt2text"]["cache_misses"] == len(TRACKS)

    server.reset()
    assert main(_argv(server, files, out)) == EXIT_OK
    assert server.count == 0
    again = {r["music_id"]: r for r in _rows(out)}
    assert {m: r["text"] for m, r in again.items()} == {m: r["text"] for m, r in first.items()}
    assert all(r["metadata"]["cache_hit"] for r in again.values())
    stats = _summary(out)["per_method"]["prompt2text"]
    assert (stats["cache_hits"], stats["cache_misses"], stats["llm_attempts"]) == (len(TRACKS), 0, 0)

    # edit one example's description: only rows whose prompt showed it are asked again
    pool = [dict(e) for e in POOL]
    pool[1]["description"] = "A smooth jazz tune, led by a tenor saxophone."
    files["pool"].write_text("".join(json.dumps(e) + "\n" for e in pool))
    affected = {m for m, r in first.items() if "ex-jazz" in r["metadata"]["example_ids"]}
    assert 0 < len(affected) < len(TRACKS)
    server.reset()
    assert main(_argv(server, files, out)) == EXIT_OK
    assert server.count == len(affected)
    assert all("tenor saxophone" in r.body["prompt"] for r in server.requests)


def test_resume_after_killed_run(files, tmp_path):
    """A run killed mid-way: the rerun asks only for what the first run had not finished."""
    tracks = [(f"k{i:02d}", ["rock", f"tag{i}"]) for i in range(48)]  # ~6 s of requests: time to kill it
    files["tags"].write_text("".join(json.dumps({"music_id": m, "tags": t}) + "\n" for m, t in tracks))
    with LLMServer(latency_ms=250) as server:
        out = tmp_path / "out"
        argv = _argv(server, files, out, "--max-concurrency", "2")
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *argv], env={**os.environ},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and len(list(files["cache"].rglob("*.json"))) < 6:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cached = len(list(files["cache"].rglob("*.json")))
        assert 6 <= cached < len(tracks), "the run was not killed mid-way"
        first_prompts = [r.body["prompt"] for r in server.requests]
        server.reset()
        assert main(argv) == EXIT_OK
        assert server.count == len(tracks) - cached
        # nothing the killed run had finished (cached) was asked for again
        assert len(set(first_prompts) & {r.body["prompt"] for r in server.requests}) <= len(first_prompts) - cached
    assert len(_rows(out)) == len(tracks)


def test_retries_and_dead_letters(server, files):
    files["tags"].write_text("".join(json.dumps({"music_id": m, "tags": t}) + "\n" for m, t in TRACKS + [
        ("bad-request", ["rock", "MARK400"]), ("always-500", ["jazz", "MARK500"]),
        ("empty", ["folk", "MARKEMPTY"]), ("loop", ["pop", "MARKLOOP"])]))
    # the marked rows' faults first: rules fire in push order, and a marked request that arrived early
    # would otherwise take a one-off fault below and be sent once more
    server.faults.push(400, times=None, match="MARK400")
    server.faults.push(500, times=None, match="MARK500")
    server.faults.push("empty", times=None, match="MARKEMPTY")
    server.faults.push(429, times=2, retry_after=0.05)
    server.faults.push(503, times=1)
    server.faults.push("drop", times=1)
    server.faults.push("malformed", times=1)
    server.responder = lambda body, path: (" la la la la la la la la la la" if "MARKLOOP" in body.get("prompt", "")
                                           else " A fine song with guitars and drums.")
    out = files["root"] / "out"
    assert main(_argv(server, files, out, "--max-attempts", "3")) == EXIT_OK
    assert {r["music_id"] for r in _rows(out)} == {m for m, _ in TRACKS}
    errors = {e["id"]: e for e in _rows(out, "errors")}
    assert {k: (e["stage"], e["error_type"]) for k, e in errors.items()} == {
        "bad-request": ("prompt2text", "bad_request"), "always-500": ("prompt2text", "server_error"),
        "empty": ("prompt2text", "empty_text"), "loop": ("prompt2text", "degenerate_completion")}
    mark400 = [r for r in server.requests if "MARK400" in r.body["prompt"]]
    mark500 = [r for r in server.requests if "MARK500" in r.body["prompt"]]
    assert len(mark400) == 1 and len(mark500) == 3  # 400 is never retried; 500 until max_attempts
    assert "3 attempt" in errors["always-500"]["message"] or "attempts" in errors["always-500"]["message"]
    stats = _summary(out)["per_method"]["prompt2text"]
    assert stats["llm_retries"] >= 5 + 2 + 2  # 429 x2, 503, drop, malformed + 500 x2 + empty x2
    assert _summary(out)["counts"]["adds_up"]
    # the retried rows carry their attempts
    assert max(r["metadata"]["attempts"] for r in _rows(out)) >= 2


def test_chat_api(server, files):
    out = files["root"] / "out"
    assert main(_argv(server, files, out, "--llm-api", "chat")) == EXIT_OK
    paths = server.counts_by_path
    assert paths == {"/v1/chat/completions": len(TRACKS)}
    messages = server.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"] and messages[1]["content"].endswith("Description:")
    assert server.requests[0].body["max_tokens"] == 96
    server.reset()
    argv = _argv(server, files, files["root"] / "out2", "--llm-api", "chat", "--llm-max-tokens-field",
                 "max_completion_tokens", "--no-cache")
    assert main(argv) == EXIT_OK
    assert {r.body.get("max_completion_tokens") for r in server.requests} == {96}
    assert not any("max_tokens" in r.body for r in server.requests)


def test_token_never_written(server, files, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    out = files["root"] / "out"
    assert main(_argv(server, files, out)) == EXIT_OK
    assert all(r.header("authorization") == f"Bearer {TOKEN}" for r in server.requests)
    written = [p for p in files["root"].rglob("*") if p.is_file() and p.name != "tags.jsonl"]
    assert written and not [p for p in written if TOKEN.encode() in p.read_bytes()]
    assert TOKEN not in caplog.text


def test_a_failing_cache_write_costs_no_text(server, files, monkeypatch, caplog):
    from pipelines.synthesize.cache import ResponseCache

    def full_disk(self, key, value):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ResponseCache, "put", full_disk)
    out = files["root"] / "out"
    with caplog.at_level("WARNING"):
        assert main(_argv(server, files, out)) == EXIT_OK
    assert len(_rows(out)) == len(TRACKS) and _rows(out, "errors") == []
    assert f"{len(TRACKS)} of {len(TRACKS)} responses could not be cached" in caplog.text
    assert "No space left on device" in caplog.text
