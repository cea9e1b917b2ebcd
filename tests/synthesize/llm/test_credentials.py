"""A token only ever goes to the host it belongs to (issue 8, defect 2): per host, per backend, on the
wire (the loopback server records every request's headers) and across redirects."""
import httpx2
import pytest

from pipelines.synthesize.llm import LLMRequest, LLMResult, make_backend
from pipelines.synthesize.llm.credentials import CredentialError, HostScopedAuth, is_hf_host
from pipelines.testing.llm_server import LLMServer

OPENAI = "sk-openai-SECRET-0123456789"
HF = "hf_huggingface_SECRET_0123456789"
MINE = "my-own-SECRET-0123456789"


@pytest.fixture(autouse=True)
def secrets(monkeypatch, tmp_path):
    """Both well-known keys set, as on a user's machine; no saved HF login is read from this machine."""
    from huggingface_hub import constants

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("HF_TOKEN", HF)
    monkeypatch.setenv("MY_KEY", MINE)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))


def token_sent(kind, base_url, **options):
    """The token a backend would send for its base URL (resolved as on a worker)."""
    return make_backend(kind, base_url=base_url, model="m", **options)._resolve_token()


@pytest.mark.parametrize("url, expected", [
    ("https://api.openai.com/v1", OPENAI),
    ("http://localhost:8000/v1", OPENAI),
    ("https://my-vllm.example.org/v1", OPENAI),
    ("https://router.huggingface.co/v1", HF),
    ("https://huggingface.co/api/inference-proxy/together/v1", HF),
    ("https://HF.co/v1", HF),
    ("https://abc123.us-east-1.aws.endpoints.huggingface.cloud/v1", HF),
    ("https://evilhuggingface.co/v1", OPENAI),        # not a subdomain
    ("https://huggingface.co.attacker.net/v1", OPENAI),  # nor is this
])
def test_openai_backend_default_key_per_host(url, expected):
    assert token_sent("openai", url) == expected


@pytest.mark.parametrize("url, expected", [
    ("https://api.openai.com/v1", MINE),
    ("http://127.0.0.1:8000/v1", MINE),
    ("https://router.huggingface.co/v1", MINE),  # named by the user: their choice, for any host
])
def test_named_key_env_is_used(url, expected):
    assert token_sent("openai", url, api_key_env="MY_KEY") == expected


def test_hf_token_goes_to_another_host_only_when_named():
    assert token_sent("openai", "http://127.0.0.1:8000/v1", api_key_env="HF_TOKEN") == HF
    assert token_sent("tgi", "http://127.0.0.1:8080", api_key_env="HF_TOKEN") == HF


def test_openai_key_is_never_sent_to_a_hugging_face_host(monkeypatch):
    with pytest.raises(CredentialError, match="never sent to a Hugging Face host"):
        make_backend("openai", base_url="https://router.huggingface.co/v1", api_key_env="OPENAI_API_KEY")
    with pytest.raises(CredentialError):
        make_backend("tgi", base_url="https://x.endpoints.huggingface.cloud", api_key_env="OPENAI_API_KEY")
    monkeypatch.delenv("HF_TOKEN")  # no HF token at all: still not the OpenAI key
    assert token_sent("openai", "https://router.huggingface.co/v1") is None


@pytest.mark.parametrize("kind, url, expected", [
    ("tgi", "http://127.0.0.1:8080", None),               # someone else's TGI: no key unless named
    ("tgi", "https://tgi.example.org", None),
    ("hf-inference", "http://127.0.0.1:8080", None),
    ("tgi", "https://abc.eu-west-1.aws.endpoints.huggingface.cloud", HF),
    ("hf-inference", None, HF),                            # the HF router
])
def test_hf_backends_per_host(kind, url, expected):
    assert token_sent(kind, url) == expected


def test_tgi_backend_named_key():
    assert token_sent("tgi", "http://127.0.0.1:8080", api_key_env="MY_KEY") == MINE


def test_explicit_empty_env_name_is_refused():
    with pytest.raises(CredentialError, match="empty"):
        make_backend("openai", base_url="http://127.0.0.1:1/v1", api_key_env=" ")


def test_hf_host_matching():
    assert is_hf_host("huggingface.co") and is_hf_host("router.huggingface.co.") and is_hf_host("hf.co")
    assert not is_hf_host("huggingface.com") and not is_hf_host("nothuggingface.co") and not is_hf_host("co")


def test_scoped_auth_only_on_its_host():
    auth = HostScopedAuth("s3cr3t", "api.example.org")
    mine = httpx2.Request("POST", "https://api.example.org/v1/completions")
    other = httpx2.Request("POST", "https://elsewhere.example.org/", headers={"Authorization": "Bearer hf_x"})
    assert next(auth.auth_flow(mine)).headers["Authorization"] == "Bearer s3cr3t"
    assert "Authorization" not in next(auth.auth_flow(other)).headers
    assert "s3cr3t" not in repr(auth)


# ----------------------------------------------------------------------------------------- on the wire


def auth_headers(server):
    return [r.header("authorization") for r in server.requests]


@pytest.mark.parametrize("kind", ["openai", "tgi"])
@pytest.mark.parametrize("transport", ["httpx", "lean"])
def test_wire_default_keys_to_a_loopback_server(kind, transport):
    with LLMServer() as server:
        url = f"{server.url}/v1" if kind == "openai" else server.url
        backend = make_backend(kind, base_url=url, model="m", http_transport=transport)
        try:
            [result] = backend.generate_many([LLMRequest(prompt="Tags: rock\nDescription:")])
        finally:
            backend.close()
        assert isinstance(result, LLMResult)
        expected = f"Bearer {OPENAI}" if kind == "openai" else None  # never the HF token
        assert auth_headers(server) == [expected]


@pytest.mark.parametrize("kind", ["openai", "tgi"])
@pytest.mark.parametrize("transport", ["httpx", "lean"])
def test_a_redirect_to_another_host_does_not_carry_the_token(kind, transport):
    # 127.0.0.1 and localhost are two hosts (and two origins) on the loopback interface.
    with LLMServer() as first, LLMServer(host="localhost") as second:
        other = second.url.replace("127.0.0.1", "localhost")
        first.faults.push("redirect", location=other, times=None)
        url = f"{first.url}/v1" if kind == "openai" else first.url
        backend = make_backend(kind, base_url=url, model="m", http_transport=transport, api_key_env="MY_KEY")
        try:
            [result] = backend.generate_many([LLMRequest(prompt="Tags: jazz\nDescription:")])
        finally:
            backend.close()
        assert isinstance(result, LLMResult), result
        assert auth_headers(first) == [f"Bearer {MINE}"]
        assert second.count == 1 and auth_headers(second) == [None]
        assert not any(secret in r.raw.decode("latin-1") + str(r.headers) for r in second.requests
                       for secret in (OPENAI, HF, MINE))


def test_a_redirect_within_the_host_keeps_the_token():
    with LLMServer() as server:
        server.faults.push("redirect", location=server.url, times=1)
        backend = make_backend("openai", base_url=f"{server.url}/v1", model="m")
        try:
            [result] = backend.generate_many([LLMRequest(prompt="p")])
        finally:
            backend.close()
        assert isinstance(result, LLMResult) and auth_headers(server) == [f"Bearer {OPENAI}"] * 2
