"""Fixed-window rate limits on the state store, shared by every process.

Anything a stranger can call gets one: the key says who (IP, token), the window is short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from aiohttp import web

from bot.storage.base import StateStore


class RateLimiter:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def hit(self, key: str, *, limit: int, window: float) -> tuple[bool, float]:
        """Count one hit; returns (allowed, seconds until the window resets)."""
        now = time.time()
        slot = math.floor(now / window)
        count = await self.store.incr(f"rl:{key}:{slot}", ttl=window + 1)
        retry_after = (slot + 1) * window - now
        return count <= limit, retry_after


def client_ip(request: web.Request) -> str:
    """The peer address (behind a proxy, configure aiohttp's forwarded handling)."""
    return request.remote or "unknown"


async def enforce(
    request: web.Request,
    limiter: RateLimiter,
    name: str,
    *,
    limit: int,
    window: float,
    key: Callable[[web.Request], str] = client_ip,
) -> None:
    """Raise 429 with Retry-After when the caller is over the limit."""
    allowed, retry_after = await limiter.hit(f"{name}:{key(request)}", limit=limit, window=window)
    if not allowed:
        raise web.HTTPTooManyRequests(
            text='{"error": "rate_limited", "message": "请求过于频繁，请稍后再试"}',
            content_type="application/json",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )
