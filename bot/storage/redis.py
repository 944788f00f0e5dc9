"""Redis store (redis.asyncio), shared by every server process and worker.

Compare-and-delete / compare-and-set / incr-with-TTL are Lua scripts so each is one
atomic step on the server: that is what makes the lock and the dedup safe across hosts.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as redis
from redis.exceptions import NoScriptError

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


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, int(ttl * 1000))


class _Script:
    """EVALSHA with a load-on-miss fallback; lighter than redis-py's Script object."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id

    async def __call__(self, *, keys: list[str], args: list) -> object:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.client.eval(self.source, len(keys), *keys, *args)


class RedisStore(StateStore):
    def __init__(self, client: redis.Redis, namespace: str = "zc") -> None:
        super().__init__(namespace)
        self.client = client
        self._cad = _Script(client, _CAD)
        self._cas = _Script(client, _CAS)
        self._incr = _Script(client, _INCR)
        self._lock_get = _Script(client, _LOCK_GET)
        self._put_unlock = _Script(client, _PUT_UNLOCK)

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

    async def try_lock_and_get(self, lock_key, token, *, ttl, key=None):
        keys = [self.k(lock_key)] + ([self.k(key)] if key is not None else [])
        ok, value = await self._lock_get(keys=keys, args=[token, _ms(ttl)])
        return bool(ok), (value or None)

    async def put_and_unlock(self, lock_key, token, *, key=None, value=None, ttl=None):
        keys = [self.k(lock_key)]
        if key is not None and value is not None:
            keys.append(self.k(key))
        await self._put_unlock(keys=keys, args=[token, value if value is not None else "",
                                                _ms(ttl)])

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
