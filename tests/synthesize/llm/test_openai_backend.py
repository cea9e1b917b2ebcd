"""The openai backend against the loopback server: request bodies, retries, errors, secrets, concurrency."""
import itertools
import logging
import pickle
import socket
import time

import pytest

from pipelines.synthesize.llm import GenerationParams, LLMError, LLMRequest, LLMResult, make_backend, request_seed
from pipelines.testing.llm_server import LLMServer, default_responder

TOKEN = "sk-test-SECRET-0123456789"


@pytest.fixture
def backends(made_backends):
    return lambda url, **options: made_backends("openai", base_url=url, **{"model": "m1", **options})


def completion(prompt, stop=("\n\n",)):
    return default_responder({"prompt": prompt}, "/v1/completions").split(stop[0])[0] if stop else None


def test_exact_completion_body(server, backends):
    params = GenerationParams(max_new_tokens=12, temperature=0.3, top_p=0.9, stop=("\n\n", "###"), seed=7)
    [result] = backends(server.url).generate_many([LLMRequest(prompt="Tags: rock\nDescription:", params=params)])
    [seen] = server.requests
    assert seen.path == "/v1/completions"
    assert seen.body == {"model": "m1", "prompt": "Tags: rock\nDescription:", "max_tokens": 12, "temperature": 0.3,
                         "top_p": 0.9, "stop": ["\n\n", "###"], "seed": 7,
                         "generation_config": '{"do_sample": true}'}  # what transformers serve samples by
    assert result == LLMResult(completion("Tags: rock\nDescription:"), 1, result.latency_s, "m1", "stop")


def test_sampling_hint_is_dropped_for_a_strict_openai_server(backends):
    with LLMServer(strict=True) as strict:
        backend = backends(strict.url, max_concurrency=1)
        results = backend.generate_many([LLMRequest(prompt=f"p{i}", params=GenerationParams(seed=i)) for i in range(3)])
        assert all(isinstance(r, LLMResult) and r.attempts == 1 for r in results)
        bodies = [r.body for r in strict.requests]
        # one request with the field (rejected: 400), then never again
        assert [("generation_config" in b) for b in bodies] == [True, False, False, False]
        assert backend.describe()["sampling_hint"] is False
        greedy = backends(strict.url)
        greedy.generate_many([LLMRequest(prompt="g", params=GenerationParams(temperature=0))])
        assert "generation_config" not in strict.requests[-1].body  # greedy: nothing to switch on
        off = backends(strict.url, sampling_hint=False)
        off.generate_many([LLMRequest(prompt="o")])
        assert strict.count == 6 and "generation_config" not in strict.requests[-1].body  # never sent


def test_a_rejected_completion_is_drawn_again_with_the_next_seed(backends):
    def loops_on_seed_5(body, path):
        return " on and on and on and on and on and on and on" if body["seed"] == 5 else " a calm piano piece"

    def reject_loops(text):
        if text.count("on and") > 2:
            raise ValueError("completion repeats itself")

    with LLMServer(loops_on_seed_5) as srv:
        params = GenerationParams(seed=5)
        [ok] = backends(srv.url).generate_many([LLMRequest(prompt="p", params=params, check=reject_loops)])
        assert ok.text == " a calm piano piece" and ok.attempts == 2
        assert [r.body["seed"] for r in srv.requests] == [5, 6]

        class Rejected(ValueError):
            reason = "degenerate_completion"

        def reject_all(text):
            raise Rejected("loops")

        [error] = backends(srv.url, max_attempts=3).generate_many([LLMRequest(prompt="q", params=params,
                                                                             check=reject_all)])
        assert (error.reason, error.attempts) == ("degenerate_completion", 3)
        assert [r.body["seed"] for r in srv.requests[2:]] == [5, 6, 7]  # bounded by max_attempts, no backoff


def test_exact_chat_bodies_and_v1_suffix(server, backends):
    messages = ({"role": "system", "content": "Describe music."}, {"role": "user", "content": "jazz"})
    backend = backends(server.url + "/v1/")  # OpenAI SDK style base URL
    backend.generate_many([LLMRequest(messages=messages, params=GenerationParams(temperature=0))])
    backends(server.url, api="chat", model=None).generate_many([LLMRequest(prompt="hello")])
    first, second = server.requests
    assert first.path == second.path == "/v1/chat/completions"
    assert first.body == {"model": "m1", "messages": list(messages), "max_tokens": 96, "temperature": 0,
                          "top_p": 0.95}  # greedy: no generation_config
    assert second.body["messages"] == [{"role": "user", "content": "hello"}] and "model" not in second.body


def test_max_completion_tokens_for_chat_requests(server, backends):
    backend = backends(server.url, api="chat", max_tokens_field="max_completion_tokens")
    params = GenerationParams(max_new_tokens=2, stop=())
    [chat] = backend.generate_many([LLMRequest(prompt="hi", params=params)])
    [raw] = backends(server.url, max_tokens_field="max_completion_tokens").generate_many(
        [LLMRequest(prompt="hi", params=params)])
    first, second = server.requests
    assert first.body["max_completion_tokens"] == 2 and "max_tokens" not in first.body
    assert second.path == "/v1/completions" and second.body["max_tokens"] == 2  # the legacy API's only name
    assert len(chat.text.split()) == 2 and chat.finish_reason == "length"  # the server honoured it
    assert backend.describe()["max_tokens_field"] == "max_completion_tokens"
    with pytest.raises(ValueError, match="max_tokens_field"):
        backends(server.url, max_tokens_field="max_output_tokens")


def test_order_text_and_client_side_stop(backends):
    def responder(body, path):  # a server that ignores stop sequences
        return f" answer to {body['prompt']}\n\nnext example"

    with LLMServer(responder, honour_stop=False) as srv:
        prompts = [f"prompt {i}" for i in range(20)]
        params = GenerationParams(stop=("\n\n",))
        results = backends(srv.url, max_concurrency=4).generate_many(
            [LLMRequest(prompt=p, params=params, key=f"k{i}") for i, p in enumerate(prompts)])
    assert [r.text for r in results] == [f" answer to {p}" for p in prompts]
    assert [r.key for r in results] == [f"k{i}" for i in range(20)]
    assert {r.finish_reason for r in results} == {"stop"} and {r.attempts for r in results} == {1}


def test_backend_seed_gives_reproducible_per_request_seeds(server, backends):
    requests = [LLMRequest(prompt="same prompt", key=f"song{i}") for i in range(3)]
    backends(server.url, seed=1234).generate_many(requests)
    first = sorted(r.body["seed"] for r in server.requests)  # concurrent requests arrive in any order
    server.reset()
    backends(server.url, seed=1234).generate_many(requests)
    second = sorted(r.body["seed"] for r in server.requests)
    assert first == second == sorted(request_seed(r, 1234) for r in requests)
    assert len(set(first)) == 3


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("fault", ["429", "503", "500", "drop", "malformed", "empty", "hang"])
def test_retries_recover(server, backends, fault, transport):
    server.faults.push(int(fault) if fault.isdigit() else fault, times=2, delay_s=5 if fault == "hang" else None)
    backend = backends(server.url, http_transport=transport, timeout_s=0.3, seed=3)
    [result] = backend.generate_many([LLMRequest(prompt="p", params=GenerationParams(stop=("\n\n",)))])
    assert isinstance(result, LLMResult), result
    assert result.attempts == 3 and server.count == 3 and result.text == completion("p")
    seeds = [r.body["seed"] for r in server.requests]
    if fault in ("malformed", "empty"):  # a resample must not repeat the same seed
        assert len(set(seeds)) == 3
    else:
        assert len(set(seeds)) == 1


def test_retry_after_is_honoured(server, backends):
    server.faults.push(429, retry_after=1)
    [result] = backends(server.url).generate_many([LLMRequest(prompt="p")])
    first, second = server.requests
    assert result.attempts == 2 and second.received_at - first.received_at >= 0.95
    assert result.latency_s >= 0.95


def test_retry_after_holds_back_other_requests(server, backends):
    server.faults.push(429, retry_after=0.5, match="FIRST")
    backends(server.url, max_concurrency=1).generate_many([LLMRequest(prompt="FIRST"), LLMRequest(prompt="second")])
    throttled, second, retried = server.requests
    assert throttled.fault == "status:429" and second.body["prompt"] == "second"
    assert second.received_at - throttled.received_at >= 0.45  # waited although it was never throttled itself


def test_retry_after_beats_backoff_and_backoff_grows(server, backends):
    backend = backends(server.url, backoff_base_s=0.5, backoff_max_s=30)
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    backend.policy.sleep, backend.policy.jitter = fake_sleep, (1.0, 1.0)
    backend._limiter.hold = lambda seconds: None  # keep the test free of real waiting
    server.faults.push(503, retry_after=7)
    server.faults.push(500, times=3)
    [result] = backend.generate_many([LLMRequest(prompt="p")])
    assert result.attempts == 5 and delays == [7.0, 1.0, 2.0, 4.0]


def test_bad_request_is_not_retried(server, backends):
    server.faults.push(400)
    [error] = backends(server.url).generate_many([LLMRequest(prompt="p", key="k")])
    assert isinstance(error, LLMError) and server.count == 1
    assert (error.reason, error.status, error.attempts, error.retryable, error.key) == (
        "bad_request", 400, 1, False, "k")
    assert "injected fault: HTTP 400" in str(error)


def test_gives_up_after_max_attempts_with_the_reason(server, backends):
    server.faults.push(503, times=None)
    [error] = backends(server.url, max_attempts=3).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.status, error.attempts) == ("server_error", 503, 3) and server.count == 3
    server.faults.clear()
    server.faults.push("hang", delay_s=5, times=None)
    [error] = backends(server.url, max_attempts=2, timeout_s=0.2).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.attempts) == ("timeout", 2)
    server.faults.clear()
    server.faults.push("empty", times=None)
    [error] = backends(server.url, max_attempts=2).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.attempts) == ("empty_text", 2)


def test_connection_refused(backends):
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [error] = backends(f"http://127.0.0.1:{port}", max_attempts=2).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.attempts, error.retryable) == ("connection", 2, True)


def test_failures_do_not_affect_neighbours(server, backends):
    server.faults.push(400, match="BAD", times=None)
    results = backends(server.url).generate_many([LLMRequest(prompt=p) for p in ("ok 1", "BAD", "ok 2")])
    assert [type(r).__name__ for r in results] == ["LLMResult", "LLMError", "LLMResult"]


def test_token_is_sent_but_never_shown(server, backends, caplog):
    caplog.set_level(logging.DEBUG)
    backend = backends(server.url, token=TOKEN)
    # servers do echo keys back; matched by prompt, since concurrent requests arrive in any order
    server.faults.push(401, body=f"Incorrect API key provided: {TOKEN}", match="AUTH")
    server.faults.push(503, times=None, match="FAIL")
    results = backend.generate_many([LLMRequest(prompt="AUTH"), LLMRequest(prompt="p"), LLMRequest(prompt="FAIL")])
    assert {r.header("Authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
    auth_error, ok, server_error = results
    assert auth_error.reason == "auth" and "***" in auth_error.message and isinstance(ok, LLMResult)
    shown = [repr(backend), str(backend.describe()), repr(results), str(auth_error), str(server_error),
             repr(auth_error.args), caplog.text]
    assert "retrying" in caplog.text and not any(TOKEN in text for text in shown)
    with pytest.raises(LLMError) as info:
        backend.generate(LLMRequest(prompt="FAIL"))
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


def test_token_from_environment_stays_out_of_pickles(server, backends, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    backend = backends(server.url)
    assert TOKEN.encode() not in pickle.dumps(backend)
    backend.generate_many([LLMRequest(prompt="p")])
    assert server.requests[0].header("authorization") == f"Bearer {TOKEN}"
    assert TOKEN.encode() not in pickle.dumps(backend)  # resolved on the worker, never stored
    monkeypatch.delenv("OPENAI_API_KEY")
    backends(server.url).generate_many([LLMRequest(prompt="p")])
    assert server.requests[1].header("authorization") is None


def test_concurrency_bound(backends):
    with LLMServer(latency_ms=50) as srv:
        started = time.monotonic()
        results = backends(srv.url, max_concurrency=4).generate_many([LLMRequest(prompt=f"p{i}") for i in range(20)])
        elapsed = time.monotonic() - started
        assert srv.max_in_flight == 4 and all(isinstance(r, LLMResult) for r in results)
    assert 0.25 <= elapsed < 1.0  # 5 waves of 50 ms, not 20 sequential requests


def test_submitted_batches_share_the_slots_and_return_at_once(backends):
    with LLMServer(latency_ms=50) as srv:
        backend = backends(srv.url, max_concurrency=4)
        backend.generate_many([LLMRequest(prompt="warm-up")])  # the client's loop and pool exist now
        started = time.monotonic()
        first = backend.submit_many([LLMRequest(prompt=f"a{i}") for i in range(6)])
        second = backend.submit_many([LLMRequest(prompt=f"b{i}") for i in range(6)])
        assert time.monotonic() - started < 0.04  # neither call waited for an answer (one takes 50 ms)
        a, b = first.result(timeout=5), second.result(timeout=5)
        elapsed = time.monotonic() - started
        assert srv.max_in_flight == 4  # the bound is per backend, not per batch
        assert [r.text for r in a] == [completion(f"a{i}") for i in range(6)]
        assert [r.text for r in b] == [completion(f"b{i}") for i in range(6)]
        # 12 requests in 3 full waves: the second batch filled the slots the first one left free
        assert elapsed < 0.25, elapsed
        assert backend.submit_many([]).result() == []


def test_a_batch_submitted_first_finishes_first(backends):
    """Requests are served in submission order across batches: the caller can post-process batch 1
    while batch 2 runs (interleaved, both would finish at the end)."""
    with LLMServer(latency_ms=50) as srv:
        backend = backends(srv.url, max_concurrency=4)
        backend.generate_many([LLMRequest(prompt="warm-up")])
        finished = {}
        started = time.monotonic()
        futures = {name: backend.submit_many([LLMRequest(prompt=f"{name}{i}") for i in range(16)])
                   for name in ("first", "second")}
        for name, future in futures.items():
            future.add_done_callback(lambda _, name=name: finished.setdefault(name, time.monotonic() - started))
        futures["first"].result(timeout=5), futures["second"].result(timeout=5)
        assert finished["first"] < finished["second"] - 0.1, finished  # 4 waves of 50 ms apart
        assert finished["first"] < 0.5 * finished["second"] + 0.1, finished


def test_concurrency_bound_holds_across_retries(backends):
    with LLMServer(latency_ms=20) as srv:
        srv.faults.push(503, every=2, times=6)
        backend = backends(srv.url, max_concurrency=3, max_attempts=8)
        results = backend.generate_many([LLMRequest(prompt=f"p{i}") for i in range(15)])
        assert srv.max_in_flight == 3 and all(isinstance(r, LLMResult) for r in results)
        assert srv.count == 15 + 6


def test_requests_per_minute_spaces_requests(server, backends):
    backend = backends(server.url, requests_per_minute=600, max_concurrency=8)  # one per 100 ms
    backend.generate_many([LLMRequest(prompt=f"p{i}") for i in range(5)])
    times = [r.received_at for r in server.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.085 for gap in gaps), gaps
    backend.generate_many([LLMRequest(prompt="later")])  # the limiter persists across calls
    assert server.requests[-1].received_at - times[-1] >= 0.085


def test_pickles_before_and_after_use(server, backends):
    backend = backends(server.url, max_concurrency=2)
    copy = pickle.loads(pickle.dumps(backend))
    assert isinstance(copy.generate_many([LLMRequest(prompt="a")])[0], LLMResult)
    backend.generate_many([LLMRequest(prompt="b")])
    again = pickle.loads(pickle.dumps(backend))
    assert isinstance(again.generate_many([LLMRequest(prompt="c")])[0], LLMResult)
    copy.close()
    again.close()
    assert backend.generate_many([]) == []


def test_describe(server, backends):
    described = backends(server.url, max_concurrency=3, requests_per_minute=120, seed=5).describe()
    assert described["backend"] == "openai" and described["base_url"] == server.url
    assert (described["model"], described["max_concurrency"], described["requests_per_minute"]) == ("m1", 3, 120)
    assert described["api"] == "completions" and described["retry"]["max_attempts"] == 5


def test_bad_options():
    with pytest.raises(ValueError):
        make_backend("openai", base_url="http://127.0.0.1:1", api="edit")
    with pytest.raises(ValueError):
        make_backend("openai", base_url="http://127.0.0.1:1", http_transport="curl")
    with pytest.raises(ValueError):
        make_backend("nope")
