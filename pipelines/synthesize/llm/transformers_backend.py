"""A local causal LM (path or hub id) through transformers: batched `generate` with left padding.

Requests are grouped by sampling parameters and run `max_concurrency` at a time (the batch size).
Sampling is seeded per batch (from the first request's seed), so a rerun with the same requests, batch
size and seed gives the same text; like any batched sampler, a different batch composition gives
different samples. Only the completion is returned (prompt tokens are cut off), stop sequences are
applied after decoding, and chat requests use the tokenizer's chat template when it has one.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Sequence

from pipelines.synthesize.llm.base import (GenerationParams, LLMBackend, LLMError, LLMRequest, LLMResult, OnResult, cut_at_stop,
                                           request_seed)


class TransformersBackend(LLMBackend):
    name = "transformers"

    def __init__(self, *, model: str, device: str | None = None, api: str = "completions", **kwargs):
        if not model:
            raise ValueError("the transformers backend needs model (a local path or a hub id)")
        super().__init__(model=model, **kwargs)
        self.device, self.api = device, api
        self._state: dict | None = None
        self._lock = threading.Lock()

    def __getstate__(self):
        return {**self.__dict__, "_state": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def describe(self) -> dict:
        return {**super().describe(), "device": self.device, "api": self.api}

    def load(self) -> dict:
        if self._state is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.model)
            tokenizer.padding_side = "left"  # decoder-only: generated tokens must follow the prompt directly
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            net = AutoModelForCausalLM.from_pretrained(self.model).to(device).eval()
            self._state = {"tokenizer": tokenizer, "model": net, "device": device}
        return self._state

    def close(self) -> None:
        self._state = None

    def render(self, request: LLMRequest) -> str:
        """The text the model continues: the prompt, or the chat rendered by the tokenizer's template."""
        if request.prompt is not None and self.api != "chat":
            return request.prompt
        messages = list(request.messages or ({"role": "user", "content": request.prompt},))
        tokenizer = self.load()["tokenizer"]
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        lines = [f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages]
        return "\n".join(lines + ["assistant:"])

    def generate_many(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None
                      ) -> list[LLMResult | LLMError]:
        requests = list(requests)
        results: list[Any] = [None] * len(requests)
        seeds = {i: request_seed(r, self.seed) for i, r in enumerate(requests)}
        pending = list(range(len(requests)))
        with self._lock:
            self.load()
            for attempt in range(1, self.policy.max_attempts + 1):
                retry = []
                for batch in self._batches(requests, pending):
                    started = time.monotonic()
                    outputs = self._run_batch([requests[i] for i in batch], seeds[batch[0]])
                    elapsed = time.monotonic() - started
                    for i, out in zip(batch, outputs):
                        if isinstance(out, LLMError):
                            out.attempts, out.key = attempt, requests[i].key
                            results[i] = out
                        elif not out[0].strip():
                            retry.append(i)  # a resample (new seed) may give text
                            continue
                        else:
                            results[i] = LLMResult(out[0], attempt, elapsed, self.model, out[1], key=requests[i].key)
                        if on_result is not None:
                            on_result(i, results[i])
                pending = retry
                for i in pending:
                    seeds[i] = None if seeds[i] is None else seeds[i] + 1
                if not pending:
                    break
        for i in pending:
            results[i] = LLMError("empty_text", "the model returned no text", attempts=self.policy.max_attempts,
                                  retryable=True, key=requests[i].key)
            if on_result is not None:
                on_result(i, results[i])
        return results

    def _batches(self, requests: list[LLMRequest], indices: list[int]) -> list[list[int]]:
        groups: dict[GenerationParams, list[int]] = {}
        for i in indices:
            groups.setdefault(requests[i].params, []).append(i)
        size = self.max_concurrency
        return [group[k:k + size] for group in groups.values() for k in range(0, len(group), size)]

    def _run_batch(self, batch: list[LLMRequest], seed: int | None) -> list[tuple[str, str] | LLMError]:
        try:
            return self._generate(batch, seed)
        except Exception as exc:  # noqa: BLE001 - one bad prompt must not fail its neighbours
            if len(batch) > 1:
                return [self._run_batch([r], seed)[0] for r in batch]
            return [LLMError("generation_error", f"{type(exc).__name__}: {exc}"[:500])]

    def _generate(self, batch: list[LLMRequest], seed: int | None) -> list[tuple[str, str]]:
        import torch

        state = self.load()
        tokenizer, net = state["tokenizer"], state["model"]
        params = batch[0].params
        encoded = tokenizer([self.render(r) for r in batch], return_tensors="pt", padding=True).to(state["device"])
        sampled = params.temperature > 0
        kwargs: dict = {"max_new_tokens": params.max_new_tokens, "do_sample": sampled,
                        "pad_token_id": tokenizer.pad_token_id}
        if sampled:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):  # seed without touching global RNG
            if seed is not None:
                torch.manual_seed(seed)
            output = net.generate(**encoded, **kwargs)
        new_tokens = output[:, encoded["input_ids"].shape[1]:]  # left padding: the prompt is the same width
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        eos = tokenizer.eos_token_id
        results = []
        for text, ids in zip(texts, new_tokens.tolist()):
            text, was_cut = cut_at_stop(text, params.stop)
            finish = "stop" if was_cut or (eos is not None and eos in ids) else "length"
            results.append((text, finish))
        return results
