"""The API's leased rate limiter over every store backend of this run: never more than the
limit across processes (several limiter instances on one store), far fewer store calls."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.storage import StateStore, create_store
from handlers.eligibility_api_limits import LeasedRateLimiter
from tests.support.backends import REDIS_URL, store_backends


class CountingStore:
    """Wraps a store and counts INCR calls (the round trips the lease saves)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.incrs = 0

    async def incr(self, key, *, ttl=None, amount=1):
        self.incrs += 1
        return await self.store.incr(key, ttl=ttl, amount=amount)


@pytest.fixture(params=store_backends())
async def store(request) -> StateStore:
    s = create_store(REDIS_URL if request.param == "redis" else None,
                     namespace=f"tl{secrets.token_hex(6)}")
    yield s
    await s.close()


def fixed_clock() -> float:
    """Mid-window, so a test never straddles a window boundary."""
    return 1_000_030.0


async def hits(limiter, n: int, *, key: str = "ip:1", limit: int, window: float = 60):
    return [(await limiter.hit(key, limit=limit, window=window))[0] for _ in range(n)]


async def test_one_process_gets_exactly_the_limit(store):
    counting = CountingStore(store)
    limiter = LeasedRateLimiter(counting, clock=fixed_clock)
    allowed = await hits(limiter, 130, limit=120)
    assert allowed == [True] * 120 + [False] * 10
    assert counting.incrs <= 120 // 6 + 1  # chunks of 6, then one look past the limit


@pytest.mark.parametrize("limit", [1, 3, 19, 120, 1000])
async def test_many_processes_never_exceed_the_limit(store, limit):
    limiters = [LeasedRateLimiter(store, clock=fixed_clock) for _ in range(4)]  # 4 workers

    async def worker(limiter):
        return await hits(limiter, limit, limit=limit)

    results = await asyncio.gather(*(worker(lim) for lim in limiters))
    allowed = sum(sum(r) for r in results)
    assert allowed <= limit
    assert allowed >= limit - 4 * max(1, limit // 20)  # at most one chunk idle per worker


async def test_a_burst_shares_one_chunk_instead_of_reserving_many(store):
    counting = CountingStore(store)
    limiter = LeasedRateLimiter(counting, clock=fixed_clock)
    results = await asyncio.gather(*(limiter.hit("ip:burst", limit=10**6, window=60)
                                     for _ in range(200)))
    assert all(allowed for allowed, _ in results)
    assert counting.incrs == 1


async def test_a_burst_at_a_small_limit_gets_exactly_the_limit(store):
    limiter = LeasedRateLimiter(store, clock=fixed_clock)
    results = await asyncio.gather(*(limiter.hit("ip:b2", limit=7, window=60)
                                     for _ in range(30)))
    assert sum(allowed for allowed, _ in results) == 7


async def test_small_limits_count_one_by_one(store):
    counting = CountingStore(store)
    limiter = LeasedRateLimiter(counting, clock=fixed_clock)
    assert await hits(limiter, 4, limit=3) == [True, True, True, False]
    assert await hits(limiter, 3, limit=3) == [False] * 3
    assert counting.incrs == 3  # refused locally once the counter reached the limit


async def test_keys_and_windows_are_separate(store):
    now = [1_000_030.0]
    limiter = LeasedRateLimiter(store, clock=lambda: now[0])
    assert await hits(limiter, 3, key="ip:a", limit=2) == [True, True, False]
    assert await hits(limiter, 2, key="ip:b", limit=2) == [True, True]
    now[0] += 60  # the next window
    assert await hits(limiter, 3, key="ip:a", limit=2) == [True, True, False]


async def test_retry_after_is_the_rest_of_the_window(store):
    limiter = LeasedRateLimiter(store, clock=fixed_clock)
    allowed, retry_after = await limiter.hit("ip:r", limit=1, window=60)
    assert allowed and retry_after == 50  # 1_000_030 is 10 s into its minute


async def test_old_leases_are_dropped(store):
    limiter = LeasedRateLimiter(store, max_keys=10)
    for i in range(50):
        await limiter.hit(f"ip:{i}", limit=100, window=60)
    assert len(limiter._leases) <= 10
