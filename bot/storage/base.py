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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class LockTimeout(Exception):
    """The lock could not be acquired within the caller's bound."""


@dataclass(eq=False)
class Claim:
    """A once-only record (retry dedup) claimed in the lock step and settled in the unlock.

    Why here: claiming a message id, taking the user's lock and loading the conversation
    are one step on the store, and recording the answer, saving and unlocking another, so
    a message costs two Redis round trips instead of four. The markers carry a token so
    that a claimant recognises its own claim when it polls again for a busy lock.

    `result` is called (before the unlock step) with the handler's replies, or with None
    when the handler failed, and returns the value to record for retries.
    """

    key: str
    ttl: float
    result: Callable[[Any], str | bytes] | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    written: bool = False  # our pending marker is in the store
    holder: bytes | None = None  # somebody else's marker or answer: we must not run
    settled: bool = False  # the unlock step replaced our pending marker with the answer

    PENDING = b"P"
    DEFERRED = b"D"

    @property
    def pending(self) -> bytes:
        return self.PENDING + self.token.encode()

    @property
    def deferred(self) -> bytes:
        return self.DEFERRED + self.token.encode()

    def ours(self, value: bytes | None) -> bool:
        return value in (self.pending, self.deferred)


class StateStore(ABC):
    """Key-value store with TTLs and a few atomic operations. Keys are namespaced."""

    def __init__(self, namespace: str = "zc") -> None:
        self.namespace = namespace
        # Lock key -> [future resolved at this process's next release of it, waiters].
        self._releases: dict[str, list] = {}

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
        self, lock_key: str, token: str, *, ttl: float, key: str | None = None,
        claim: Claim | None = None,
    ) -> tuple[bool, bytes | None]:
        """Take the lock if it is free and, if so, read `key` in the same step.

        With `claim`: first claim its key (unless the claim is already ours); when somebody
        else holds it, set `claim.holder` and leave the lock alone.
        """
        if claim is not None and not await self._claim(claim):
            return False, None
        if not await self.set(lock_key, token, ttl=ttl, nx=True):
            return False, None
        return True, (await self.get(key) if key is not None else None)

    async def _claim(self, claim: Claim) -> bool:
        while True:
            if await self.set(claim.key, claim.pending, ttl=claim.ttl, nx=True):
                claim.written = True
                return True
            held = await self.get(claim.key)
            if claim.ours(held):
                return True
            if held is not None:
                claim.holder = held
                return False

    async def put_and_unlock(
        self, lock_key: str, token: str, *, key: str | None = None,
        value: bytes | str | None = None, ttl: float | None = None,
        claim: Claim | None = None, answer: bytes | str | None = None,
    ) -> None:
        """Write `key` (when a value is given) and release the lock if still ours.

        With `claim`: record `answer` on it if it still holds our pending marker
        (`claim.settled` says whether it did).
        """
        if key is not None and value is not None:
            await self.set(key, value, ttl=ttl)
        await self.compare_and_delete(lock_key, token)
        if claim is not None and answer is not None:
            claim.settled = await self.compare_and_set(claim.key, claim.pending, answer,
                                                       ttl=claim.ttl)

    # --- helpers written once ----------------------------------------------------------
    async def get_json(self, key: str) -> Any:
        raw = await self.get(key)
        return None if raw is None else json.loads(raw)

    async def set_json(
        self, key: str, value: Any, *, ttl: float | None = None, nx: bool = False
    ) -> bool:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return await self.set(key, data, ttl=ttl, nx=nx)

    # --- waking local lock waiters (see Lock.acquire) -----------------------------------
    async def _wait_local_release(self, key: str, at_most: float) -> None:
        """Sleep up to `at_most` seconds, less if this process releases `key` meanwhile."""
        entry = self._releases.get(key)
        if entry is None:
            entry = self._releases[key] = [asyncio.get_running_loop().create_future(), 0]
        entry[1] += 1
        try:
            await asyncio.wait((entry[0],), timeout=at_most)
        finally:
            entry[1] -= 1
            if entry[1] == 0 and self._releases.get(key) is entry:
                del self._releases[key]

    def _local_release(self, key: str) -> None:
        entry = self._releases.pop(key, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(None)

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
        self.first_poll, self.max_poll = 0.002, 0.05  # seconds between attempts
        self.acquired = False
        self.value: bytes | None = None

    async def acquire(self, *, blocking: bool = True, read: str | None = None,
                      claim: Claim | None = None) -> bool:
        """Take the lock (polling with backoff up to `timeout`).

        With `read`, that key is read in the same step once the lock is held (one round
        trip on Redis); the value is then in `self.value`. With `claim`, the claim is taken
        in that step too; when somebody else holds it this returns False at once.
        """
        deadline = time.monotonic() + self.timeout
        delay = self.first_poll
        while True:
            try:
                ok, value = await self.store.try_lock_and_get(
                    self.key, self.token, ttl=self.ttl, key=read, claim=claim)
            except Exception:
                # The step may have run with its answer lost (a dropped connection): give
                # back what it may have taken, so the user's next message does not wait
                # out the lock's TTL. Nothing ran under the lock, so a retry may run it.
                await self._give_back(claim)
                raise
            if ok:
                self.acquired = True
                self.value = value
                return True
            if not blocking or (claim is not None and claim.holder is not None):
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(self.key)
            # Polling finds a holder in another process; a holder in this one wakes us
            # as soon as it releases (no oversleeping, no wasted round trips).
            await self.store._wait_local_release(self.key, min(delay, left))
            delay = min(delay * 2, self.max_poll)

    async def release(self, *, write: str | None = None, value: bytes | str | None = None,
                      ttl: float | None = None, claim: Claim | None = None,
                      answer: bytes | str | None = None) -> None:
        """Release; with `write`, store `value` there first, and with `claim`, record
        `answer` on it, all in the same step."""
        if self.acquired:
            self.acquired = False
            try:
                await self.store.put_and_unlock(self.key, self.token, key=write, value=value,
                                                ttl=ttl, claim=claim, answer=answer)
            except Exception:
                await self._give_back(None)  # the step may not have run: unlock at least
                raise
            finally:
                self.store._local_release(self.key)

    async def _give_back(self, claim: Claim | None) -> None:
        """Best effort, after a step failed: release the lock if it is still ours and,
        with `claim`, our pending marker (never an answer). Each is a compare-and-delete
        on our token, so it is safe whether or not the failed step ran; it goes out on a
        fresh connection (a dropped one is not reused), and its own failure is ignored."""
        try:
            await self.store.compare_and_delete(self.key, self.token)
            if claim is not None:
                await self.store.compare_and_delete(claim.key, claim.pending)
        except Exception:  # noqa: S110 - the store is unreachable: the TTLs will do it
            pass

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
