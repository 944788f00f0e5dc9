"""One send rate (messages per second) for every delivery worker, through the state store.

Why in the store: the platform's quota is per account, not per process; with Redis the
budget is shared by all workers on all hosts. Time is cut into windows (1 s, or 1/rate s
below one message a second); each window's budget is a counter in the store. A worker takes
a few tokens at a time (one INCRBY), so the store sees a fraction of the message rate, and
tokens taken but not granted simply do not count: the counter can pass the budget, the
grants cannot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from bot.storage.base import StateStore


class GlobalRate:
    """`await acquire()` before each message. rate <= 0 means no limit."""

    def __init__(
        self,
        store: StateStore,
        rate: float,
        *,
        key: str = "delivery:rate",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.rate = rate
        self.key = key
        self.clock = clock
        self.sleep = sleep
        self.window = max(1.0, 1.0 / rate) if rate > 0 else 1.0
        self.budget = max(1, round(rate * self.window)) if rate > 0 else 0
        self.chunk = max(1, min(50, self.budget // 20))
        self._tokens = 0
        self._token_window = -1
        self._lock = asyncio.Lock()

    @property
    def limited(self) -> bool:
        return self.rate > 0

    async def acquire(self) -> None:
        if not self.limited:
            return
        async with self._lock:
            while True:
                now = self.clock()
                slot = math.floor(now / self.window)
                if self._tokens > 0 and self._token_window == slot:
                    self._tokens -= 1
                    return
                want = self.chunk
                count = await self.store.incr(
                    f"{self.key}:{slot}", ttl=self.window * 2 + 1, amount=want
                )
                granted = max(0, min(want, self.budget - (count - want)))
                if granted:
                    self._tokens, self._token_window = granted - 1, slot
                    return
                await self.sleep(max(0.001, (slot + 1) * self.window - now))
