"""Who talks to us: the WeChat user record, kept up to date by a dispatcher middleware.

Every message touches `last_seen`, but at most once per ten minutes per user and process
(an in-process cache), so a chatty user costs neither a database write nor a store round
trip per message. Several processes may each write once: harmless, it is a timestamp.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.dispatcher import Context, Handler
from bot.messages import Incoming
from models import WechatUser

SEEN_TTL = 600.0


class RecentlySeen:
    """Bounded LRU of openids touched within the last `ttl` seconds."""

    def __init__(self, ttl: float = SEEN_TTL, size: int = 50_000) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, openid: str) -> bool:
        """True when the openid was not seen within ttl (and remember it now)."""
        now = time.monotonic()
        at = self._seen.get(openid)
        if at is not None and now - at < self.ttl:
            return False
        self._seen[openid] = now
        self._seen.move_to_end(openid)
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


RECENTLY_SEEN: web.AppKey[RecentlySeen] = web.AppKey("recently_seen")


async def track_user(handler: Handler, msg: Incoming, ctx: Context) -> Any:
    if ctx[RECENTLY_SEEN].first_time(msg.openid):
        user, created = await WechatUser.get_or_create(openid=msg.openid)
        if not created:
            await user.save(update_fields=["last_seen"])
    return await handler(msg, ctx)


async def mark_subscribed(openid: str, subscribed: bool) -> WechatUser:
    """Subscribe/unsubscribe events: the row stays, only the flag and its time change."""
    now = datetime.now(UTC)
    user, _ = await WechatUser.get_or_create(openid=openid)
    user.subscribed = subscribed
    if subscribed:
        user.subscribed_at = now
    else:
        user.unsubscribed_at = now
    await user.save()
    return user
