"""A local causal LM (path or hub id) through transformers: batched `generate` with left padding.

Requests are grouped by sampling parameters and run `max_concurrency` at a time (the batch size).
Each request samples from its own seed (row_sampling.py), so its text does not depend on which requests
share its batch: a resumed run or another batch size writes the same texts. Only the completion is
returned (prompt tokens are cut off), stop sequences are applied after decoding, and chat requests use
the tokenizer's chat template when it has one.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from pipelines.synthesize.llm.base import (
    GenerationParams,
    LLMBackend,
    LLMError,
    LLMRequest,
    LLMResult,
    OnResult,
    cut_at_stop,
    request_seed,
)


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
        # unseeded requests still get a seed of their own (a fresh random one): rows sample independently
        seeds = {i: _seed_or_random(request_seed(r, self.seed)) for i, r in enumerate(requests)}
        pending = list(range(len(requests)))
        with self._lock:
            self.load()
            for attempt in range(1, self.policy.max_attempts + 1):
                retry = []
                for batch in self._batches(requests, pending):
                    started = time.monotonic()
                    outputs = self._run_batch([requests[i] for i in batch], [seeds[i] for i in batch])
                    elapsed = time.monotonic() - started
                    for i, out in zip(batch, outputs, strict=True):
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
                    seeds[i] += 1
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

    def _run_batch(self, batch: list[LLMRequest], seeds: list[int]) -> list[tuple[str, str] | LLMError]:
        try:
            return self._generate(batch, seeds)
        except Exception as exc:  # noqa: BLE001 - one bad prompt must not fail its neighbours
            if len(batch) > 1:
                return [self._run_batch([r], [s])[0] for r, s in zip(batch, seeds, strict=True)]
            return [LLMError("generation_error", f"{type(exc).__name__}: {exc}"[:500])]

    def _generate(self, batch: list[LLMRequest], seeds: list[int]) -> list[tuple[str, str]]:
        import torch
        from transformers import LogitsProcessorList

        from pipelines.synthesize.llm.row_sampling import RowSeededSampler

        state = self.load()
        tokenizer, net = state["tokenizer"], state["model"]
        params = batch[0].params
        encoded = tokenizer([self.render(r) for r in batch], return_tensors="pt", padding=True).to(state["device"])
        # greedy decoding; with a temperature, on logits noised per row so that the argmax is a sample
        kwargs: dict = {"max_new_tokens": params.max_new_tokens, "do_sample": False,
                        "pad_token_id": tokenizer.pad_token_id}
        if params.temperature > 0:
            kwargs["logits_processor"] = LogitsProcessorList([RowSeededSampler(seeds, params.temperature,
                                                                               params.top_p)])
        with torch.inference_mode():
            output = net.generate(**encoded, **kwargs)
        new_tokens = output[:, encoded["input_ids"].shape[1]:]  # left padding: the prompt is the same width
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        eos = tokenizer.eos_token_id
        results = []
        for text, ids in zip(texts, new_tokens.tolist(), strict=True):
            text, was_cut = cut_at_stop(text, params.stop)
            finish = "stop" if was_cut or (eos is not None and eos in ids) else "length"
            results.append((text, finish))
        return results


def _seed_or_random(seed: int | None) -> int:
    return random.SystemRandom().getrandbits(62) if seed is None else seed
