"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, TGI's /v1, the HF Inference Providers router).

Raw prompts go to `/v1/completions` (api="completions", the default: prompt2text completes few-shot
prompts); with api="chat" a prompt is sent to `/v1/chat/completions` as one user message. Requests
with `messages` always use chat. Calls go through httpx2.AsyncClient pools sized to the concurrency
(in shards of SHARD_SIZE, see base.py): connections are reused and requests never queue in a pool.
`http_transport`: "httpx" (httpx2's own transport, the default) or "lean" (the h11 transport of
transport.py, for very high request rates to a fast local server). The key follows credentials.py.
"""
from __future__ import annotations

import json
import logging
import os

import httpx2

from pipelines.synthesize.llm.base import (
    SHARD_SIZE,
    AsyncHTTPBackend,
    Completion,
    LLMError,
    LLMRequest,
    error_for_status,
    parse_retry_after,
)
from pipelines.synthesize.llm.credentials import HostScopedAuth, host_of, key_env_for
from pipelines.synthesize.llm.transport import transport_for

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The token limit's name in chat requests: servers such as vLLM take both; OpenAI's own reasoning models
# take only max_completion_tokens. /v1/completions always takes max_tokens.
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
# `transformers serve` samples only when the request's own generation_config says do_sample: temperature
# alone leaves it greedy, and greedy decoding of a small model loops. The field is sent with every sampled
# request; a strict OpenAI server rejects unknown fields, and the first 400/422 that names it turns it off
# for this backend (that request is sent again at once without it). vLLM and llama.cpp ignore it.
SAMPLING_FIELD = "generation_config"
SAMPLING_VALUE = json.dumps({"do_sample": True})


class OpenAIBackend(AsyncHTTPBackend):
    name = "openai"

    def __init__(self, *, api: str = "completions", http_transport: str = "httpx", max_tokens_field: str = "max_tokens",
                 sampling_hint: bool = True, **kwargs):
        if api not in ("completions", "chat"):
            raise ValueError(f"api must be 'completions' or 'chat', not {api!r}")
        if max_tokens_field not in MAX_TOKENS_FIELDS:
            raise ValueError(f"max_tokens_field must be one of {MAX_TOKENS_FIELDS}, not {max_tokens_field!r}")
        self.max_tokens_field = max_tokens_field
        base_url = kwargs.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        kwargs["base_url"] = base_url.rstrip("/")
        super().__init__(**kwargs)
        self.api, self.http_transport = api, http_transport
        self.sampling_hint = sampling_hint  # send SAMPLING_FIELD until the server says it does not take it
        transport_for(self.base_url, http_transport)  # validates the choice now, not on a worker
        key_env_for(host_of(self.base_url), self.name, self.api_key_env)  # a token for the wrong host fails now
        self._clients: list[httpx2.AsyncClient] = []
        self._urls: dict[str, httpx2.URL] = {}

    def describe(self) -> dict:
        return {**super().describe(), "api": self.api, "http_transport": self.http_transport,
                "max_tokens_field": self.max_tokens_field, "sampling_hint": self.sampling_hint}

    def _runtime_fields(self) -> tuple[str, ...]:
        return ("_clients", "_urls")

    def endpoint(self, chat: bool) -> str:
        """`base_url` may or may not end in /v1 (OpenAI SDK style vs server root)."""
        root = self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"
        return f"{root}/chat/completions" if chat else f"{root}/completions"

    def payload(self, request: LLMRequest, seed: int | None) -> tuple[str, dict]:
        """(url, JSON body) for one request; parameters left at None are not sent."""
        p = request.params
        chat = request.messages is not None or self.api == "chat"
        body: dict = {"model": self.model} if self.model else {}
        if chat:
            body["messages"] = list(request.messages or ({"role": "user", "content": request.prompt},))
        else:
            body["prompt"] = request.prompt
        body[self.max_tokens_field if chat else "max_tokens"] = p.max_new_tokens
        body.update(temperature=p.temperature, top_p=p.top_p)
        if p.stop:
            body["stop"] = list(p.stop)
        if seed is not None:
            body["seed"] = seed
        if self.sampling_hint and p.temperature > 0:
            body[SAMPLING_FIELD] = SAMPLING_VALUE
        return self.endpoint(chat), body

    async def _open(self) -> None:
        headers = {"User-Agent": "viml-synth"}
        auth = HostScopedAuth(self._live_token, host_of(self.base_url))  # the key goes to its own host only
        # Parsed once: httpx2 would parse a string URL again on every request.
        self._urls = {url: httpx2.URL(url) for url in (self.endpoint(False), self.endpoint(True))}
        limits = httpx2.Limits(max_connections=SHARD_SIZE, max_keepalive_connections=SHARD_SIZE)
        self._clients = [httpx2.AsyncClient(headers=headers, auth=auth, timeout=httpx2.Timeout(self.timeout_s),
                                            limits=limits, transport=transport_for(self.base_url, self.http_transport),
                                            follow_redirects=True) for _ in range(self.n_shards)]

    async def _aclose(self) -> None:
        clients, self._clients = self._clients or [], []
        for client in clients:
            await client.aclose()

    async def _attempt(self, request: LLMRequest, seed: int | None, shard: int) -> Completion:
        url, body = self.payload(request, seed)
        response = await self._clients[shard].post(self._urls[url], json=body)
        if response.status_code in (400, 422) and SAMPLING_FIELD in body and SAMPLING_FIELD in response.text:
            if self.sampling_hint:
                log.info("%s does not take %r: sending OpenAI's sampling fields only", url, SAMPLING_FIELD)
            self.sampling_hint = False
            del body[SAMPLING_FIELD]
            response = await self._clients[shard].post(self._urls[url], json=body)
        if response.status_code >= 400:
            detail = f"HTTP {response.status_code} from {url}: {response.text[:300]}"
            raise error_for_status(response.status_code, detail, parse_retry_after(response.headers.get("Retry-After")))
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError("malformed_response", f"unreadable answer from {url} ({type(exc).__name__}): "
                           f"{response.text[:200]!r}", status=response.status_code, retryable=True) from None
        if text is not None and not isinstance(text, str):
            raise LLMError("malformed_response", f"non-text completion from {url}", retryable=True)
        return Completion(text or "", choice.get("finish_reason"), data.get("model"))

    def _classify(self, exc: Exception) -> LLMError:
        if isinstance(exc, httpx2.TimeoutException):
            return LLMError("timeout", f"no answer within {self.timeout_s:g} s ({type(exc).__name__})", retryable=True)
        if isinstance(exc, httpx2.TransportError):  # refused, reset, closed without a response
            return LLMError("connection", f"{type(exc).__name__}: {exc}", retryable=True)
        return LLMError("internal", f"{type(exc).__name__}: {exc}")
