"""The state-store interface.

Why so small: conversation state, retry dedup, the access-token cache, locks and rate
limits all reduce to a handful of atomic primitives (set-if-absent with TTL, compare-and-
delete, counters with TTL). Each backend implements only those; the lock and the JSON
helpers are written once here, so the in-process store and Redis behave the same and one
test class runs over both.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from abc import ABC, abstractmethod
from typing import Any


class LockTimeout(Exception):
    """The lock could not be acquired within the caller's bound."""


class StateStore(ABC):
    """Key-value store with TTLs and a few atomic operations. Keys are namespaced."""

    def __init__(self, namespace: str = "zc") -> None:
        self.namespace = namespace

    def k(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    # --- primitives each backend implements -------------------------------------------
    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        """Store value; with nx only if the key is absent. Returns whether it was stored."""

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    async def compare_and_delete(self, key: str, expected: bytes | str) -> bool:
        """Delete key only if it still holds `expected` (lock release)."""

    @abstractmethod
    async def compare_and_set(
        self, key: str, expected: bytes | str, value: bytes | str, *, ttl: float | None = None
    ) -> bool:
        """Replace key's value only if it still holds `expected`."""

    @abstractmethod
    async def incr(self, key: str, *, ttl: float | None = None, amount: int = 1) -> int:
        """Add to a counter; the TTL is set when the counter is created."""

    @abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds left, None if the key is absent or has no expiry."""

    @abstractmethod
    async def ping(self) -> bool: ...

    async def close(self) -> None:
        return None

    # --- combined steps (one round trip on Redis; plain sequences here) -----------------
    async def try_lock_and_get(
        self, lock_key: str, token: str, *, ttl: float, key: str | None = None
    ) -> tuple[bool, bytes | None]:
        """Take the lock if it is free and, if so, read `key` in the same step."""
        if not await self.set(lock_key, token, ttl=ttl, nx=True):
            return False, None
        return True, (await self.get(key) if key is not None else None)

    async def put_and_unlock(
        self, lock_key: str, token: str, *, key: str | None = None,
        value: bytes | str | None = None, ttl: float | None = None,
    ) -> None:
        """Write `key` (when a value is given) and release the lock if still ours."""
        if key is not None and value is not None:
            await self.set(key, value, ttl=ttl)
        await self.compare_and_delete(lock_key, token)

    # --- helpers written once ----------------------------------------------------------
    async def get_json(self, key: str) -> Any:
        raw = await self.get(key)
        return None if raw is None else json.loads(raw)

    async def set_json(
        self, key: str, value: Any, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return await self.set(key, data, ttl=ttl, nx=nx)

    def lock(self, name: str, *, ttl: float = 10.0, timeout: float = 5.0) -> Lock:
        """A mutex shared by every process on this store (per-process for memory)."""
        return Lock(self, f"lock:{name}", ttl=ttl, timeout=timeout)


class Lock:
    """Mutex on set-if-absent with an owner token and a TTL, released by compare-and-delete.

    The TTL bounds how long a crashed holder can block others; the token makes sure a
    holder whose lease ran out never releases somebody else's lock.
    """

    def __init__(self, store: StateStore, key: str, *, ttl: float, timeout: float) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        self.timeout = timeout
        self.token = secrets.token_hex(16)
        self.acquired = False
        self.value: bytes | None = None

    async def acquire(self, *, blocking: bool = True, read: str | None = None) -> bool:
        """Take the lock (polling with backoff up to `timeout`).

        With `read`, that key is read in the same step once the lock is held (one round
        trip on Redis); the value is then in `self.value`.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            ok, value = await self.store.try_lock_and_get(self.key, self.token, ttl=self.ttl,
                                                          key=read)
            if ok:
                self.acquired = True
                self.value = value
                return True
            if not blocking:
                return False
            if time.monotonic() >= deadline:
                raise LockTimeout(self.key)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def release(self, *, write: str | None = None, value: bytes | str | None = None,
                      ttl: float | None = None) -> None:
        """Release; with `write`, store `value` there first, in the same step."""
        if self.acquired:
            self.acquired = False
            await self.store.put_and_unlock(self.key, self.token, key=write, value=value,
                                            ttl=ttl)

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
