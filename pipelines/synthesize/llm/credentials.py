"""Which credential may go to which host: a token is only ever sent to the host it belongs to.

The rule (README, "Credentials"):
  * Hugging Face hosts (huggingface.co, hf.co and their subdomains such as router.huggingface.co;
    Inference Endpoints under huggingface.cloud) get the HF token (`huggingface_hub.get_token()`:
    HF_TOKEN, then the saved login), or the variable the user names with `--llm-api-key-env`.
    OPENAI_API_KEY is never sent to them, not even when named.
  * Any other host gets the variable the user names (`--llm-api-key-env NAME`); unnamed, the `openai`
    backend uses OPENAI_API_KEY (as the OpenAI client does) and the `tgi` / `hf-inference` backends send
    no key. The HF token goes to such a host only when the user names HF_TOKEN.
  * The token is bound to the host of the base URL: `HostScopedAuth` puts it on requests to that host
    only, and removes any Authorization header a library added for another host. A redirect to another
    origin loses the header (httpx2 strips it), so a token never follows a redirect off its host.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

import httpx2

HF_DOMAINS = ("huggingface.co", "hf.co", "huggingface.cloud")
OPENAI_KEY_ENV = "OPENAI_API_KEY"
HF_TOKEN_ENV = "HF_TOKEN"
HF_ROUTER_HOST = "router.huggingface.co"  # where the hf-inference backend goes without a base URL


class CredentialError(ValueError):
    """A credential choice that would send a token to a host it does not belong to."""


def host_of(url: str | None) -> str:
    return (urlparse(url).hostname or "").lower().rstrip(".") if url else ""


def is_hf_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in HF_DOMAINS)


def key_env_for(host: str, backend: str, key_env: str | None = None) -> str | None:
    """The environment variable whose value may be sent to `host`, or None for the HF token (HF hosts,
    nothing named) / no key at all (see `resolve_token`)."""
    if key_env is not None and not key_env.strip():
        raise CredentialError("--llm-api-key-env: empty variable name")
    if is_hf_host(host):
        if key_env == OPENAI_KEY_ENV:
            raise CredentialError(f"{OPENAI_KEY_ENV} is never sent to a Hugging Face host ({host}); "
                                  f"use the HF token ({HF_TOKEN_ENV} or `hf auth login`) or name another variable")
        return key_env if key_env not in (None, HF_TOKEN_ENV) else None
    if key_env:
        return key_env
    return OPENAI_KEY_ENV if backend == "openai" else ""


def resolve_token(url: str | None, backend: str, key_env: str | None = None,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The token to send to the host of `url` (None: the HF router) under the rule above, or None."""
    environ = os.environ if environ is None else environ
    host = host_of(url) or HF_ROUTER_HOST
    name = key_env_for(host, backend, key_env)
    if name is None:  # a Hugging Face host and no other variable named: the HF token
        from huggingface_hub import get_token

        return environ.get(HF_TOKEN_ENV) or get_token() or None
    return (environ.get(name) or None) if name else None


class HostScopedAuth(httpx2.Auth):
    """Bearer `token` on requests to `host` only; any Authorization header on a request to another host
    (e.g. one huggingface_hub adds from HF_TOKEN for a self-hosted server) is removed."""

    def __init__(self, token: str | None, host: str):
        self._token, self.host = token, host.lower()

    def auth_flow(self, request: httpx2.Request):
        request.headers.pop("Authorization", None)
        if self._token and request.url.host.lower() == self.host:
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"HostScopedAuth(host={self.host!r}, token={'***' if self._token else None})"
