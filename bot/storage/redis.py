"""Redis store (redis.asyncio), shared by every server process and worker.

Compare-and-delete / compare-and-set / incr-with-TTL are Lua scripts so each is one
atomic step on the server: that is what makes the lock and the dedup safe across hosts.
"""

from __future__ import annotations

import redis.asyncio as redis

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


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, int(ttl * 1000))


class RedisStore(StateStore):
    def __init__(self, client: redis.Redis, namespace: str = "zc") -> None:
        super().__init__(namespace)
        self.client = client
        self._cad = client.register_script(_CAD)
        self._cas = client.register_script(_CAS)
        self._incr = client.register_script(_INCR)

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

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
