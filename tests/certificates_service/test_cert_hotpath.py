"""The verification hot path's shared state: rate-limit counters counted locally and
pushed to the store, and the record cache that a revocation in any process empties.
Two objects on one store stand for two server processes."""

from __future__ import annotations

import asyncio
import math
import secrets
import time

import pytest

from bot.storage import create_store
from certificates.hotpath import BatchedLoads, LocalRecords, SharedCounters
from tests.support.backends import REDIS_URL, store_backends


@pytest.fixture(params=store_backends())
async def store(request):
    store = create_store(REDIS_URL if request.param == "redis" else None,
                         namespace=f"t{secrets.token_hex(6)}")
    yield store
    await store.close()


async def test_one_process_counts_exactly_and_pushes_to_the_store(store):
    counters = SharedCounters(store)
    assert [counters.hit("certv-ip:1.2.3.4", 3) > 0 for _ in range(5)] == [
        False, False, False, True, True]
    await counters.sync()
    slot = math.floor(time.time() / 60)
    assert await store.get(f"rl:certv-ip:1.2.3.4:{slot}") == b"5"
    await counters.sync()  # nothing new: nothing added
    assert await store.get(f"rl:certv-ip:1.2.3.4:{slot}") == b"5"


async def test_processes_see_each_others_counts_after_a_sync(store):
    a, b = SharedCounters(store), SharedCounters(store)
    for _ in range(3):
        assert a.hit("certv-tok:t", 5) == 0
    await a.sync()
    assert b.hit("certv-tok:t", 5) == 0  # b has not heard of a's hits yet (bounded overshoot)
    await b.sync()  # now the shared total is 4
    assert b.hit("certv-tok:t", 5) == 0
    assert b.hit("certv-tok:t", 5) > 0
    await b.sync()
    # a still believes 3: its next hit is admitted (the bounded overshoot), and the push
    # of that hit tells it the shared total, after which it refuses too.
    assert a.hit("certv-tok:t", 5) == 0
    await a.sync()
    assert a.hit("certv-tok:t", 5) > 0


async def test_invalidation_reaches_every_process_at_the_next_poll(store):
    a, b = LocalRecords(store), LocalRecords(store)
    await a.poll()
    await b.poll()
    a.put("pid", "valid")
    b.put("pid", "valid")
    await a.invalidate("pid")
    assert a.get("pid") is None
    assert b.get("pid") == "valid"
    await b.poll()
    assert b.get("pid") is None
    b.put("pid", "revoked")
    await b.poll()
    assert b.get("pid") == "revoked", "no further invalidation: the entry stays"


async def test_records_expire(store):
    records = LocalRecords(store, ttl=0.01)
    records.put("pid", 1)
    await asyncio.sleep(0.02)
    assert records.get("pid") is None


async def test_concurrent_misses_share_queries():
    """While one query runs, later misses wait for the next one, all together."""
    calls: list[list[str]] = []
    gate = asyncio.Event()

    async def fetch_many(keys: list[str]) -> dict[str, str]:
        calls.append(list(keys))
        if len(calls) == 1:
            await gate.wait()  # the first query is slow: everyone else queues behind it
        return {k: k.upper() for k in keys if k != "missing"}

    loads = BatchedLoads(fetch_many, batch=3)
    first = asyncio.ensure_future(loads.load("a"))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(loads.load(k)) for k in ("b", "c", "b", "missing", "d")]
    await asyncio.sleep(0)
    gate.set()
    assert await first == "A"
    assert await asyncio.gather(*rest) == ["B", "C", "B", None, "D"]
    assert calls == [["a"], ["b", "c", "missing"], ["d"]]  # "b" asked twice, fetched once
    # Idle again: the next miss is sent at once, alone.
    assert await loads.load("e") == "E" and calls[-1] == ["e"]


async def test_a_failed_query_fails_its_batch_only():
    attempts = []

    async def fetch_many(keys: list[str]) -> dict[str, str]:
        attempts.append(keys)
        if len(attempts) == 1:
            raise ConnectionError("database went away")
        return {k: "ok" for k in keys}

    loads = BatchedLoads(fetch_many)
    with pytest.raises(ConnectionError):
        await loads.load("x")
    assert await loads.load("x") == "ok"


async def test_a_cancelled_caller_does_not_cancel_the_others_waiting_on_its_key():
    gate = asyncio.Event()
    calls: list[list[str]] = []

    async def fetch_many(keys: list[str]) -> dict[str, str]:
        calls.append(list(keys))
        await gate.wait()
        return {k: k.upper() for k in keys}

    loads = BatchedLoads(fetch_many)
    quitter = asyncio.ensure_future(loads.load("a"))
    stayer = asyncio.ensure_future(loads.load("a"))
    await asyncio.sleep(0)
    quitter.cancel()  # the employer closed the page
    await asyncio.sleep(0)
    gate.set()
    assert await stayer == "A"
    assert quitter.cancelled()
    assert calls == [["a"]]


async def test_counter_sync_sends_only_names_hit_since_the_last_sync(store):
    counters = SharedCounters(store)
    for i in range(50):
        counters.hit(f"certv-tok:{i}", 10)
    sent: list[list[tuple[str, int]]] = []
    real = counters._add_many

    async def spy(increments):
        sent.append(increments)
        return await real(increments)

    counters._add_many = spy
    await counters.sync()
    assert len(sent[0]) == 50
    counters.hit("certv-tok:7", 10)
    await counters.sync()
    slot = math.floor(time.time() / 60)
    assert sent[1] == [(f"rl:certv-tok:7:{slot}", 1)]
    assert await store.get(f"rl:certv-tok:7:{slot}") == b"2"
