"""Who talks to us: the WeChat user record, kept up to date by a dispatcher middleware.

Every message touches `last_seen`, but at most once per ten minutes per user (a marker
in the state store), so a chatty user costs no database write per message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.appkeys import STORE
from bot.dispatcher import Context, Handler
from bot.messages import Incoming
from models import WechatUser

SEEN_TTL = 600


async def track_user(handler: Handler, msg: Incoming, ctx: Context) -> Any:
    store = ctx[STORE]
    if await store.set(f"seen:{msg.openid}", "1", ttl=SEEN_TTL, nx=True):
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
