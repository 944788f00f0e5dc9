"""The outbox: a send and one delivery row per recipient, written in one transaction.

Why an outbox: the officer's "send" and the list of who gets it become durable together or
not at all; delivery workers then work through the rows at their own pace, and a worker
that dies loses nothing (see notices/delivery.py). Recipients are chosen with the pure rule
`notices.targeting.matches`, so the console's preview count and the send agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models import NoticeDelivery, NoticeSend, NoticeSubscription, WechatUser
from notices.delivery_policy import errcode_label
from notices.errors import NoticeValidationError
from notices.targeting import NoticeScope, Subscription, matches

INSERT_CHUNK = 2000
FINAL = ("sent", "failed", "unknown", "cancelled")


def now_ms() -> int:
    return int(time.time() * 1000)


def delivery_key(send_id: int, openid: str) -> str:
    """Unique per message; also the idempotency key the worker sends with it."""
    return f"s{send_id}:{openid}"


def _subscription(league_city: str | None, series: object) -> Subscription | None:
    try:
        codes = frozenset(series) if isinstance(series, list) else frozenset()
        return Subscription(league_city=league_city, series=codes)
    except (NoticeValidationError, TypeError):
        return None  # a code no longer known: such a row matches nothing until updated


async def recipients(scope: NoticeScope) -> list[str]:
    """Active subscribers the scope reaches who still follow the account."""
    gone = set(await WechatUser.filter(subscribed=False).values_list("openid", flat=True))
    rows = await NoticeSubscription.filter(active=True).order_by("id").values_list(
        "openid", "league_city", "series"
    )
    found = []
    for openid, league_city, series in rows:
        sub = _subscription(league_city, series)
        if openid not in gone and sub is not None and matches(scope, sub):
            found.append(openid)
    return found


async def create_send(
    *,
    purpose: str,
    channel: str,
    payload: dict,
    openids: Iterable[str],
    created_by: str,
    notice_id: int | None = None,
    dedup_key: str | None = None,
    requires_subscription: bool = True,
) -> NoticeSend:
    """The send and its delivery rows, in one transaction (raises IntegrityError when a
    send with the same `dedup_key` exists: that broadcast was queued already)."""
    unique = list(dict.fromkeys(openids))
    due = now_ms()
    async with in_transaction() as conn:
        send = await NoticeSend.create(
            notice_id=notice_id, purpose=purpose, channel=channel, payload=payload,
            dedup_key=dedup_key, requires_subscription=requires_subscription,
            total=len(unique), created_by=created_by, using_db=conn,
        )
        for start in range(0, len(unique), INSERT_CHUNK):
            rows = [
                NoticeDelivery(send_id=send.id, openid=o, key=delivery_key(send.id, o),
                               status="pending", due_ms=due)
                for o in unique[start : start + INSERT_CHUNK]
            ]
            await NoticeDelivery.bulk_create(rows, using_db=conn)
    return send


@dataclass(frozen=True)
class FailureGroup:
    status: str  # failed | unknown | cancelled
    errcode: int | None
    label: str
    count: int


@dataclass(frozen=True)
class Progress:
    send_id: int
    total: int
    pending: int = 0  # waiting, or being sent right now
    sent: int = 0
    failed: int = 0
    unknown: int = 0  # outcome unknown (in_doubt=hold): an officer decides
    cancelled: int = 0  # recipient unsubscribed before it went out
    failures: tuple[FailureGroup, ...] = field(default_factory=tuple)

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.unknown + self.cancelled

    @property
    def finished(self) -> bool:
        return self.pending == 0

    @property
    def percent(self) -> float:
        # Rounded down: 1999 of 2000 is 99.9 %, never a 100.0 % that is not finished.
        return 100.0 if self.total == 0 else (1000 * self.done // self.total) / 10

    def as_dict(self) -> dict:
        return {
            "send_id": self.send_id, "total": self.total, "pending": self.pending,
            "sent": self.sent, "failed": self.failed, "unknown": self.unknown,
            "cancelled": self.cancelled, "done": self.done, "percent": self.percent,
            "finished": self.finished,
            "failures": [
                {"status": g.status, "errcode": g.errcode, "label": g.label, "count": g.count}
                for g in self.failures
            ],
        }


async def progress(send: NoticeSend) -> Progress:
    rows = (
        await NoticeDelivery.filter(send_id=send.id)
        .annotate(n=Count("id"))
        .group_by("status", "errcode")
        .values("status", "errcode", "n")
    )
    counts = {"pending": 0, "sent": 0, "failed": 0, "unknown": 0, "cancelled": 0}
    groups = []
    for row in rows:
        status = "pending" if row["status"] in ("pending", "sending") else row["status"]
        counts[status] += row["n"]
        if status in ("failed", "unknown"):
            groups.append(FailureGroup(status, row["errcode"], errcode_label(row["errcode"]),
                                       row["n"]))
    groups.sort(key=lambda g: (-g.count, g.errcode or 0))
    return Progress(send_id=send.id, total=send.total, failures=tuple(groups), **counts)


async def requeue_unknown(send_id: int) -> int:
    """An officer accepts the risk of a duplicate: `unknown` rows are sent again, with a
    fresh series of attempts (their count had run out: one transient error would fail
    them at once). The key stays, so WeChat can still recognise a repeat."""
    return await NoticeDelivery.filter(send_id=send_id, status="unknown").update(
        status="pending", lease_owner=None, due_ms=now_ms(), attempts=0
    )
