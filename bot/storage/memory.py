"""In-process store for the embedded default (one process, nothing to install).

Single-threaded asyncio makes every method atomic, as long as none awaits in the middle.
"""

from __future__ import annotations

import time

from bot.storage.base import StateStore


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class MemoryStore(StateStore):
    """Dict with expiry times; expired keys are dropped when read and swept on writes."""

    _SWEEP_EVERY = 1024

    def __init__(self, namespace: str = "zc") -> None:
        super().__init__(namespace)
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._writes = 0

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    def _put(self, key: str, value: bytes, ttl: float | None) -> None:
        self._data[key] = (value, None if ttl is None else time.monotonic() + ttl)
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:
            now = time.monotonic()
            for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
                del self._data[k]

    async def get(self, key: str) -> bytes | None:
        item = self._live(self.k(key))
        return None if item is None else item[0]

    async def set(self, key, value, *, ttl=None, nx=False) -> bool:
        key = self.k(key)
        if nx and self._live(key) is not None:
            return False
        self._put(key, _b(value), ttl)
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(self.k(key), None)

    async def compare_and_delete(self, key, expected) -> bool:
        key = self.k(key)
        item = self._live(key)
        if item is None or item[0] != _b(expected):
            return False
        del self._data[key]
        return True

    async def compare_and_set(self, key, expected, value, *, ttl=None) -> bool:
        key = self.k(key)
        item = self._live(key)
        if item is None or item[0] != _b(expected):
            return False
        self._put(key, _b(value), ttl)
        return True

    async def incr(self, key, *, ttl=None, amount=1) -> int:
        key = self.k(key)
        item = self._live(key)
        if item is None:
            self._put(key, str(amount).encode(), ttl)
            return amount
        value = int(item[0]) + amount
        self._data[key] = (str(value).encode(), item[1])
        return value

    async def ttl(self, key: str) -> float | None:
        item = self._live(self.k(key))
        if item is None or item[1] is None:
            return None
        return max(0.0, item[1] - time.monotonic())

    async def ping(self) -> bool:
        return True
