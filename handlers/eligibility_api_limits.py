"""The eligibility API's per-IP rate limit, with tokens taken from the shared counter in
chunks (a drop-in limiter for bot.ratelimit.enforce).

Why: the limit must hold across every worker process, so the counter lives in the state
store (Redis), but one Redis command costs about as much CPU as the whole evaluation
(~90 µs in redis-py against ~60 µs to evaluate and encode). Instead of one INCR per
request, a process takes `limit // share` tokens at once (INCRBY on the same fixed-window
key bot.ratelimit uses) and spends them locally; when the shared counter passes the
limit, the rest of that window is refused without asking again.

It never lets more than `limit` requests through in a window, over all processes: a
process only spends tokens it was granted below the limit. It may refuse a little early
(tokens another process holds but does not use: at most `share`-th of the limit per
process), which for a generous limit like 120 a minute does not matter. Limits below
`share` take one token at a time, exactly like bot.ratelimit.RateLimiter.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from bot.storage.base import StateStore

DEFAULT_SHARE = 20
MAX_KEYS = 20_000  # leases kept per process (IPs x windows); the oldest are dropped


class LeasedRateLimiter:
    """`hit(key, limit=, window=) -> (allowed, seconds until the window resets)`."""

    def __init__(self, store: StateStore, *, share: int = DEFAULT_SHARE,
                 max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.share = share
        self.max_keys = max_keys
        # "key:slot" -> [tokens left here, shared counter past the limit]
        self._leases: OrderedDict[str, list] = OrderedDict()
        self._fetching: dict[str, asyncio.Future] = {}  # "key:slot" -> INCRBY in flight

    async def hit(self, key: str, *, limit: int, window: float) -> tuple[bool, float]:
        now = self.clock()
        slot = math.floor(now / window)
        retry_after = (slot + 1) * window - now
        name = f"{key}:{slot}"
        while True:
            lease = self._leases.get(name)
            if lease is not None:
                if lease[0] > 0:
                    lease[0] -= 1
                    return True, retry_after
                if lease[1]:
                    return False, retry_after
            fetching = self._fetching.get(name)
            if fetching is None:
                break
            # Another request of this key is taking tokens: wait and spend from its chunk,
            # rather than reserve a chunk each (a burst would reserve far past the limit).
            await asyncio.shield(fetching)
        done = asyncio.get_running_loop().create_future()
        self._fetching[name] = done
        try:
            chunk = max(1, limit // self.share)
            count = await self.store.incr(f"rl:{name}", ttl=window + 1, amount=chunk)
        finally:
            del self._fetching[name]
            done.set_result(None)
        granted = max(0, min(count, limit) - (count - chunk))  # our tokens below the limit
        lease = self._leases.get(name)
        if lease is None:
            lease = self._leases[name] = [0, False]
            if len(self._leases) > self.max_keys:
                self._leases.popitem(last=False)
        lease[1] = lease[1] or count >= limit
        if granted == 0:
            return False, retry_after
        lease[0] += granted - 1
        return True, retry_after
