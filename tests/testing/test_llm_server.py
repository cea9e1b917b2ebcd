"""The loopback LLM server: each protocol, each fault, counting and logging, concurrency, the CLI."""
import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
import requests

from pipelines.synthesize.llm.transport import LeanTransport
from pipelines.testing.llm_server import Fault, LLMServer, ServerProcess, apply_limits, default_responder

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    with LLMServer(next_example=True) as srv:
        yield srv


def post(server, path, body, **kwargs):
    return requests.post(server.url + path, json=body, timeout=kwargs.pop("timeout", 5), **kwargs)


def test_binds_loopback_on_an_ephemeral_port(server):
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")


def test_openai_completions(server):
    body = {"model": "m", "prompt": "Tags: jazz\nDescription:", "max_tokens": 50, "stop": ["\n\n"]}
    out = post(server, "/v1/completions", body, headers={"Authorization": "Bearer abc"}).json()
    expected = default_responder(body, "/v1/completions").split("\n\n")[0]
    assert out["choices"][0]["text"] == expected  # the trailing "next example" was cut at the stop
    assert out["choices"][0]["finish_reason"] == "stop" and out["model"] == "m"
    assert out["usage"]["completion_tokens"] == len(expected.split())
    [seen] = server.requests
    assert (seen.path, seen.body) == ("/v1/completions", body) and seen.header("authorization") == "Bearer abc"


def test_without_stop_the_next_example_follows_and_max_tokens_cuts(server):
    text = post(server, "/v1/completions", {"prompt": "p"}).json()["choices"][0]["text"]
    assert "\n\nTags:" in text
    out = post(server, "/v1/completions", {"prompt": "p", "max_tokens": 2}).json()["choices"][0]
    assert len(out["text"].split()) == 2 and out["finish_reason"] == "length"


def test_openai_chat(server):
    body = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "stop": "\n\n"}
    out = post(server, "/v1/chat/completions", body).json()
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert out["choices"][0]["message"]["content"] == default_responder(body, "/v1/chat/completions").split("\n\n")[0]


def test_tgi_generate_dict_and_root_list(server):
    body = {"inputs": "x", "parameters": {"max_new_tokens": 3, "details": True, "seed": 4}}
    generated = post(server, "/generate", body).json()
    assert isinstance(generated, dict) and len(generated["generated_text"].split()) == 3
    assert generated["details"]["finish_reason"] == "length" and generated["details"]["seed"] == 4
    listed = post(server, "/", {"inputs": "x", "parameters": {"stop": ["\n\n"]}}).json()
    assert isinstance(listed, list) and listed[0]["generated_text"].endswith("].")
    assert "details" not in listed[0]


def test_get_routes(server):
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert requests.get(server.url + "/info", timeout=5).json()["model_id"] == "loopback-llm"
    assert requests.get(server.url + "/v1/models", timeout=5).json()["data"][0]["id"] == "loopback-llm"
    assert server.count == 0  # count is generation attempts (POSTs) only


def test_custom_responder_sees_body_and_path():
    seen = []

    def responder(body, path):
        seen.append((path, body["prompt"]))
        return "fixed answer"

    with LLMServer(responder) as srv:
        assert post(srv, "/v1/completions", {"prompt": "q"}).json()["choices"][0]["text"] == "fixed answer"
    assert seen == [("/v1/completions", "q")]


@pytest.mark.parametrize("status", [429, 503, 500, 400])
def test_status_faults_with_retry_after_then_recovery(server, status):
    server.faults.push(status, retry_after=1)
    first = post(server, "/v1/completions", {"prompt": "p"})
    assert first.status_code == status and first.headers["Retry-After"] == "1"
    assert "injected fault" in first.json()["error"]["message"]
    assert post(server, "/v1/completions", {"prompt": "p"}).status_code == 200  # times=1 by default
    assert [r.fault for r in server.requests] == [f"status:{status}", None]


def test_tgi_error_shape(server):
    server.faults.push(503, retry_after=2)
    out = post(server, "/", {"inputs": "p"})
    assert out.status_code == 503 and out.json() == {"error": "injected fault: HTTP 503", "error_type": "overloaded"}


def test_slow_and_hang(server):
    server.faults.push("slow", delay_s=0.3)
    started = time.monotonic()
    assert post(server, "/v1/completions", {"prompt": "p"}).status_code == 200
    assert time.monotonic() - started >= 0.3
    server.faults.push("hang", delay_s=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(server, "/v1/completions", {"prompt": "p"}, timeout=0.3)


def test_malformed_empty_and_drop(server):
    server.faults.push("malformed")
    response = post(server, "/v1/completions", {"prompt": "p"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    server.faults.push("empty")
    assert post(server, "/v1/completions", {"prompt": "p"}).json()["choices"][0]["text"] == ""
    server.faults.push("drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        post(server, "/v1/completions", {"prompt": "p"})
    assert server.count == 3


def test_every_kth_match_and_forever(server):
    server.faults.push(500, every=3, times=None)
    codes = [post(server, "/v1/completions", {"prompt": f"p{i}"}).status_code for i in range(7)]
    assert codes == [200, 200, 500, 200, 200, 500, 200]
    server.faults.clear()
    server.faults.push(503, match="MARKER", times=None)
    assert post(server, "/v1/completions", {"prompt": "plain"}).status_code == 200
    assert post(server, "/v1/completions", {"prompt": "has MARKER in it"}).status_code == 503
    chat = {"messages": [{"role": "user", "content": "MARKER"}]}
    assert post(server, "/v1/chat/completions", chat).status_code == 503
    assert post(server, "/", {"inputs": "MARKER"}).status_code == 503


def test_fault_specs_parse():
    assert Fault.parse("429:times=3,retry_after=1") == Fault("status", 429, 1.0, 0.0, None, 3, 1, None)
    drop = Fault.parse("drop:every=5,times=")
    assert (drop.kind, drop.every, drop.times) == ("drop", 5, None)
    slow = Fault.parse("slow:delay_s=0.25,match=SLOW")
    assert (slow.kind, slow.delay_s, slow.match) == ("slow", 0.25, "SLOW")
    assert Fault.parse("timeout").kind == "hang"
    with pytest.raises(ValueError):
        Fault.parse("explode")


def test_apply_limits():
    assert apply_limits("a b\n\nc", ["\n\n"], None) == ("a b", "stop_sequence")
    assert apply_limits(" a b c", [], 2) == (" a b", "length")
    assert apply_limits("a b", ["zz"], 5) == ("a b", "eos_token")


def test_counts_log_and_reset(server):
    post(server, "/v1/completions", {"prompt": "a"})
    post(server, "/", {"inputs": "b"})
    post(server, "/", {"inputs": "c"})
    assert server.count == 3 and server.counts_by_path == {"/v1/completions": 1, "/": 2}
    assert [r.body.get("inputs") for r in server.requests[1:]] == ["b", "c"]
    server.reset()
    assert server.count == 0 and server.requests == []


def test_128_concurrent_requests_at_200ms_latency():
    async def burst(url, n):
        # the lean transport: httpx2's default pool costs O(connections) per request, slow at 128
        async with httpx2.AsyncClient(transport=LeanTransport(), timeout=10) as client:
            responses = await asyncio.gather(*(client.post(url + "/v1/completions", json={"prompt": f"p{i}"})
                                               for i in range(n)))
        return [r.status_code for r in responses]

    with LLMServer(latency_ms=200) as srv:
        started = time.monotonic()
        codes = asyncio.run(burst(srv.url, 128))
        elapsed = time.monotonic() - started
        assert codes == [200] * 128 and srv.max_in_flight == 128
    assert elapsed < 1.2, f"128 requests at 200 ms took {elapsed:.2f} s"  # ~0.3 s idle, ~0.7 s with busy CPUs


def test_stop_ends_hung_requests_promptly():
    srv = LLMServer().start()
    srv.faults.push("hang", delay_s=60)
    threading.Timer(0.3, srv.stop).start()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        post(srv, "/v1/completions", {"prompt": "p"}, timeout=10)
    assert time.monotonic() - started < 5


def test_command_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.testing.llm_server", "--port", "0", "--latency-ms", "10",
                             "--fault", "503:times=1,retry_after=2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=PROJECT)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        first = requests.post(url + "/v1/completions", json={"prompt": "p"}, timeout=5)
        assert first.status_code == 503 and first.headers["Retry-After"] == "2"
        assert requests.post(url + "/v1/completions", json={"prompt": "p"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "Warning" not in proc.stderr.read()


def test_server_process_stats_and_reset():
    with ServerProcess(10, "--fault", "503:times=1") as srv:
        assert srv.stats() == {"posts": 0, "first_received": None, "last_received": None, "max_in_flight": 0,
                               "latency_s": 0.01}
        requests.get(srv.url + "/health", timeout=5)  # GETs are not generation traffic
        codes = [requests.post(srv.url + "/v1/completions", json={"prompt": f"p{i}"}, timeout=5).status_code
                 for i in range(3)]
        stats = srv.stats()
        assert codes == [503, 200, 200] and stats["posts"] == 3 and stats["max_in_flight"] == 1
        assert 0.02 <= stats["last_received"] - stats["first_received"] < 5  # two 10 ms answers in between
        srv.reset()
        assert srv.stats()["posts"] == 0 and srv.stats()["first_received"] is None
    assert srv.proc.poll() is not None  # the child is gone with the context
