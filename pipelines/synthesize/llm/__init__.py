"""LLM backends for prompt2text: one interface over OpenAI-compatible servers, TGI / HF Inference
(huggingface_hub InferenceClient) and local transformers models.

    backend = make_backend("openai", base_url="http://localhost:8000/v1", model="bigscience/bloom",
                           max_concurrency=32, requests_per_minute=600)
    results = backend.generate_many([LLMRequest(prompt=p, params=GenerationParams(stop=("\\n\\n",)))
                                     for p in prompts])   # LLMResult or LLMError per request, same order
    backend.close()
"""
from __future__ import annotations

from pipelines.synthesize.llm.base import (
    GenerationParams,
    LLMBackend,
    LLMError,
    LLMRequest,
    LLMResult,
    cut_at_stop,
    request_seed,
)
from pipelines.synthesize.llm.retry import RateLimiter, RetryPolicy

BACKENDS = ("openai", "tgi", "hf-inference", "transformers")

__all__ = ["BACKENDS", "GenerationParams", "LLMBackend", "LLMError", "LLMRequest", "LLMResult", "RateLimiter",
           "RetryPolicy", "cut_at_stop", "make_backend", "request_seed"]


def make_backend(kind: str, *, base_url: str | None = None, model: str | None = None, api: str = "completions",
                 max_concurrency: int = 8, requests_per_minute: float | None = None, max_attempts: int = 5,
                 timeout_s: float = 60, backoff_base_s: float = 0.5, backoff_max_s: float = 30,
                 token: str | None = None, api_key_env: str | None = None, seed: int | None = None,
                 **options) -> LLMBackend:
    """Build a backend; nothing connects or loads until the first `generate_many`.

    kind: openai | tgi | hf-inference | transformers. `max_concurrency` is the number of requests in
    flight (the batch size for transformers). Without `token`, the key comes from the environment as
    credentials.py rules for the base URL's host: the HF token for Hugging Face hosts; else the variable
    named by `api_key_env` (for openai, OPENAI_API_KEY by default). `options` may include
    `http_transport` ("httpx", the default, or "lean") for the HTTP backends. `seed` makes sampling reproducible:
    each request gets a seed derived from it and the request key. `options` go to the backend class
    (e.g. `device` for transformers).
    """
    policy = RetryPolicy(max_attempts=max_attempts, base_s=backoff_base_s, max_s=backoff_max_s)
    common = dict(model=model, max_concurrency=max_concurrency, requests_per_minute=requests_per_minute,
                  policy=policy, timeout_s=timeout_s, seed=seed)
    if kind == "openai":
        from pipelines.synthesize.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(api=api, base_url=base_url, token=token, api_key_env=api_key_env, **common, **options)
    if kind in ("tgi", "hf-inference"):
        from pipelines.synthesize.llm.hf_backend import HFInferenceBackend

        return HFInferenceBackend(kind=kind, api=api, base_url=base_url, token=token, api_key_env=api_key_env,
                                  **common, **options)
    if kind == "transformers":
        from pipelines.synthesize.llm.transformers_backend import TransformersBackend

        return TransformersBackend(api=api, **common, **options)
    raise ValueError(f"unknown LLM backend {kind!r}; expected one of {BACKENDS}")
