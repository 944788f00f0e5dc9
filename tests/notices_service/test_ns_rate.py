"""The global send rate: every worker draws from one budget per window in the store."""

from __future__ import annotations

import math
import secrets
from collections import Counter

import pytest

from bot.storage import create_store
from notices.rate import GlobalRate
from tests.support.backends import REDIS_URL, store_backends


class FakeTime:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=store_backends())
async def store(request):
    s = create_store(REDIS_URL if request.param == "redis" else None,
                     namespace=f"tr{secrets.token_hex(6)}")
    yield s
    await s.close()


async def test_workers_share_one_budget_per_second(store):
    time = FakeTime(1_000_000.25)
    workers = [GlobalRate(store, 10, clock=time, sleep=time.sleep) for _ in range(3)]
    granted_at = []
    for i in range(45):
        await workers[i % 3].acquire()
        granted_at.append(time.now)
    per_second = Counter(math.floor(t) for t in granted_at)
    assert max(per_second.values()) <= 10
    assert len(per_second) >= 5  # 45 messages at 10/s need at least five windows


async def test_below_one_message_a_second(store):
    time = FakeTime(2_000_000.0)
    rate = GlobalRate(store, 0.5, clock=time, sleep=time.sleep)
    stamps = []
    for _ in range(3):
        await rate.acquire()
        stamps.append(time.now)
    assert stamps[1] - stamps[0] >= 2 and stamps[2] - stamps[1] >= 2


async def test_zero_means_unlimited_and_touches_no_store():
    class NoStore:
        async def incr(self, *a, **k):
            raise AssertionError("the store was used")

    rate = GlobalRate(NoStore(), 0)
    for _ in range(1000):
        await rate.acquire()
