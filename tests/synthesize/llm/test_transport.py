"""The lean h11 transport: keep-alive, TLS, errors mapped to httpx2's, proxy fallback."""
import asyncio
import datetime
import ipaddress
import ssl

import httpx2
import pytest

from pipelines.synthesize.llm.transport import LeanTransport, proxied, transport_for
from pipelines.testing.llm_server import LLMServer


def fetch(url, n=1, transport=None, timeout=5):
    async def main():
        async with httpx2.AsyncClient(transport=transport or LeanTransport(), timeout=timeout) as client:
            return [await client.post(url + "/v1/completions", json={"prompt": f"p{i}"}) for i in range(n)]

    return asyncio.run(main())


def test_keep_alive_reuses_one_connection():
    with LLMServer() as srv:
        responses = fetch(srv.url, n=10)
        assert [r.status_code for r in responses] == [200] * 10 and srv.connections == 1
        assert responses[0].json()["choices"][0]["text"] and responses[0].http_version == "HTTP/1.1"


def test_a_dropped_connection_is_replaced():
    with LLMServer() as srv:
        srv.faults.push("drop")

        async def main():
            async with httpx2.AsyncClient(transport=LeanTransport()) as client:
                with pytest.raises(httpx2.RemoteProtocolError):
                    await client.post(srv.url + "/v1/completions", json={"prompt": "a"})
                return await client.post(srv.url + "/v1/completions", json={"prompt": "b"})

        assert asyncio.run(main()).status_code == 200 and srv.connections == 2


def test_errors_are_httpx2_errors():
    with LLMServer() as srv:
        srv.faults.push("hang", delay_s=5)
        with pytest.raises(httpx2.ReadTimeout):
            fetch(srv.url, timeout=0.2)
        url = srv.url
    with pytest.raises(httpx2.ConnectError):
        fetch(url)  # server gone: connection refused


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_path, key_path)
    return server_ctx, ssl.create_default_context(cadata=pem.decode())


def test_https(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    with LLMServer(ssl_context=server_ctx) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        responses = fetch(srv.url, n=3, transport=LeanTransport(verify=client_ctx))
        assert [r.status_code for r in responses] == [200] * 3 and srv.connections == 1
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(srv.url)  # the system trust store does not know this certificate


def test_httpx_by_default_lean_on_request_and_never_past_a_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert not proxied("https://api.example.com/v1")
    assert transport_for("https://api.example.com/v1") is None  # httpx2's own transport
    assert isinstance(transport_for("https://api.example.com/v1", "lean"), LeanTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    # the lean transport cannot use a proxy: httpx2's transport, which can, is used instead
    assert proxied("https://api.example.com/v1") and transport_for("https://api.example.com/v1", "lean") is None
    assert not proxied("http://127.0.0.1:8000")  # http has no proxy here, and 127.0.0.1 is excluded anyway
    assert isinstance(transport_for("http://127.0.0.1:8000", "lean"), LeanTransport)
    assert transport_for("http://127.0.0.1:8000", "httpx") is None
    with pytest.raises(ValueError):
        transport_for("http://127.0.0.1:8000", "urllib")
    with pytest.raises(ValueError):
        transport_for("http://127.0.0.1:8000", "auto")  # gone: httpx is the default, lean an explicit choice
