"""What keeps a verification scan off the network: shared counters counted locally, and
a process-local record cache that every process drops when any of them revokes.

Why: a scan must cost little more than the HTTP request itself (the benchmark's target is
40 % of a bare aiohttp handler), and one round trip to Redis per scan costs more than all
the rest of the work. Both structures still keep the truth in the state store (Redis in
production, shared by every process); they only stop asking it on every request.

`SharedCounters` - fixed-window rate-limit counters (the same windows and key names as
`bot.ratelimit.RateLimiter`). A hit is counted locally and checked against the shared
total last seen plus this process's unsent hits; every `interval` seconds the unsent hits
are added to the store (INCRBY) and the new shared total is read back. One process is
exact; with N processes a burst can overshoot a limit by at most what N processes admit
within one interval (0.1 s by default), never more.

`BatchedLoads` - concurrent cache misses share database round trips: while one query is
in flight, the ids asked for meanwhile are collected and fetched together by the next
one (`WHERE public_id IN (...)`). An idle server sends each miss at once (no added
latency); a busy one sends one query per batch instead of one per scan (each round trip
is a pool acquire, a query and a connection reset: most of a cold scan's cost).

`LocalRecords` - verification records by public id, for `ttl` seconds. Revoking (or
otherwise changing) a certificate calls `invalidate`, which drops the local entry and
bumps a generation counter in the store; every process polls that counter every
`interval` seconds and empties its cache when it moved. So a revocation shows at once in
the process that made it and within about 0.1 s everywhere else; `ttl` is the backstop
if the store is unreachable. A database read that was already under way when the cache
was emptied must not refill it with what it read (the record as it was before the
revocation): loaders take `epoch` before reading and store with `put_if_current`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from bot.storage.base import StateStore
from bot.storage.redis import RedisStore

__all__ = ["BatchedLoads", "LocalRecords", "SharedCounters"]

log = logging.getLogger("certificates.hotpath")

GENERATION_KEY = "cert:records:generation"
# KEYS: counters; ARGV[1]: TTL in ms; ARGV[1 + i]: amount for KEYS[i]. Returns the totals.
_INCR_MANY = """
local totals = {}
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[i + 1])
  local v = redis.call('incrby', key, amount)
  if v == amount then redis.call('pexpire', key, ARGV[1]) end
  totals[i] = v
end
return totals
"""


class SharedCounters:
    def __init__(self, store: StateStore, *, window: float = 60.0) -> None:
        self.store = store
        self.window = window
        # On Redis, one script call adds every pending count (see _add_many).
        self._script = None
        if isinstance(store, RedisStore):
            self._script = store.client.register_script(_INCR_MANY)
        self._slot = self._current_slot()
        # name -> [unsent hits, shared total last read from the store]
        self._counts: dict[str, list[int]] = {}
        self._unsent: set[str] = set()  # names with hits not yet sent (sync looks at these)
        self._leftover: list[tuple[int, str, int]] = []  # unsent hits of ended windows

    def _current_slot(self) -> int:
        return math.floor(time.time() / self.window)

    def _roll(self) -> None:
        slot = self._current_slot()
        if slot != self._slot:
            self._leftover += [(self._slot, name, self._counts[name][0])
                               for name in self._unsent if self._counts[name][0]]
            self._counts = {}
            self._unsent = set()
            self._slot = slot

    def hit(self, name: str, limit: int) -> float:
        """Count one hit on `name`; 0 if within `limit`, else seconds until the window
        ends (the hit is counted either way, as RateLimiter does)."""
        self._roll()
        entry = self._counts.get(name)
        if entry is None:
            entry = self._counts[name] = [0, 0]
        entry[0] += 1
        self._unsent.add(name)
        if entry[0] + entry[1] <= limit:
            return 0.0
        return max((self._slot + 1) * self.window - time.time(), 0.001)

    def _key(self, slot: int, name: str) -> str:
        return f"rl:{name}:{slot}"

    async def sync(self) -> None:
        """Send unsent hits to the store and read the shared totals back."""
        self._roll()
        leftover, self._leftover = self._leftover, []
        for slot, name, n in leftover:
            await self.store.incr(self._key(slot, name), ttl=self.window + 1, amount=n)
        slot = self._slot
        names, self._unsent = self._unsent, set()
        pending = [(name, entry, entry[0]) for name in names
                   if (entry := self._counts[name])[0]]
        if not pending:
            return
        for _, entry, n in pending:
            entry[0] -= n
            entry[1] += n  # counted as shared while the increment is on its way
        try:
            totals = await self._add_many([(self._key(slot, name), n) for name, _, n in pending])
        except Exception as exc:
            for name, entry, n in pending:
                entry[0] += n  # try again next time
                entry[1] -= n
                self._unsent.add(name)
            log.warning("rate-limit counter sync failed", extra={"error": repr(exc)})
            return
        if slot == self._slot:
            for (_, entry, _n), total in zip(pending, totals, strict=True):
                entry[1] = max(entry[1], int(total))

    async def _add_many(self, increments: list[tuple[str, int]]) -> list[int]:
        """INCRBY each key (TTL set when created); one round trip on Redis."""
        if self._script is None:
            return [await self.store.incr(key, ttl=self.window + 1, amount=n)
                    for key, n in increments]
        totals: list[int] = []
        for i in range(0, len(increments), 500):
            chunk = increments[i : i + 500]
            totals += await self._script(
                keys=[self.store.k(key) for key, _ in chunk],
                args=[int((self.window + 1) * 1000), *(n for _, n in chunk)],
            )
        return [int(t) for t in totals]


class BatchedLoads:
    """`load(key)` through `fetch_many(keys) -> {key: value}`, one query at a time,
    with every key asked for while a query runs fetched together by the next one
    (at most `batch` keys per query). A key asked for twice shares one fetch.

    Each caller waits on a future of its own (no task and no `shield` per load: on a
    cold scan those were a tenth of the server's CPU), so a caller that is cancelled
    cancels only its own wait, never the fetch or the other callers.
    """

    def __init__(self, fetch_many: Callable[[list[str]], Awaitable[dict[str, Any]]], *,
                 batch: int = 200) -> None:
        self.fetch_many = fetch_many
        self.batch = batch
        self._waiting: dict[str, list[asyncio.Future[Any]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def load(self, key: str) -> Any:
        future = asyncio.get_running_loop().create_future()
        waiters = self._waiting.get(key)
        if waiters is None:
            self._waiting[key] = [future]
        else:
            waiters.append(future)
        if self._running is None:
            self._running = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[: self.batch]
                waiters = [self._waiting.pop(k) for k in keys]
                try:
                    found = await self.fetch_many(keys)
                except Exception as exc:
                    for futures in waiters:
                        for f in futures:
                            if not f.done():
                                f.set_exception(exc)
                    continue
                for k, futures in zip(keys, waiters, strict=True):
                    value = found.get(k)
                    for f in futures:
                        if not f.done():
                            f.set_result(value)
        finally:
            self._running = None


class LocalRecords:
    def __init__(self, store: StateStore, *, ttl: float = 30.0, size: int = 50_000) -> None:
        self.store = store
        self.ttl = ttl
        self.size = size
        self._records: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._generation: bytes | None = None
        self.epoch = 0  # bumped whenever entries are dropped for being out of date

    def put_if_current(self, epoch: int, public_id: str, value: Any) -> bool:
        """`put`, unless something was invalidated since `epoch` was read (the value
        may then predate the change); True if stored."""
        if epoch != self.epoch:
            return False
        self.put(public_id, value)
        return True

    def get(self, public_id: str) -> Any | None:
        entry = self._records.get(public_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._records[public_id]
            return None
        return entry[1]

    def put(self, public_id: str, value: Any) -> None:
        self._records[public_id] = (time.monotonic() + self.ttl, value)
        self._records.move_to_end(public_id)
        while len(self._records) > self.size:
            self._records.popitem(last=False)

    async def invalidate(self, public_id: str) -> None:
        """Forget `public_id` here now, and everywhere at the next poll."""
        self.epoch += 1
        self._records.pop(public_id, None)
        await self.store.incr(GENERATION_KEY)

    async def poll(self) -> None:
        """Empty the cache if any process invalidated something since the last poll."""
        generation = await self.store.get(GENERATION_KEY)
        if generation != self._generation:
            if self._generation is not None or generation is not None:
                self.epoch += 1
                self._records.clear()
            self._generation = generation
