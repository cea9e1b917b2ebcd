"""`tgi` and `hf-inference` backends through huggingface_hub's AsyncInferenceClient.

- tgi: a text-generation-inference server (or an Inference Endpoint) at `base_url`. Prompts go to
  `text_generation` (InferenceClient POSTs `{"inputs", "parameters"}` to the URL itself, i.e. TGI's `/`),
  messages to `chat_completion` (`<base_url>/v1/chat/completions`).
- hf-inference: the HF Inference Providers router, provider "hf-inference", for hub model `model`
  (or `base_url` when given, which then behaves like tgi).

The token comes from `token=` or the usual HF sources (`huggingface_hub.get_token()`: HF_TOKEN, then
the saved login). InferenceClient does not retry or rate limit; AsyncHTTPBackend does both.

For an explicit `base_url` the client gets its own httpx2.AsyncClient (with the transport chosen by
`http_transport`, see transport.py): huggingface_hub's default one caps connections at 100 and
refuses every request, even to your own server, when HF_HUB_OFFLINE=1 (which this project sets).
Requests to the HF router keep the library's client and its offline guard.
"""
from __future__ import annotations

import json

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
from pipelines.synthesize.llm.credentials import HF_ROUTER_HOST, HostScopedAuth, host_of, key_env_for
from pipelines.synthesize.llm.transport import transport_for

KINDS = ("tgi", "hf-inference")
TGI_REASONS = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}  # OpenAI's vocabulary


class HFInferenceBackend(AsyncHTTPBackend):
    def __init__(self, *, kind: str = "tgi", api: str = "completions", http_transport: str = "httpx", **kwargs):
        if api not in ("completions", "chat"):
            raise ValueError(f"api must be 'completions' or 'chat', not {api!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if kind == "tgi" and not kwargs.get("base_url"):
            raise ValueError("the tgi backend needs base_url (the TGI server, e.g. http://localhost:8080)")
        if kind == "hf-inference" and not (kwargs.get("model") or kwargs.get("base_url")):
            raise ValueError("the hf-inference backend needs model (a hub model id) or base_url")
        if kwargs.get("base_url"):
            kwargs["base_url"] = kwargs["base_url"].rstrip("/")
        super().__init__(**kwargs)
        self.name, self.api, self.http_transport = kind, api, http_transport
        if self.base_url:
            transport_for(self.base_url, http_transport)  # validates the choice now, not on a worker
        key_env_for(host_of(self.base_url) or HF_ROUTER_HOST, kind, self.api_key_env)  # wrong host: fails now
        self._clients: list = []
        self._https: list = []

    def describe(self) -> dict:
        return {**super().describe(), "api": self.api, "http_transport": self.http_transport}

    def _runtime_fields(self) -> tuple[str, ...]:
        return ("_clients", "_https")

    async def _open(self) -> None:
        self._https = []
        self._clients = [await self._new_client() for _ in range(self.n_shards)]

    async def _new_client(self):
        from huggingface_hub import AsyncInferenceClient

        if not self.base_url:
            return AsyncInferenceClient(model=self.model, provider="hf-inference", token=self._live_token,
                                        timeout=self.timeout_s)
        # No token for the library: it would fall back to HF_TOKEN for any host. Our own client's
        # HostScopedAuth sends the token the credential rule allows, to the base URL's host only, and
        # removes whatever Authorization header the library still adds.
        client = AsyncInferenceClient(base_url=self.base_url, timeout=self.timeout_s)
        if not hasattr(client, "_async_client"):  # huggingface_hub 2.x keeps its client there
            raise RuntimeError("this huggingface_hub has no AsyncInferenceClient._async_client: the token "
                               "could not be scoped to its host, so no request is sent")
        http = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=SHARD_SIZE,
                                                       max_keepalive_connections=SHARD_SIZE),
                                  transport=transport_for(self.base_url, self.http_transport),
                                  auth=HostScopedAuth(self._live_token, host_of(self.base_url)),
                                  follow_redirects=True, timeout=None)
        self._https.append(http)
        client._async_client = http
        return client

    async def _aclose(self) -> None:
        clients, https, self._clients, self._https = self._clients or [], self._https or [], [], []
        for client in clients:
            await client.close()
        for http in https:
            await http.aclose()

    def messages(self, request: LLMRequest) -> list[dict] | None:
        """Chat messages to send, or None for a raw text_generation (api="chat" wraps a prompt)."""
        if request.messages is not None:
            return list(request.messages)
        return [{"role": "user", "content": request.prompt}] if self.api == "chat" else None

    def call_arguments(self, request: LLMRequest, seed: int | None) -> dict:
        """Keyword arguments for text_generation / chat_completion (None values are not sent)."""
        p = request.params
        sampled = p.temperature > 0
        args: dict = {"seed": seed, "stop": list(p.stop) or None,
                      # TGI rejects temperature 0 and top_p 1.0: greedy decoding is do_sample=False instead
                      "temperature": p.temperature if sampled else None,
                      "top_p": p.top_p if sampled and p.top_p < 1.0 else None}
        if self.messages(request) is not None:
            args.update(max_tokens=p.max_new_tokens, model=self.model)
        else:
            args.update(max_new_tokens=p.max_new_tokens, do_sample=sampled, return_full_text=False, details=True)
        return {k: v for k, v in args.items() if v is not None}

    async def _attempt(self, request: LLMRequest, seed: int | None, shard: int) -> Completion:
        if not self.base_url:
            from huggingface_hub.constants import is_offline_mode

            if is_offline_mode():  # fail fast and clearly instead of inside the library
                raise LLMError("offline", "HF_HUB_OFFLINE is set: the HF router cannot be reached (give base_url "
                               "for a self-hosted server)")
        args, messages = self.call_arguments(request, seed), self.messages(request)
        client = self._clients[shard]
        if messages is not None:
            out = await client.chat_completion(messages, **args)
            choice = out.choices[0]
            return Completion(choice.message.content or "", choice.finish_reason, getattr(out, "model", None))
        out = await client.text_generation(request.prompt, **args)
        if isinstance(out, str):  # a non-TGI server: the library drops `details`
            return Completion(out)
        reason = out.details.finish_reason if out.details else None
        return Completion(out.generated_text or "", TGI_REASONS.get(reason, reason))

    def _classify(self, exc: Exception) -> LLMError:
        from huggingface_hub.errors import (
            HfHubHTTPError,
            InferenceTimeoutError,
            OfflineModeIsEnabled,
            OverloadedError,
            TextGenerationError,
            ValidationError,
        )

        if isinstance(exc, (InferenceTimeoutError, httpx2.TimeoutException)):
            return LLMError("timeout", f"no answer within {self.timeout_s:g} s", retryable=True)
        # TGI-style errors (OverloadedError, ...) are not HfHubHTTPError: the response is on __cause__
        response = exc.response if isinstance(exc, HfHubHTTPError) else getattr(exc.__cause__, "response", None)
        if isinstance(response, httpx2.Response):
            detail = f"HTTP {response.status_code} from {response.request.url}: {str(exc).splitlines()[0][:300]}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return error_for_status(response.status_code, detail, retry_after)
        if isinstance(exc, TextGenerationError):
            if isinstance(exc, ValidationError):
                return LLMError("bad_request", f"{type(exc).__name__}: {exc}")
            reason = "rate_limited" if isinstance(exc, OverloadedError) else "server_error"
            return LLMError(reason, f"{type(exc).__name__}: {exc}", retryable=True)
        if isinstance(exc, OfflineModeIsEnabled):
            return LLMError("offline", str(exc))
        if isinstance(exc, httpx2.TransportError):
            return LLMError("connection", f"{type(exc).__name__}: {exc}", retryable=True)
        if isinstance(exc, (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError)):
            return LLMError("malformed_response", f"unreadable answer ({type(exc).__name__}: {exc})"[:300],
                            retryable=True)
        return LLMError("internal", f"{type(exc).__name__}: {exc}")
