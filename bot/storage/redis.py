"""Redis store (redis.asyncio), shared by every server process and worker.

Compare-and-delete / compare-and-set / incr-with-TTL are Lua scripts so each is one
atomic step on the server: that is what makes the lock and the dedup safe across hosts.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError

from bot.storage.base import StateStore

_CAD = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_CAS = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  if tonumber(ARGV[3]) > 0 then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else redis.call('set', KEYS[1], ARGV[2]) end
  return 1
end
return 0
"""
_INCR = """
local v = redis.call('incrby', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) and tonumber(ARGV[2]) > 0 then redis.call('pexpire', KEYS[1], ARGV[2]) end
return v
"""


_LOCK_GET = """
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  if KEYS[2] then return {1, redis.call('get', KEYS[2])} end
  return {1, false}
end
return {0, false}
"""
_PUT_UNLOCK = """
if KEYS[2] then
  if tonumber(ARGV[3]) > 0 then redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
  else redis.call('set', KEYS[2], ARGV[2]) end
end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
return 1
"""


# The same two steps with a retry-dedup claim (see base.Claim).
# KEYS: claim, lock, [read]. ARGV: pending, deferred, claim ms, lock token, lock ms.
_CLAIM_LOCK_GET = """
local c = redis.call('get', KEYS[1])
if not c then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
elseif c ~= ARGV[1] and c ~= ARGV[2] then return {2, c} end
if redis.call('set', KEYS[2], ARGV[4], 'PX', ARGV[5], 'NX') then
  if KEYS[3] then return {1, redis.call('get', KEYS[3])} end
  return {1, false}
end
return {0, false}
"""
# KEYS: lock, claim, [write]. ARGV: lock token, pending, answer, claim ms, value, value ms.
_PUT_UNLOCK_SETTLE = """
if KEYS[3] then
  if tonumber(ARGV[6]) > 0 then redis.call('set', KEYS[3], ARGV[5], 'PX', ARGV[6])
  else redis.call('set', KEYS[3], ARGV[5]) end
end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
if redis.call('get', KEYS[2]) == ARGV[2] then
  redis.call('set', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, int(ttl * 1000))


class _Script:
    """EVALSHA with a load-on-miss fallback; lighter than redis-py's Script object."""

    def __init__(self, client: redis.Redis, source: str,
                 pipeliner: _Pipeliner | None = None) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id
        self.pipeliner = pipeliner

    async def __call__(self, *, keys: list[str], args: list) -> object:
        if self.pipeliner is not None:
            return await self.pipeliner.call(self, keys, args)
        return await self.direct(keys, args)

    async def direct(self, keys: list[str], args: list) -> object:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.client.eval(self.source, len(keys), *keys, *args)


def pack_evalsha(sha: str, keys: list[str], args: list) -> bytes:
    """EVALSHA as RESP bytes, for the argument types the store passes (str, bytes, int).

    redis-py's generic `pack_command` (an encoder call and type checks per argument) was
    the largest single cost of the two per-message scripts; this writes the same bytes
    (tests compare the two)."""
    parts = [f"*{3 + len(keys) + len(args)}\r\n$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n"
             f"${len(str(len(keys)))}\r\n{len(keys)}\r\n".encode()]
    for value in (*keys, *args):
        if value.__class__ is bytes:
            data = value
        elif value.__class__ is str:
            data = value.encode()
        elif value.__class__ is int:
            data = str(value).encode()
        else:
            raise TypeError(f"cannot send {type(value).__name__} to Redis here")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


LANES = 4  # connections with a batch in flight at once (see _Pipeliner)


class _Lane:
    """One dedicated connection and the lock that keeps one batch on it at a time."""

    __slots__ = ("conn", "last_used", "lock")

    def __init__(self) -> None:
        self.conn: Any = None
        self.last_used = 0.0
        self.lock = asyncio.Lock()


class _Pipeliner:
    """Sends the scripts called during one event-loop turn together, on connections of
    its own.

    Why: under load many requests reach their lock or unlock step in the same turn; one
    write and one read for all of them costs far less CPU than a command each. And the
    batch goes out on a dedicated redis-py connection with our own packing
    (`pack_evalsha`), not through the pool and a pipeline object: per message, the pool's
    checkout (lock, health check), redis-py's generic packing and a timeout per read cost
    more than Redis itself. There are LANES such connections, each carrying one batch at
    a time; with a single one, batches waited for each other and the webhook got slower
    (measured: 4 lanes took the plaintext webhook from 277 to 214 µs of server CPU per
    message; one lane gave 420, 8 lanes no better than 4). Each EVALSHA stays atomic on
    its own; this adds no ordering between callers that they did not already have. A
    connection that fails mid-batch is dropped (its state is unknown) and the batch's
    callers get the error; the next batch on that lane connects afresh.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._queue: list[tuple[_Script, list[str], list, asyncio.Future]] = []
        self._sending: set[asyncio.Task] = set()
        self._lanes = [_Lane() for _ in range(LANES)]
        self._next = 0
        self._timeout = 5.0
        self.idle_check = 10.0  # seconds; see _check_idle

    def call(self, script: _Script, keys: list[str], args: list) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((script, keys, args, fut))
        return fut

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _new_connection(self) -> Any:
        """A connection like the pool's, but without a per-read timeout: one timeout
        (the pool's socket timeout) covers a whole batch instead (see _roundtrip)."""
        pool = self.client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        self._timeout = kwargs.get("socket_timeout") or 5.0
        kwargs["socket_timeout"] = None
        return pool.connection_class(**kwargs)

    async def _roundtrip(self, payload: bytes, count: int) -> list:
        """Send `count` packed commands on a free lane and read their replies (errors
        as values). A batch waits only when every lane has one in flight."""
        lane = next((lane for lane in self._lanes if not lane.lock.locked()), None)
        if lane is None:
            self._next = (self._next + 1) % len(self._lanes)
            lane = self._lanes[self._next]
        async with lane.lock:
            await self._check_idle(lane)
            if lane.conn is None:
                lane.conn = self._new_connection()
            conn = lane.conn
            try:
                async with asyncio.timeout(self._timeout):
                    await conn.send_packed_command(payload, check_health=False)
                    results: list = []
                    for _ in range(count):
                        try:
                            results.append(await conn.read_response(timeout=math.inf))
                        except ResponseError as exc:  # that script's error; the rest follow
                            results.append(exc)
                lane.last_used = time.monotonic()
                return results
            except BaseException:
                lane.conn = None
                await conn.disconnect(nowait=True)
                raise

    async def _check_idle(self, lane: _Lane) -> None:
        """PING a connection idle for over `idle_check` s before trusting it with scripts.

        A failed batch is not re-sent (a lock or claim script may have run before its
        reply was lost), so a connection that Redis closed while idle (restart, timeout)
        must be found out before a batch goes out on it; a dead one is replaced."""
        conn = lane.conn
        if conn is None or time.monotonic() - lane.last_used < self.idle_check:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await conn.send_packed_command(b"*1\r\n$4\r\nPING\r\n", check_health=False)
                await conn.read_response(timeout=math.inf)
            lane.last_used = time.monotonic()
        except Exception:
            lane.conn = None
            await conn.disconnect(nowait=True)

    async def _send(self, batch: list[tuple[_Script, list[str], list, asyncio.Future]]) -> None:
        live = [item for item in batch if not item[3].done()]  # callers may have gone
        if not live:
            return
        try:
            payload = b"".join(pack_evalsha(script.sha, keys, args)
                               for script, keys, args, _ in live)
            results = await self._roundtrip(payload, len(live))
        except Exception as exc:
            for *_, fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (script, keys, args, fut), result in zip(live, results, strict=True):
            if isinstance(result, NoScriptError):  # Redis restarted or flushed its scripts
                try:
                    result = await script.direct(keys, args)
                except Exception as exc:
                    result = exc
            if fut.done():
                continue
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def close(self) -> None:
        for lane in self._lanes:
            async with lane.lock:
                conn, lane.conn = lane.conn, None
                if conn is not None:
                    await conn.disconnect()


class RedisStore(StateStore):
    def __init__(self, client: redis.Redis, namespace: str = "zc") -> None:
        super().__init__(namespace)
        self.client = client
        self._cad = _Script(client, _CAD)
        self._cas = _Script(client, _CAS)
        self._incr = _Script(client, _INCR)
        # The per-message steps: batched across requests in one loop turn.
        pipeliner = self._pipeliner = _Pipeliner(client)
        self._lock_get = _Script(client, _LOCK_GET, pipeliner)
        self._put_unlock = _Script(client, _PUT_UNLOCK, pipeliner)
        self._claim_lock_get = _Script(client, _CLAIM_LOCK_GET, pipeliner)
        self._put_unlock_settle = _Script(client, _PUT_UNLOCK_SETTLE, pipeliner)

    @classmethod
    def from_url(cls, url: str, namespace: str = "zc") -> RedisStore:
        # A blocking pool: past max_connections callers wait for a free connection instead
        # of failing (redis-py's default pool raises MaxConnectionsError).
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=10, socket_timeout=5, socket_connect_timeout=5
        )
        return cls(redis.Redis(connection_pool=pool), namespace)

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self.k(key))

    async def set(self, key, value, *, ttl=None, nx=False) -> bool:
        ms = _ms(ttl)
        res = await self.client.set(self.k(key), value, px=ms or None, nx=nx)
        return bool(res)

    async def delete(self, key: str) -> None:
        await self.client.delete(self.k(key))

    async def compare_and_delete(self, key, expected) -> bool:
        return bool(await self._cad(keys=[self.k(key)], args=[expected]))

    async def compare_and_set(self, key, expected, value, *, ttl=None) -> bool:
        return bool(await self._cas(keys=[self.k(key)], args=[expected, value, _ms(ttl)]))

    async def incr(self, key, *, ttl=None, amount=1) -> int:
        return int(await self._incr(keys=[self.k(key)], args=[amount, _ms(ttl)]))

    async def ttl(self, key: str) -> float | None:
        ms = await self.client.pttl(self.k(key))
        return None if ms is None or ms < 0 else ms / 1000

    async def try_lock_and_get(self, lock_key, token, *, ttl, key=None, claim=None):
        if claim is not None:
            keys = [self.k(claim.key), self.k(lock_key)]
            if key is not None:
                keys.append(self.k(key))
            status, value = await self._claim_lock_get(
                keys=keys,
                args=[claim.pending, claim.deferred, _ms(claim.ttl), token, _ms(ttl)])
            if status == 2:
                claim.holder = value
                return False, None
            claim.written = True
            return status == 1, (value or None)
        keys = [self.k(lock_key)] + ([self.k(key)] if key is not None else [])
        ok, value = await self._lock_get(keys=keys, args=[token, _ms(ttl)])
        return bool(ok), (value or None)

    async def put_and_unlock(self, lock_key, token, *, key=None, value=None, ttl=None,
                             claim=None, answer=None):
        write = key is not None and value is not None
        if claim is not None and answer is not None:
            keys = [self.k(lock_key), self.k(claim.key)] + ([self.k(key)] if write else [])
            settled = await self._put_unlock_settle(
                keys=keys, args=[token, claim.pending, answer, _ms(claim.ttl),
                                 value if write else "", _ms(ttl)])
            claim.settled = bool(settled)
            return
        keys = [self.k(lock_key)] + ([self.k(key)] if write else [])
        await self._put_unlock(keys=keys, args=[token, value if write else "", _ms(ttl)])

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self._pipeliner.close()
        await self.client.aclose()
