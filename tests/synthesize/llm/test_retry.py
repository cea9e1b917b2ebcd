"""Retry policy, rate limiter and the small shared helpers, with injected clocks and sleeps (no waiting)."""
import asyncio
import pickle
import random

import pytest

from pipelines.synthesize.llm import GenerationParams, LLMError, LLMRequest, RateLimiter, RetryPolicy
from pipelines.synthesize.llm.base import cut_at_stop, error_for_status, parse_retry_after, request_seed, scrub
from pipelines.synthesize.llm.retry import FairSlots


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(max_attempts=10, base_s=0.5, max_s=4.0, jitter=(1.0, 1.0))
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_in_range():
    policy = RetryPolicy(base_s=1.0, max_s=30, rng=random.Random(0))
    delays = [policy.delay(3) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays) and len(set(delays)) > 100


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(base_s=0.5, max_s=2.0, retry_after_max_s=60)
    assert policy.delay(1, retry_after=7.0) == 7.0     # longer than max_s: the server knows best
    assert policy.delay(4, retry_after=0.0) == 0.0
    assert policy.delay(1, retry_after=3600) == 60


def run(coro):
    return asyncio.run(coro)


def test_run_retries_retryable_errors_until_success():
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=5, base_s=1, jitter=(1, 1), sleep=fake.sleep)
    seen = []

    async def attempt(number, last_error):
        seen.append((number, last_error.reason if last_error else None))
        if number < 3:
            raise LLMError("server_error", "boom", status=503, retryable=True)
        return "ok"

    assert run(policy.run(attempt)) == "ok"
    assert seen == [(1, None), (2, "server_error"), (3, "server_error")]
    assert fake.sleeps == [1, 2]


def test_run_stops_at_once_on_a_final_error():
    fake = FakeTime()
    policy = RetryPolicy(sleep=fake.sleep)

    async def attempt(number, last_error):
        raise LLMError("bad_request", "no", status=400)

    with pytest.raises(LLMError) as info:
        run(policy.run(attempt))
    assert info.value.attempts == 1 and fake.sleeps == []


def test_run_gives_up_after_max_attempts_and_reports_retry_after():
    fake = FakeTime()
    holds = []
    policy = RetryPolicy(max_attempts=3, sleep=fake.sleep)

    async def attempt(number, last_error):
        raise LLMError("rate_limited", "slow down", status=429, retryable=True, retry_after=2.0)

    with pytest.raises(LLMError) as info:
        run(policy.run(attempt, on_retry_after=holds.append))
    assert (info.value.reason, info.value.attempts) == ("rate_limited", 3)
    assert fake.sleeps == [2.0, 2.0] and holds == [2.0, 2.0]


def test_rate_limiter_spaces_concurrent_requests():
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)  # one per second

    async def start():
        await limiter.acquire()
        return fake.now

    async def main():
        return await asyncio.gather(*(start() for _ in range(4)))

    assert run(main()) == [0.0, 1.0, 2.0, 3.0]  # slots reserved before awaiting: no two tasks share one


def test_rate_limiter_hold_and_unlimited():
    fake = FakeTime()
    limiter = RateLimiter(None, clock=fake.clock, sleep=fake.sleep)
    assert run(limiter.acquire()) == 0.0
    limiter.hold(5)
    assert run(limiter.acquire()) == 5.0
    assert run(limiter.acquire()) == 0.0
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status,reason,retryable", [
    (429, "rate_limited", True), (408, "timeout", True), (500, "server_error", True), (503, "server_error", True),
    (400, "bad_request", False), (422, "bad_request", False), (401, "auth", False), (404, "not_found", False)])
def test_status_mapping(status, reason, retryable):
    error = error_for_status(status, "detail")
    assert (error.reason, error.retryable, error.status) == (reason, retryable, status)


def test_llm_error_pickles_and_reads_well():
    error = LLMError("timeout", "no answer", attempts=4, status=None, retryable=True, retry_after=1.0, key="k1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.message, copy.attempts, copy.retryable, copy.retry_after, copy.key) == (
        "timeout", "no answer", 4, True, 1.0, "k1")
    assert str(copy) == "timeout: no answer (attempts=4)"


def test_requests_and_params_validate():
    assert GenerationParams(stop=["a", "", "b"]).stop == ("a", "b")
    assert GenerationParams(stop="\n").stop == ("\n",)
    with pytest.raises(ValueError):
        GenerationParams(max_new_tokens=0)
    with pytest.raises(ValueError):
        GenerationParams(top_p=0)
    with pytest.raises(ValueError):
        LLMRequest()
    with pytest.raises(ValueError):
        LLMRequest(prompt="a", messages=({"role": "user", "content": "b"},))
    assert LLMRequest(messages=[{"role": "user", "content": "b"}]).messages == ({"role": "user", "content": "b"},)


def test_helpers():
    assert cut_at_stop("abc\n\ndef###", ["###", "\n\n"]) == ("abc", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    assert scrub("key sk-1 and sk-1", "sk-1") == "key *** and ***" and scrub("x", None) == "x"
    a, b = LLMRequest(prompt="p", key="a"), LLMRequest(prompt="p", key="b")
    assert request_seed(a, None) is None
    assert request_seed(a, 1) == request_seed(LLMRequest(prompt="other", key="a"), 1)  # the key decides
    assert request_seed(a, 1) != request_seed(b, 1) and request_seed(a, 1) != request_seed(a, 2)
    assert request_seed(LLMRequest(prompt="p", params=GenerationParams(seed=9)), 1) == 9


def test_fair_slots_hand_a_released_slot_to_the_oldest_waiter():
    async def scenario():
        slots = FairSlots(1)
        held = await slots.acquire()
        order = []

        async def waiter(name):
            slot = await slots.acquire()
            order.append(name)
            await asyncio.sleep(0)
            slots.release(slot)

        waiting = [asyncio.create_task(waiter(n)) for n in ("first", "second", "third")]
        await asyncio.sleep(0)
        slots.release(held)
        # the releasing task asks again at once: with asyncio.Queue it would take the slot back
        again = asyncio.create_task(waiter("latecomer"))
        await asyncio.gather(*waiting, again)
        return order, slots.free

    assert asyncio.run(scenario()) == (["first", "second", "third", "latecomer"], 1)


def test_fair_slots_cancelled_waiter_neither_leaks_nor_blocks_a_slot():
    async def scenario():
        slots = FairSlots(1)
        held = await slots.acquire()
        gone = asyncio.create_task(slots.acquire())
        stays = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        slots.release(held)
        slot = await asyncio.wait_for(stays, 1)
        slots.release(slot)
        return gone.cancelled(), slots.free

    assert asyncio.run(scenario()) == (True, 1)
