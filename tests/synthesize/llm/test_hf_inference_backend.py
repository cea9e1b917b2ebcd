"""tgi / hf-inference backends (huggingface_hub AsyncInferenceClient) against the loopback server, and the
InferenceClient behaviour they rely on. Tests run with HF_HUB_OFFLINE=1 (tests/conftest.py)."""
import logging
import pickle

import pytest

from pipelines.synthesize.llm import GenerationParams, LLMRequest, LLMResult, make_backend
from pipelines.testing.llm_server import LLMServer, default_responder

TOKEN = "hf_testSECRETtoken0123456789"


@pytest.fixture(autouse=True)
def no_real_token(monkeypatch, tmp_path):
    """Never pick up a token from this machine: HF_TOKEN unset, token file path empty."""
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))


@pytest.fixture
def backends(made_backends):
    return lambda kind="tgi", **options: made_backends(kind, **{"model": "org/model", **options})


def test_text_generation_body_and_result(server, backends):
    params = GenerationParams(max_new_tokens=20, temperature=0.5, top_p=0.9, stop=("\n\n",), seed=11)
    [result] = backends(base_url=server.url).generate_many([LLMRequest(prompt="Tags: folk\nDescription:",
                                                                       params=params)])
    [seen] = server.requests
    assert seen.path == "/"  # InferenceClient posts to the base URL itself
    assert seen.body == {"inputs": "Tags: folk\nDescription:", "parameters": {
        "details": True, "do_sample": True, "max_new_tokens": 20, "return_full_text": False, "seed": 11,
        "stop": ["\n\n"], "temperature": 0.5, "top_p": 0.9}}
    expected = default_responder({"inputs": "Tags: folk\nDescription:"}, "/").split("\n\n")[0]
    assert (result.text, result.attempts, result.finish_reason, result.model) == (expected, 1, "stop", "org/model")


def test_greedy_sends_no_temperature_or_top_p(server, backends):
    params = GenerationParams(temperature=0, top_p=1.0)
    backends(base_url=server.url).generate_many([LLMRequest(prompt="p", params=params)])
    sent = server.requests[0].body["parameters"]
    assert sent["do_sample"] is False and "temperature" not in sent and "top_p" not in sent  # TGI rejects 0 / 1.0


def test_chat_completion_body(server, backends):
    messages = ({"role": "user", "content": "describe a calm piano piece"},)
    [result] = backends(base_url=server.url).generate_many([LLMRequest(messages=messages,
                                                                       params=GenerationParams(seed=2))])
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body == {"model": "org/model", "messages": list(messages), "max_tokens": 96, "seed": 2,
                         "temperature": 0.7, "top_p": 0.95, "stream": False}
    assert isinstance(result, LLMResult) and result.text
    backends(base_url=server.url, api="chat").generate_many([LLMRequest(prompt="wrapped")])
    assert server.requests[1].body["messages"] == [{"role": "user", "content": "wrapped"}]


def test_hf_inference_with_base_url_behaves_like_tgi(server, backends):
    [result] = backends("hf-inference", base_url=server.url).generate_many([LLMRequest(prompt="p")])
    assert isinstance(result, LLMResult) and server.requests[0].path == "/"


@pytest.mark.parametrize("fault", ["429", "503", "500", "drop", "malformed", "empty", "hang"])
def test_retries_recover(server, backends, fault):
    server.faults.push(int(fault) if fault.isdigit() else fault, times=2, retry_after=0 if fault == "429" else None,
                       delay_s=5 if fault == "hang" else None)
    [result] = backends(base_url=server.url, timeout_s=0.3).generate_many([LLMRequest(prompt="p")])
    assert isinstance(result, LLMResult), result
    assert result.attempts == 3 and server.count == 3


def test_retry_after_from_tgi_overloaded_error(server, backends):
    server.faults.push(429, retry_after=1)  # raised as OverloadedError: the status is on __cause__
    [result] = backends(base_url=server.url).generate_many([LLMRequest(prompt="p")])
    first, second = server.requests
    assert result.attempts == 2 and second.received_at - first.received_at >= 0.95


@pytest.mark.parametrize("status", [400, 422])
def test_validation_errors_are_not_retried(server, backends, status):
    server.faults.push(status)
    [error] = backends(base_url=server.url).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.status, error.attempts) == ("bad_request", status, 1) and server.count == 1


def test_gives_up_with_reason(server, backends):
    server.faults.push(500, times=None)
    [error] = backends(base_url=server.url, max_attempts=3).generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.status, error.attempts) == ("server_error", 500, 3) and server.count == 3


def test_hf_token_when_named_for_a_self_hosted_server(server, backends, monkeypatch, caplog):
    # (unnamed, HF_TOKEN goes to Hugging Face hosts only: test_credentials.py)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    backend = backends(base_url=server.url, api_key_env="HF_TOKEN")
    server.faults.push(401, body=f"bad token {TOKEN}", match="AUTH")  # by prompt: arrival order varies
    results = backend.generate_many([LLMRequest(prompt="AUTH"), LLMRequest(prompt="p")])
    assert {r.header("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
    shown = [repr(backend), str(backend.describe()), repr(results), str(results[0]), caplog.text]
    assert results[0].reason == "auth" and not any(TOKEN in text for text in shown)
    assert TOKEN.encode() not in pickle.dumps(backend)


def test_explicit_token_and_no_token(server, backends):
    backends(base_url=server.url, token=TOKEN).generate_many([LLMRequest(prompt="p")])
    backends(base_url=server.url).generate_many([LLMRequest(prompt="p")])
    assert [r.header("authorization") for r in server.requests] == [f"Bearer {TOKEN}", None]


def test_concurrency_bound(backends):
    with LLMServer(latency_ms=50) as srv:
        results = backends(base_url=srv.url, max_concurrency=4).generate_many(
            [LLMRequest(prompt=f"p{i}") for i in range(16)])
        assert srv.max_in_flight == 4 and all(isinstance(r, LLMResult) for r in results)


def test_router_mode_respects_offline(server, backends):
    [error] = backends("hf-inference", model="gpt2").generate_many([LLMRequest(prompt="p")])
    assert (error.reason, error.attempts, error.retryable) == ("offline", 1, False) and server.count == 0


def test_options_are_checked():
    with pytest.raises(ValueError, match="base_url"):
        make_backend("tgi")
    with pytest.raises(ValueError, match="model"):
        make_backend("hf-inference")


def test_pickles(server, backends):
    backend = backends(base_url=server.url)
    backend.generate_many([LLMRequest(prompt="p")])
    copy = pickle.loads(pickle.dumps(backend))
    try:
        assert isinstance(copy.generate(LLMRequest(prompt="q")), LLMResult)
    finally:
        copy.close()


# -- what InferenceClient itself does (huggingface_hub 2.4), which the backend builds on --------------

@pytest.fixture
def online(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # still only 127.0.0.1 is contacted


def test_inference_client_refuses_loopback_when_offline(server):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import OfflineModeIsEnabled

    with pytest.raises(OfflineModeIsEnabled):
        InferenceClient(base_url=server.url).text_generation("p")
    assert server.count == 0  # why the backend brings its own httpx2 client for a base_url


def test_inference_client_raises_once_without_retrying(server, online):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError, OverloadedError

    client = InferenceClient(base_url=server.url, token=TOKEN)
    text = client.text_generation("p", max_new_tokens=3)  # parses TGI's list answer from POST /
    assert text.split() == default_responder({"inputs": "p"}, "/").split()[:3]
    server.faults.push(503, retry_after=3)
    with pytest.raises(OverloadedError) as info:  # TGI error_type "overloaded"; not an HfHubHTTPError
        client.text_generation("p")
    assert not isinstance(info.value, HfHubHTTPError)
    assert info.value.__cause__.response.status_code == 503
    assert info.value.__cause__.response.headers["Retry-After"] == "3"
    server.faults.push(500)
    with pytest.raises(HfHubHTTPError) as info:
        client.text_generation("p")
    assert info.value.response.status_code == 500
    assert server.count == 3 and server.requests[0].header("authorization") == f"Bearer {TOKEN}"
