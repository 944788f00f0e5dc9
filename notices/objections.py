"""Objections (异议) to a publicity: filed in chat while the window is open, then handled
by HR (assign, close with a resolution), and the applicant is told the outcome.

Why the window is checked when the objection is stored (not only when the conversation
starts): a conversation begun at 23:58 on the last day must not slip in after midnight.
The window is [start 00:00, end+1 00:00) in Asia/Shanghai (notices.publicity).

Closing and telling the applicant happen in one transaction: the answer is an outbox send
of one delivery, so it goes out exactly as broadcasts do (retries, idempotency key), and
a closed objection whose answer was never queued cannot exist.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Notice, NoticeDelivery, NoticeSend, Objection
from notices.local_time import REGION_TZ
from notices.outbox import delivery_key, now_ms
from notices.payloads import Templates, objection_reply
from notices.service import is_publicity_open, notice_url, window_of
from notices.text import control_chars_message, has_control_chars

LIMITS = {"item": 200, "reason": 2000, "contact": 100, "resolution": 2000, "assignee": 100}
LABELS = {"item": "异议事项", "reason": "异议理由", "contact": "联系方式",
          "resolution": "办理结果", "assignee": "承办人"}
SINGLE_LINE = frozenset({"assignee"})  # the rest may hold line breaks (typed in chat)
STATUSES = ("open", "assigned", "closed")


class ObjectionRefused(Exception):
    """Not accepted; `message` is said to the applicant (or officer) as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def open_publicities(at: datetime) -> list[Notice]:
    """Publicity notices whose window is open at `at`, newest first."""
    day = at.astimezone(REGION_TZ).date()
    rows = await Notice.filter(
        kind="publicity", publicity_start__lte=day, publicity_end__gte=day
    ).order_by("-id")
    return [n for n in rows if is_publicity_open(n, at)]


def check_control_chars(field: str, value: str) -> None:
    """ObjectionRefused naming the field when it holds a control character (notices.text)."""
    multiline = field not in SINGLE_LINE
    if has_control_chars(value, multiline=multiline):
        raise ObjectionRefused(control_chars_message(LABELS[field], multiline=multiline))


def closed_message(notice: Notice) -> str:
    window = window_of(notice)
    if window is None:
        return "该通知不是公示，不能提出异议。"
    return (
        f"“{notice.title}”的公示期为 {window.start.isoformat()} 至 {window.end.isoformat()}，"
        "异议需在公示期内提出，现在无法受理。如有问题，请直接联系发布单位。"
    )


def _reference(at: datetime) -> str:
    local = at.astimezone(REGION_TZ)
    return f"YY{local:%Y%m%d}-{secrets.randbelow(10**6):06d}"


async def file_objection(
    *, notice_id: int, openid: str, item: str, reason: str, contact: str | None, at: datetime
) -> Objection:
    notice = await Notice.get_or_none(id=notice_id)
    if notice is None:
        raise ObjectionRefused("没有找到这条公示，请核对编号。")
    if not is_publicity_open(notice, at):
        raise ObjectionRefused(closed_message(notice))
    for name, value in (("item", item), ("reason", reason), ("contact", contact or "")):
        if len(value) > LIMITS[name]:
            raise ObjectionRefused(f"内容过长（不超过 {LIMITS[name]} 字），请精简后重新提交。")
        check_control_chars(name, value)
    for _ in range(5):
        try:
            return await Objection.create(
                reference=_reference(at), notice_id=notice.id, openid=openid, item=item,
                reason=reason, contact=contact or None, created_at=at,
            )
        except IntegrityError:
            continue  # the same reference twice on one day: draw again
    raise RuntimeError("could not allocate an objection reference")


async def assign(objection: Objection, assignee: str) -> Objection:
    if objection.status == "closed":
        raise ObjectionRefused("该异议已办结，不能再分派。")
    assignee = assignee.strip()
    if not assignee or len(assignee) > LIMITS["assignee"]:
        raise ObjectionRefused(f"请填写承办人（不超过 {LIMITS['assignee']} 字）。")
    check_control_chars("assignee", assignee)
    objection.assignee = assignee
    objection.status = "assigned"
    objection.assigned_at = datetime.now(UTC)
    await objection.save(update_fields=["assignee", "status", "assigned_at"])
    return objection


async def close(
    objection: Objection, resolution: str, *, closed_by: str, templates: Templates, base_url: str
) -> NoticeSend:
    """Close with a resolution and queue the answer to the applicant, in one transaction."""
    resolution = resolution.strip()
    if not resolution or len(resolution) > LIMITS["resolution"]:
        raise ObjectionRefused(f"请填写办理结果（不超过 {LIMITS['resolution']} 字）。")
    check_control_chars("resolution", resolution)
    notice = await Notice.get(id=objection.notice_id)
    channel, payload = objection_reply(
        reference=objection.reference, notice_title=notice.title, resolution=resolution,
        url=notice_url(base_url, notice.id), templates=templates,
    )
    async with in_transaction() as conn:
        # Conditional update: two officers closing at once cannot both queue an answer.
        changed = await Objection.filter(id=objection.id).exclude(status="closed").using_db(
            conn
        ).update(status="closed", resolution=resolution, closed_by=closed_by,
                 closed_at=datetime.now(UTC))
        if not changed:
            raise ObjectionRefused("该异议已办结。")
        send = await NoticeSend.create(
            notice_id=notice.id, purpose="objection", channel=channel, payload=payload,
            requires_subscription=False, total=1, created_by=closed_by, using_db=conn,
        )
        await NoticeDelivery.create(
            send_id=send.id, openid=objection.openid, key=delivery_key(send.id, objection.openid),
            status="pending", due_ms=now_ms(), using_db=conn,
        )
        await Objection.filter(id=objection.id).using_db(conn).update(reply_send_id=send.id)
    await objection.refresh_from_db()
    return send
