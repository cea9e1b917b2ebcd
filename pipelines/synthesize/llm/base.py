"""The LLM backend interface: requests, results, errors, and the shared async request runner.

A backend is a small picklable description (Beam ships it to workers); clients, event loops and models
are created on first use and dropped when pickled. Secrets (API tokens) never appear in `describe()`,
`repr()` or error messages.
"""
from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from pipelines.io.redact import redact_url
from pipelines.synthesize.llm.retry import FairSlots, RateLimiter, RetryPolicy

log = logging.getLogger(__name__)


OnResult = Callable[[int, "LLMResult | LLMError"], None]


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self):
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        object.__setattr__(self, "stop", tuple(s for s in stop if s))  # "" would match everywhere
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass(frozen=True)
class LLMRequest:
    """One generation: a raw `prompt` to complete, or chat `messages` ({"role", "content"} dicts)."""

    prompt: str | None = None
    messages: tuple[dict, ...] | None = None
    params: GenerationParams = GenerationParams()
    key: str = ""  # caller's id (e.g. a music_id); also seeds per-request sampling, see `request_seed`
    # Called on each completion (after the stop cut); a ValueError rejects it (its `reason` attribute, if
    # any, names why) and the HTTP backends draw it again with the next seed, within the retry budget.
    check: Callable[[str], object] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("an LLMRequest needs exactly one of prompt or messages")
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))


@dataclass
class LLMResult:
    text: str
    attempts: int
    latency_s: float  # wall time from the first attempt to the answer, backoff included
    model: str
    finish_reason: str | None = None
    key: str = field(default="", compare=False)


class LLMError(Exception):
    """A request that failed for good (or one failed attempt, inside the retry loop).

    `reason`: rate_limited, server_error, bad_request, auth, not_found, timeout, connection,
    malformed_response, empty_text, offline, generation_error, internal, or the reason a request's `check`
    gave for rejecting every completion drawn (e.g. degenerate_completion). The message is meant for people
    and is scrubbed of the backend's token.
    """

    def __init__(self, reason: str, message: str, *, attempts: int = 1, status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None, key: str = "", resample: bool = False):
        super().__init__(reason, message)
        self.reason, self.message, self.attempts = reason, message, attempts
        self.status, self.retryable, self.retry_after, self.key = status, retryable, retry_after, key
        self.resample = resample  # the answer was rejected: the next attempt draws with another seed

    def __str__(self) -> str:
        status = f", HTTP {self.status}" if self.status else ""
        return f"{self.reason}: {self.message} (attempts={self.attempts}{status})"

    def __repr__(self) -> str:
        return f"LLMError({self!s})"

    def __reduce__(self):  # keyword-only fields must survive pickling (Beam moves errors between workers)
        return (_rebuild_error, (self.reason, self.message, dict(
            attempts=self.attempts, status=self.status, retryable=self.retryable,
            retry_after=self.retry_after, key=self.key, resample=self.resample)))


def _rebuild_error(reason: str, message: str, kwargs: dict) -> LLMError:
    return LLMError(reason, message, **kwargs)


def error_for_status(status: int, detail: str, retry_after: float | None = None) -> LLMError:
    """Map an HTTP error status: 429, 408 and 5xx are worth retrying, other 4xx are not."""
    if status == 429:
        reason, retryable = "rate_limited", True
    elif status == 408:
        reason, retryable = "timeout", True
    elif status >= 500:
        reason, retryable = "server_error", True
    else:
        reason = {401: "auth", 403: "auth", 404: "not_found"}.get(status, "bad_request")
        retryable = False
    return LLMError(reason, detail, status=status, retryable=retryable, retry_after=retry_after)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut before the earliest stop sequence. Servers usually do this already; not all do (or they
    ignore `stop`), so every backend applies it to be sure."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


def request_seed(request: LLMRequest, base_seed: int | None) -> int | None:
    """The request's own seed, else one derived from the backend seed and the request's key (or text),
    so that a dataset is reproducible without every prompt sampling with the same seed."""
    if request.params.seed is not None:
        return request.params.seed
    if base_seed is None:
        return None
    ident = request.key or request.prompt or json.dumps(request.messages, sort_keys=True)
    return int.from_bytes(hashlib.sha256(f"{base_seed}:{ident}".encode()).digest()[:4], "big") & 0x7FFFFFFF


class Secret:
    """A token that does not print itself."""

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


class LLMBackend(abc.ABC):
    name: str = "base"

    def __init__(self, *, model: str | None = None, base_url: str | None = None, max_concurrency: int = 8,
                 requests_per_minute: float | None = None, policy: RetryPolicy | None = None,
                 timeout_s: float = 60.0, seed: int | None = None):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.model, self.base_url = model, base_url
        self.max_concurrency, self.requests_per_minute = int(max_concurrency), requests_per_minute
        self.policy = policy or RetryPolicy()
        self.timeout_s, self.seed = float(timeout_s), seed

    @abc.abstractmethod
    def generate_many(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None
                      ) -> list[LLMResult | LLMError]:
        """Results in request order; a failed request gives an LLMError in its place (never raises for it).
        `on_result(index, result)` is called as each request finishes (e.g. to cache it at once, so a
        killed run loses no finished request); it runs on the backend's own thread and must be quick."""

    def submit_many(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None
                    ) -> concurrent.futures.Future[list[LLMResult | LLMError]]:
        """generate_many without waiting for it: the caller can prepare its next requests meanwhile.
        This default runs them at once (a local model keeps the caller's thread busy anyway)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(self.generate_many(requests, on_result))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)
        return future

    def generate(self, request: LLMRequest) -> LLMResult:
        [out] = self.generate_many([request])
        if isinstance(out, LLMError):
            raise out
        return out

    def describe(self) -> dict:
        return {"backend": self.name, "base_url": redact_url(self.base_url), "model": self.model,
                "max_concurrency": self.max_concurrency, "requests_per_minute": self.requests_per_minute,
                "timeout_s": self.timeout_s, "seed": self.seed, "retry": self.policy.describe()}

    def close(self) -> None:
        """Releases what the backend holds open (connections); a hook, not abstract: the default
        holds nothing."""
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


@dataclass
class Completion:
    """What one successful HTTP attempt returned, before stop handling."""

    text: str
    finish_reason: str | None = None
    model: str | None = None


class _LoopThread:
    """A persistent event loop in a daemon thread: clients keep their connections across calls, and
    generate_many works even when the caller already runs an event loop (e.g. a notebook)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="llm-backend-loop", daemon=True)
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro):
        return self.submit(coro).result()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# httpx2's own transport (the default, see transport.py) scans every pooled connection when a
# request starts and when it ends: one pool of 128 connections costs O(128) per request. Backends
# therefore keep one client per SHARD_SIZE slots (harmless with the lean transport).
SHARD_SIZE = 8


class AsyncHTTPBackend(LLMBackend):
    """Shared machinery for HTTP backends: bounded concurrency, rate limiting, retries, stop handling.

    Subclasses implement `_open()` (create `n_shards` clients, on the loop), `_attempt()` (one HTTP call
    that returns a Completion or raises), `_classify()` (exception -> LLMError) and `_aclose()`.
    """

    def __init__(self, *, token: str | None = None, api_key_env: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._token = Secret(token) if token else None  # an explicit token; else resolved on the worker
        # The variable to read the key from (see credentials.py: which key may go to which host).
        self.api_key_env = api_key_env
        self._runtime: _LoopThread | None = None
        self._runtime_lock = threading.Lock()
        self._limiter = RateLimiter(self.requests_per_minute)

    # -- pickling: only the description travels ---------------------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_runtime=None, _runtime_lock=None, _limiter=RateLimiter(self.requests_per_minute))
        for key in ("_slots", "_live_token", "_queue", "_workers"):
            state.pop(key, None)
        state.update(dict.fromkeys(self._runtime_fields()))
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._runtime_lock = threading.Lock()

    def _runtime_fields(self) -> tuple[str, ...]:
        return ()

    # -- hooks ------------------------------------------------------------------------------------
    def _resolve_token(self) -> str | None:
        """An explicit token, else the one the credential rule allows for the base URL's host."""
        if self._token:
            return self._token.get()
        from pipelines.synthesize.llm.credentials import resolve_token

        return resolve_token(self.base_url, self.name, self.api_key_env)

    def describe(self) -> dict:
        return {**super().describe(), "api_key_env": self.api_key_env}

    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _attempt(self, request: LLMRequest, seed: int | None, shard: int) -> Completion:
        """One HTTP call through client shard `shard` (0 <= shard < n_shards)."""

    @abc.abstractmethod
    def _classify(self, exc: Exception) -> LLMError: ...

    async def _aclose(self) -> None:
        pass

    # -- running ----------------------------------------------------------------------------------
    def _start(self) -> _LoopThread:
        with self._runtime_lock:
            if self._runtime is None:
                runtime = _LoopThread()
                try:
                    runtime.run(self._open_all())
                except BaseException:
                    runtime.stop()
                    raise
                self._runtime = runtime
            return self._runtime

    async def _open_all(self) -> None:
        # Slot ids double as the concurrency bound and as the shard a request uses (see SHARD_SIZE).
        self._slots = FairSlots(self.max_concurrency)
        self._live_token = self._resolve_token()
        await self._open()
        # One FIFO of requests for every batch submitted, served by a fixed pool of workers: a batch
        # submitted while another is in flight queues behind it instead of interleaving with it, so the
        # earlier batch finishes first (its caller can post-process it while the next one runs). Twice
        # the concurrency, so that requests sleeping in backoff do not leave HTTP slots idle.
        self._queue: asyncio.Queue = asyncio.Queue()
        self._workers = [asyncio.create_task(self._serve()) for _ in range(2 * self.max_concurrency)]

    async def _serve(self) -> None:
        while True:
            request, deliver = await self._queue.get()
            try:
                result = await self._one(request)
            except Exception as exc:  # noqa: BLE001 - a bug must fail its request, not stall the batch
                log.exception("unexpected error in an LLM request")
                result = LLMError("internal", f"{type(exc).__name__}: {exc}", key=request.key)
            deliver(result)

    @property
    def n_shards(self) -> int:
        return -(-self.max_concurrency // SHARD_SIZE)

    def generate_many(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None
                      ) -> list[LLMResult | LLMError]:
        return self.submit_many(requests, on_result).result()

    def submit_many(self, requests: Sequence[LLMRequest], on_result: OnResult | None = None
                    ) -> concurrent.futures.Future:
        # Batches submitted while others are in flight share the same concurrency slots (first come,
        # first served), so the next batch fills the slots the previous one frees as it winds down.
        requests = list(requests)
        if not requests:
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result([])
            return future
        return self._start().submit(self._run_all(requests, on_result))

    async def _run_all(self, requests: list[LLMRequest], on_result: OnResult | None = None
                       ) -> list[LLMResult | LLMError]:
        results: list[Any] = [None] * len(requests)
        done = asyncio.get_running_loop().create_future()
        remaining = len(requests)

        def deliver_to(i: int):
            def deliver(result) -> None:
                nonlocal remaining
                results[i] = result
                remaining -= 1
                try:
                    if on_result is not None:
                        on_result(i, result)
                except Exception as exc:  # noqa: BLE001 - the caller's callback failed: its call fails
                    if not done.done():
                        done.set_exception(exc)
                if remaining == 0 and not done.done():
                    done.set_result(results)
            return deliver

        for i, request in enumerate(requests):
            self._queue.put_nowait((request, deliver_to(i)))
        return await done

    async def _one(self, request: LLMRequest) -> LLMResult | LLMError:
        started: float | None = None
        seed = request_seed(request, self.seed)

        async def attempt(number: int, last_error: LLMError | None) -> LLMResult:
            nonlocal seed, started
            if last_error is not None:
                log.debug("retrying %r (attempt %d) after %s", request.key, number,
                          scrub(str(last_error), self._live_token))
                if seed is not None and (last_error.reason in ("empty_text", "malformed_response") or
                                         last_error.resample):
                    seed += 1  # resampling with the same seed would give the same bad answer
            slot = await self._slots.acquire()  # held only while a request is on the wire, not during backoff
            try:
                await self._limiter.acquire()
                started = time.monotonic() if started is None else started
                out = await self._attempt(request, seed, slot // SHARD_SIZE)
            except LLMError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a classified LLMError
                raise self._classify(exc) from None
            finally:
                self._slots.release(slot)
            text, was_cut = cut_at_stop(out.text or "", request.params.stop)
            if not text.strip():
                raise LLMError("empty_text", "the model returned no text", retryable=True)
            if request.check is not None:
                try:
                    request.check(text)
                except ValueError as exc:  # e.g. a looping completion: draw again now, no backoff
                    raise LLMError(getattr(exc, "reason", "rejected_completion"), str(exc), retryable=True,
                                   retry_after=0.0, resample=True) from None
            return LLMResult(text, number, time.monotonic() - started, out.model or self.model or "",
                             "stop" if was_cut else out.finish_reason, key=request.key)

        try:
            return await self.policy.run(attempt, on_retry_after=self._limiter.hold)
        except LLMError as err:
            err.message, err.key = scrub(err.message, self._live_token), request.key
            err.args = (err.reason, err.message)
            return err

    async def _stop_workers(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def close(self) -> None:
        with self._runtime_lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            try:
                runtime.run(self._stop_workers())
                runtime.run(self._aclose())
            finally:
                runtime.stop()

    def __del__(self):
        # A forgotten close() must not leak a thread; the client's sockets go with the loop.
        runtime = getattr(self, "_runtime", None)
        if runtime is not None and threading.current_thread() is not runtime.thread:
            try:
                runtime.stop()
            except Exception:  # noqa: BLE001 - never raise from a finaliser
                pass
