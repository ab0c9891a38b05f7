"""The token budget spent by reservation: concurrent reservations never take more than the
budget holds, in memory and on Redis shared by two clients (two replicas)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from qna_agent.errors import RateLimited
from qna_agent.security.budget import TokenBudget
from qna_agent.security.ratelimit import Counter, MemoryCounter, RedisCounter
from tests.support.redis_server import redis_url_or_skip


async def _reserve_many(budgets: list[TokenBudget], principal: str, count: int) -> int:
    """Reserve 300 tokens `count` times at once, spread over `budgets`; how many succeeded."""

    async def one(budget: TokenBudget) -> bool:
        try:
            await budget.reserve(principal, 300)
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*(one(budgets[i % len(budgets)]) for i in range(count)))
    return sum(results)


async def test_concurrent_reservations_stay_within_the_budget_in_memory() -> None:
    budget = TokenBudget(MemoryCounter(), tokens_per_day=1_000)
    assert await _reserve_many([budget], "alice", 16) == 3
    assert await budget.used_today("alice") == 900
    assert await budget.used_today("bob") == 0


async def test_concurrent_reservations_stay_within_the_budget_on_redis() -> None:
    url = redis_url_or_skip()
    counters: list[Counter] = [RedisCounter(url), RedisCounter(url)]  # two replicas
    try:
        budgets = [TokenBudget(counter, tokens_per_day=1_000) for counter in counters]
        principal = f"budget-{uuid.uuid4().hex}"
        assert await _reserve_many(budgets, principal, 16) == 3
        assert await budgets[1].used_today(principal) == 900
    finally:
        for counter in counters:
            await counter.aclose()


async def test_a_reservation_covers_each_call_and_settles_to_what_was_spent() -> None:
    budget = TokenBudget(MemoryCounter(), tokens_per_day=1_000)
    reservation = await budget.reserve("alice", 400)
    await reservation.cover(400, spent=0)  # the first call is already held
    assert await budget.used_today("alice") == 400
    await reservation.cover(400, spent=350)  # the second call needs 350 + 400 in all
    assert await budget.used_today("alice") == 750
    with pytest.raises(RateLimited, match="ran out during this turn"):
        await reservation.cover(400, spent=700)  # 1,100 > 1,000: refused before the call
    await reservation.settle(700)
    assert await budget.used_today("alice") == 700
    await reservation.settle(10)  # settled once
    assert await budget.used_today("alice") == 700


async def test_the_refusal_says_what_is_left_and_when_it_renews() -> None:
    budget = TokenBudget(MemoryCounter(), tokens_per_day=1_000)
    await (await budget.reserve("alice", 800)).settle(800)
    with pytest.raises(RateLimited) as refused:
        await budget.reserve("alice", 300)
    assert "has 200 left, fewer than the 300" in refused.value.detail
    assert 1 <= refused.value.retry_after <= 86_400
    await (await budget.reserve("alice", 200)).settle(200)
    with pytest.raises(RateLimited, match="is used up"):
        await budget.reserve("alice", 1)


async def test_an_unlimited_budget_reserves_nothing() -> None:
    budget = TokenBudget(MemoryCounter(), tokens_per_day=0)
    reservation = await budget.reserve("alice", 10**9)
    await reservation.cover(10**9, spent=10**9)
    await reservation.settle(10**9)
    assert await budget.used_today("alice") is None


class _Unreachable(MemoryCounter):
    async def take(
        self, key: str, amount: int, *, limit: int, window_seconds: int
    ) -> tuple[bool, int, int]:
        raise ConnectionError("redis is down")


async def test_an_unreachable_counter_lets_turns_through() -> None:
    budget = TokenBudget(_Unreachable(), tokens_per_day=10)
    reservation = await budget.reserve("alice", 1_000)  # fail open, with a warning
    await reservation.cover(1_000, spent=500)
