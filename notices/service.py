"""Notices as stored rows: create one from a checked draft, and broadcast it.

Why a thin layer: the rules live in the pure modules (drafts, targeting, payloads); this
module only turns them into rows, so the admin API, the console and the CLI create and send
notices the same way.
"""

from __future__ import annotations

from datetime import datetime

from models import Notice, NoticeSend
from notices import outbox
from notices.drafts import NoticeDraft
from notices.payloads import Templates, notice_message
from notices.publicity import PublicityWindow, is_open
from notices.targeting import NoticeScope
from notices.workdays import CalendarYearUnknown, WorkdayCalendar, default_calendar


def _codes(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


async def create_notice(
    draft: NoticeDraft, *, created_by: str, token_id: int | None, owner_league_city: str | None
) -> Notice:
    window = draft.window
    return await Notice.create(
        kind=draft.kind, title=draft.title, body=draft.body, department=draft.department,
        league_cities=_codes(draft.scope.league_cities), series=_codes(draft.scope.series),
        publicity_start=window.start if window else None,
        publicity_end=window.end if window else None,
        review_result=draft.review_result, deadline=draft.deadline,
        owner_league_city=owner_league_city, created_by=created_by, created_by_token=token_id,
    )


def scope_of(notice: Notice) -> NoticeScope:
    return NoticeScope(
        league_cities=None if notice.league_cities is None else frozenset(notice.league_cities),
        series=None if notice.series is None else frozenset(notice.series),
    )


def window_of(notice: Notice) -> PublicityWindow | None:
    if notice.kind != "publicity" or notice.publicity_start is None or notice.publicity_end is None:
        return None
    return PublicityWindow(notice.publicity_start, notice.publicity_end)


def workdays_of(notice: Notice, calendar: WorkdayCalendar | None = None) -> int | None:
    window = window_of(notice)
    if window is None:
        return None
    try:
        return (calendar or default_calendar()).workdays_between(window.start, window.end)
    except CalendarYearUnknown:
        return None


def is_publicity_open(notice: Notice, at: datetime) -> bool:
    window = window_of(notice)
    return window is not None and is_open(window, at)


def notice_url(base_url: str, notice_id: int) -> str:
    return f"{base_url}/n/{notice_id}"


async def send_notice(
    notice: Notice, *, created_by: str, templates: Templates, base_url: str
) -> NoticeSend:
    """Broadcast to every active subscriber the notice's scope reaches: one outbox send.
    A notice is broadcast once: a second call raises IntegrityError (unique dedup_key)."""
    channel, payload = notice_message(
        kind=notice.kind, title=notice.title, department=notice.department,
        url=notice_url(base_url, notice.id), templates=templates, window=window_of(notice),
        workdays=workdays_of(notice), deadline=notice.deadline,
    )
    openids = await outbox.recipients(scope_of(notice))
    return await outbox.create_send(
        purpose="notice", channel=channel, payload=payload, openids=openids,
        created_by=created_by, notice_id=notice.id, dedup_key=f"notice:{notice.id}",
    )
