"""Retry policy and rate limiter for LLM requests.

RetryPolicy: an attempt that fails with a retryable error (429, 5xx, timeout, connection, malformed
or empty answer) is tried again, up to `max_attempts` in all, after
`min(max_s, base_s * 2**(n-1)) * jitter`, or after the server's Retry-After when it sent one.
RateLimiter: spaces request starts 60/rpm seconds apart (shared by every task on one event loop), and
can hold all starts back after a Retry-After so that other tasks stop hammering a throttled server.
FairSlots: the concurrency bound, first come first served.
Clocks, sleeps and the random source are injectable so tests need not wait.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0
    jitter: tuple[float, float] = (0.5, 1.0)   # multiplier range: spreads out clients that failed together
    retry_after_max_s: float = 600.0           # a Retry-After beyond this is treated as this
    sleep: Sleep = field(default=asyncio.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def should_retry(self, error, attempt: int) -> bool:
        """`error` is an LLMError (anything with a `retryable` flag)."""
        return bool(getattr(error, "retryable", False)) and attempt < self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_max_s)
        low, high = self.jitter
        return min(self.max_s, self.base_s * 2 ** (attempt - 1)) * self.rng.uniform(low, high)

    async def run(self, attempt_fn: Callable[[int, object], Awaitable[T]],
                  on_retry_after: Callable[[float], None] | None = None) -> T:
        """Call `attempt_fn(number, last_error)` until it returns or fails for good; the final error
        (an LLMError) is raised with `.attempts` set."""
        last_error = None
        for number in range(1, self.max_attempts + 1):
            try:
                return await attempt_fn(number, last_error)
            except Exception as error:  # noqa: BLE001 - errors without `retryable` are final
                error.attempts = number
                if not self.should_retry(error, number):
                    raise
                last_error = error
            retry_after = getattr(last_error, "retry_after", None)
            if retry_after is not None and on_retry_after is not None:
                on_retry_after(min(retry_after, self.retry_after_max_s))
            await self.sleep(self.delay(number, retry_after))
        raise AssertionError("unreachable")  # the last attempt either returns or raises

    def describe(self) -> dict:
        return {"max_attempts": self.max_attempts, "base_s": self.base_s, "max_s": self.max_s,
                "jitter": list(self.jitter)}

    def __getstate__(self):  # asyncio.sleep and Random pickle fine; a test's fake sleep may not
        state = self.__dict__.copy()
        if state["sleep"] is not asyncio.sleep:
            state["sleep"] = asyncio.sleep
        return state


class RateLimiter:
    """Spaced scheduling: the k-th request may start no earlier than k * 60/rpm after the first.
    A slot is reserved before awaiting, so concurrent tasks on one loop never share a slot."""

    def __init__(self, requests_per_minute: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep | None = None):
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0")
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.clock, self._sleep = clock, sleep
        self._next = float("-inf")
        self._hold_until = float("-inf")

    async def acquire(self) -> float:
        """Wait for this request's slot; returns the seconds waited."""
        now = self.clock()
        slot = max(now, self._hold_until, self._next if self.interval else now)
        if self.interval:
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            await (self._sleep or asyncio.sleep)(wait)
        return wait

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` from now (the server asked us to back off)."""
        self._hold_until = max(self._hold_until, self.clock() + seconds)


class FairSlots:
    """A fixed set of numbered slots (the concurrency bound), handed out strictly first come, first served.

    asyncio.Queue is not fair here: a task that releases a slot and asks again at once can take it back
    before the waiter it woke runs, and that waiter then queues again at the back. Under load the oldest
    requests kept losing their turn, so a batch submitted first finished last. Here a released slot goes
    straight to the oldest waiter.
    """

    def __init__(self, n: int):
        self._free: deque[int] = deque(range(n))
        self._waiters: deque[asyncio.Future] = deque()

    async def acquire(self) -> int:
        if self._free and not self._waiters:
            return self._free.popleft()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # a slot arrived as we were cancelled: pass it on
                self.release(waiter.result())
            else:
                self._waiters.remove(waiter)
            raise

    def release(self, slot: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)

    @property
    def free(self) -> int:
        return len(self._free)
