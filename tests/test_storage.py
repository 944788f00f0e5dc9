"""One storage test class, run over every backend this run has (memory; Redis in CI)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.storage import LockTimeout, StateStore, create_store
from tests.support.backends import REDIS_URL, store_backends


@pytest.fixture(params=store_backends())
async def store(request) -> StateStore:
    url = REDIS_URL if request.param == "redis" else None
    s = create_store(url, namespace=f"ts{secrets.token_hex(6)}")
    yield s
    await s.close()


class TestStateStore:
    async def test_set_get_delete(self, store: StateStore):
        assert await store.get("a") is None
        assert await store.set("a", "1")
        assert await store.get("a") == b"1"
        await store.delete("a")
        assert await store.get("a") is None

    async def test_set_nx_only_when_absent(self, store: StateStore):
        assert await store.set("k", "first", nx=True)
        assert not await store.set("k", "second", nx=True)
        assert await store.get("k") == b"first"

    async def test_ttl_expires(self, store: StateStore):
        await store.set("t", "v", ttl=0.15)
        left = await store.ttl("t")
        assert left is not None and 0 < left <= 0.15
        await asyncio.sleep(0.3)
        assert await store.get("t") is None
        assert await store.set("t", "again", nx=True)

    async def test_compare_and_delete(self, store: StateStore):
        await store.set("c", "mine")
        assert not await store.compare_and_delete("c", "theirs")
        assert await store.get("c") == b"mine"
        assert await store.compare_and_delete("c", "mine")
        assert await store.get("c") is None

    async def test_compare_and_set(self, store: StateStore):
        await store.set("s", "P")
        assert not await store.compare_and_set("s", "X", "new")
        assert await store.compare_and_set("s", "P", "done", ttl=5)
        assert await store.get("s") == b"done"
        assert 0 < (await store.ttl("s")) <= 5

    async def test_incr_sets_ttl_once(self, store: StateStore):
        assert await store.incr("n", ttl=0.3) == 1
        assert await store.incr("n", ttl=100) == 2
        assert (await store.ttl("n")) <= 0.3
        await asyncio.sleep(0.4)
        assert await store.incr("n", ttl=1) == 1

    async def test_json_round_trip(self, store: StateStore):
        await store.set_json("j", {"名字": "张三", "n": [1, 2]})
        assert await store.get_json("j") == {"名字": "张三", "n": [1, 2]}

    async def test_namespaces_do_not_collide(self, store: StateStore):
        other = create_store(REDIS_URL if store.__class__.__name__ == "RedisStore" else None,
                             namespace=f"other{secrets.token_hex(4)}")
        await store.set("same", "a")
        assert await other.get("same") is None
        await other.close()

    async def test_lock_excludes_concurrent_holders(self, store: StateStore):
        inside = 0
        peak = 0

        async def worker():
            nonlocal inside, peak
            async with store.lock("L", ttl=5, timeout=5):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(worker() for _ in range(20)))
        assert peak == 1

    async def test_lock_times_out(self, store: StateStore):
        async with store.lock("held", ttl=5):
            with pytest.raises(LockTimeout):
                await store.lock("held", timeout=0.1).acquire()

    async def test_lock_of_crashed_holder_expires(self, store: StateStore):
        crashed = store.lock("lease", ttl=0.2)
        await crashed.acquire()  # never released
        other = store.lock("lease", ttl=1, timeout=2)
        assert await other.acquire()
        # The first holder's late release must not free the second holder's lock.
        await crashed.release()
        assert not await store.lock("lease", timeout=0.05).acquire(blocking=False)
        await other.release()

    async def test_ping(self, store: StateStore):
        assert await store.ping()
