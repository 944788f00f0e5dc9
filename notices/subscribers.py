"""Applicants' subscriptions to notices (订阅 / 退订 / 我的订阅 in chat).

Why a row per openid that is deactivated rather than deleted: 退订 must stop deliveries
already queued (workers check `active` at claim time), and a later 订阅 simply reactivates
it with the new choices.
"""

from __future__ import annotations

from models import NoticeSubscription
from notices.targeting import Subscription


async def subscribe(openid: str, league_city: str | None, series: list[str]) -> NoticeSubscription:
    """Store (or replace) the choices; raises NoticeValidationError on unknown codes."""
    checked = Subscription(league_city=league_city, series=frozenset(series))
    row, _ = await NoticeSubscription.update_or_create(
        openid=openid,
        defaults={"league_city": checked.league_city, "series": sorted(checked.series),
                  "active": True},
    )
    return row


async def unsubscribe(openid: str) -> bool:
    """Stop everything; returns whether there was an active subscription."""
    return bool(await NoticeSubscription.filter(openid=openid, active=True).update(active=False))


async def current(openid: str) -> NoticeSubscription | None:
    return await NoticeSubscription.get_or_none(openid=openid, active=True)
