"""The delivery rows as the workers see them: claim with a lease, finish under the lease.

Why raw SQL: claiming must be one atomic statement per batch. On PostgreSQL it is
`SELECT … FOR UPDATE SKIP LOCKED` inside an UPDATE, so any number of workers take disjoint
batches without waiting for each other; SQLite has no SKIP LOCKED, but it serialises
writers, so its single worker claims with `UPDATE … WHERE id IN (SELECT … LIMIT n)`.

The lease: a claim sets `status='sending'`, a claim token in `lease_owner` and the lease's
expiry in `due_ms` (the one time column: for a pending row, when it may be sent; for a
sending row, when its lease runs out; one index serves both queries). Finishing a row is
one UPDATE that also checks `lease_owner`: a worker whose lease ran out (and whose rows
another worker took over) cannot overwrite the newer outcome. A `sending` row whose lease
expired is "in doubt": its worker died somewhere between the claim and the finish, maybe
after the platform accepted the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections

from models import NoticeDelivery, NoticeSend
from notices.payloads import SUBSCRIBE, TEMPLATE

ALL_CHANNELS = (TEMPLATE, SUBSCRIBE)


@dataclass(frozen=True)
class Claim:
    id: int
    send_id: int
    openid: str
    key: str
    attempts: int  # including this one
    owner: str  # the claim token the finish must present
    in_doubt: bool = False  # taken over from a worker whose lease expired


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    status: str  # sent | pending (retry) | failed | unknown | cancelled
    errcode: int | None = None
    errmsg: str | None = None
    msgid: str | None = None
    next_attempt_ms: int | None = None


@dataclass(frozen=True)
class SendInfo:
    channel: str
    payload: dict
    requires_subscription: bool


_PG_CLAIM = """
WITH c AS (
  SELECT id FROM notice_delivery
  WHERE status = 'pending' AND due_ms <= $1
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE notice_delivery AS d
SET status = 'sending', lease_owner = $3, due_ms = $4, attempts = d.attempts + 1
FROM c WHERE d.id = c.id
RETURNING d.id, d.send_id, d.openid, d."key", d.attempts
"""

_PG_TAKE_OVER = """
WITH c AS (
  SELECT id FROM notice_delivery
  WHERE status = 'sending' AND due_ms < $1
    AND send_id IN (SELECT id FROM notice_send WHERE channel = ANY($5::text[]))
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE notice_delivery AS d
SET lease_owner = $3, due_ms = $4, attempts = d.attempts + 1
FROM c WHERE d.id = c.id
RETURNING d.id, d.send_id, d.openid, d."key", d.attempts
"""

# in_doubt=hold: the old lease_owner stays, so a late finish of that worker still lands.
_PG_HOLD = """
WITH c AS (
  SELECT id FROM notice_delivery
  WHERE status = 'sending' AND due_ms < $1
    AND send_id IN (SELECT id FROM notice_send WHERE channel = ANY($4::text[]))
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE notice_delivery AS d
SET status = 'unknown', errmsg = $3
FROM c WHERE d.id = c.id
RETURNING d.id
"""

_PG_FINISH = """
WITH v AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[],
                       $6::text[], $7::bigint[])
    AS v(id, owner, status, errcode, errmsg, msgid, next_ms)
)
UPDATE notice_delivery AS d
SET status = v.status, errcode = v.errcode, errmsg = v.errmsg,
    msgid = COALESCE(v.msgid, d.msgid),
    due_ms = COALESCE(v.next_ms, d.due_ms),
    lease_owner = CASE WHEN v.status = 'unknown' THEN d.lease_owner ELSE NULL END,
    sent_at = CASE WHEN v.status = 'sent' THEN $8::timestamptz ELSE d.sent_at END
FROM v
WHERE d.id = v.id AND d.lease_owner = v.owner AND d.status IN ('sending', 'unknown')
RETURNING d.id
"""

_PG_RELEASE = """
WITH v AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS v(id, owner))
UPDATE notice_delivery AS d
SET status = 'pending', lease_owner = NULL, due_ms = 0, attempts = d.attempts - 1
FROM v WHERE d.id = v.id AND d.lease_owner = v.owner AND d.status = 'sending'
RETURNING d.id
"""

_LITE_CLAIM = """
UPDATE notice_delivery
SET status = 'sending', lease_owner = ?, due_ms = ?, attempts = attempts + 1
WHERE id IN (
  SELECT id FROM notice_delivery WHERE status = 'pending' AND due_ms <= ? LIMIT ?
)
RETURNING id, send_id, openid, "key", attempts
"""

_LITE_TAKE_OVER = """
UPDATE notice_delivery
SET lease_owner = ?, due_ms = ?, attempts = attempts + 1
WHERE id IN (
  SELECT id FROM notice_delivery WHERE status = 'sending' AND due_ms < ?
    AND send_id IN (SELECT id FROM notice_send WHERE channel IN (SELECT value FROM json_each(?)))
  LIMIT ?
)
RETURNING id, send_id, openid, "key", attempts
"""

_LITE_HOLD = """
UPDATE notice_delivery SET status = 'unknown', errmsg = ?
WHERE id IN (
  SELECT id FROM notice_delivery WHERE status = 'sending' AND due_ms < ?
    AND send_id IN (SELECT id FROM notice_send WHERE channel IN (SELECT value FROM json_each(?)))
  LIMIT ?
)
RETURNING id
"""

_LITE_FINISH = """
UPDATE notice_delivery
SET status = ?, errcode = ?, errmsg = ?, msgid = COALESCE(?, msgid),
    due_ms = COALESCE(?, due_ms),
    lease_owner = CASE WHEN ? = 'unknown' THEN lease_owner ELSE NULL END,
    sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
WHERE id = ? AND lease_owner = ? AND status IN ('sending', 'unknown')
"""

_LITE_RELEASE = """
UPDATE notice_delivery
SET status = 'pending', lease_owner = NULL, due_ms = 0, attempts = attempts - 1
WHERE id = ? AND lease_owner = ? AND status = 'sending'
"""

_REACHABLE = """
SELECT o.openid AS openid,
  EXISTS (SELECT 1 FROM notice_subscription s WHERE s.openid = o.openid AND s.active)
    AS subscribed,
  NOT EXISTS (SELECT 1 FROM wechat_user u WHERE u.openid = o.openid AND NOT u.subscribed)
    AS following
FROM {source}
"""
_PG_REACHABLE = _REACHABLE.format(source="unnest($1::text[]) AS o(openid)")
_LITE_REACHABLE = _REACHABLE.format(source="(SELECT value AS openid FROM json_each(?)) AS o")

HELD_MESSAGE = "outcome unknown: the worker stopped mid-send"


def _row(r) -> tuple:
    return (r["id"], r["send_id"], r["openid"], r["key"], r["attempts"])


class DeliveryStore:
    """Dialect-specific statements over the `default` Tortoise connection."""

    def __init__(self) -> None:
        self.conn = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"
        self._sent_at = NoticeDelivery._meta.fields_map["sent_at"]

    async def claim(self, owner: str, limit: int, now_ms: int, lease_ms: int) -> list[Claim]:
        """Up to `limit` due pending rows, now `sending` under `owner` until now+lease."""
        if self.postgres:
            _, rows = await self.conn.execute_query(
                _PG_CLAIM, [now_ms, limit, owner, now_ms + lease_ms]
            )
        else:
            _, rows = await self.conn.execute_query(
                _LITE_CLAIM, [owner, now_ms + lease_ms, now_ms, limit]
            )
        return [Claim(*_row(r), owner=owner) for r in rows]

    async def take_over(self, owner: str, limit: int, now_ms: int, lease_ms: int,
                        channels: Sequence[str] = ALL_CHANNELS) -> list[Claim]:
        """In-doubt rows (lease expired while `sending`) of sends on `channels`, re-leased
        to `owner` for a resend."""
        if self.postgres:
            _, rows = await self.conn.execute_query(
                _PG_TAKE_OVER, [now_ms, limit, owner, now_ms + lease_ms, list(channels)]
            )
        else:
            _, rows = await self.conn.execute_query(
                _LITE_TAKE_OVER,
                [owner, now_ms + lease_ms, now_ms, json.dumps(list(channels)), limit],
            )
        return [Claim(*_row(r), owner=owner, in_doubt=True) for r in rows]

    async def hold(self, limit: int, now_ms: int,
                   channels: Sequence[str] = ALL_CHANNELS) -> int:
        """In-doubt rows of sends on `channels` become `unknown` (held for an officer);
        returns how many."""
        if self.postgres:
            _, rows = await self.conn.execute_query(
                _PG_HOLD, [now_ms, limit, HELD_MESSAGE, list(channels)])
        else:
            _, rows = await self.conn.execute_query(
                _LITE_HOLD, [HELD_MESSAGE, now_ms, json.dumps(list(channels)), limit])
        return len(rows)

    async def finish(self, outcomes: Sequence[Outcome]) -> set[int] | None:
        """Record outcomes whose lease is still held. Returns the ids written (PostgreSQL);
        None on SQLite, which cannot say (it has one worker, so nobody takes over)."""
        if not outcomes:
            return set()
        sent_at = self._sent_at.to_db_value(datetime.now(UTC), NoticeDelivery)
        if self.postgres:
            cols = list(zip(*(
                (o.claim.id, o.claim.owner, o.status, o.errcode,
                 (o.errmsg or "")[:200] or None, o.msgid, o.next_attempt_ms)
                for o in outcomes
            ), strict=True))
            _, rows = await self.conn.execute_query(_PG_FINISH, [*map(list, cols), sent_at])
            return {r["id"] for r in rows}
        await self.conn.execute_many(_LITE_FINISH, [
            [o.status, o.errcode, (o.errmsg or "")[:200] or None, o.msgid, o.next_attempt_ms,
             o.status, o.status, sent_at, o.claim.id, o.claim.owner]
            for o in outcomes
        ])
        return None

    async def release(self, claims: Iterable[Claim]) -> None:
        """Claims never started (graceful stop) go back to `pending`, attempt not counted."""
        pairs = [(c.id, c.owner) for c in claims]
        if not pairs:
            return
        if self.postgres:
            ids, owners = (list(x) for x in zip(*pairs, strict=True))
            await self.conn.execute_query(_PG_RELEASE, [ids, owners])
        else:
            await self.conn.execute_many(_LITE_RELEASE, [list(p) for p in pairs])

    async def sends(self, send_ids: Iterable[int]) -> dict[int, SendInfo]:
        rows = await NoticeSend.filter(id__in=list(send_ids)).values(
            "id", "channel", "payload", "requires_subscription"
        )
        return {
            r["id"]: SendInfo(r["channel"], r["payload"], r["requires_subscription"])
            for r in rows
        }

    async def still_reachable(self, openids: Sequence[str]) -> tuple[set[str], set[str]]:
        """(active notice subscribers, people who still follow the account) among openids.
        One query per batch: it runs on every claim."""
        if not openids:
            return set(), set()
        if self.postgres:
            _, rows = await self.conn.execute_query(_PG_REACHABLE, [list(openids)])
        else:
            _, rows = await self.conn.execute_query(_LITE_REACHABLE, [json.dumps(openids)])
        subscribed = {r["openid"] for r in rows if r["subscribed"]}
        following = {r["openid"] for r in rows if r["following"]}
        return subscribed, following
