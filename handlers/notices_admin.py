"""Admin API for notices under /api/v1/admin/: create and preview notices, broadcast them,
watch progress, and date the committees' events that relative deadlines count from.

Access: a bearer token (handlers.admin_auth). A league-city officer may target, see and send
only their own league city's notices; a region administrator everything. Every action that
changes something, and every preview, is written to the audit log.

Errors: 422 `{"errors": [{"field", "message"}]}` for refused input, 403 problem JSON for a
scope the officer may not use, 404 for what does not exist (or is not theirs to see), 409
for a notice already sent.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot.appkeys import SETTINGS
from handlers import json_body
from handlers.admin_auth import Officer, audit, require_role
from handlers.notices_keys import SCHEDULE, TEMPLATES, wake_delivery
from models import DeadlineEvent, Notice, NoticeSend
from notices import outbox
from notices.drafts import NoticeDraft, parse_draft
from notices.errors import FieldError, NoticeValidationError
from notices.payloads import window_text
from notices.schedule import UnknownPolicy
from notices.series import SERIES
from notices.service import create_notice, scope_of, send_notice, window_of, workdays_of
from notices.targeting import LEAGUE_CITY_OFFICER, REGION_ADMIN, targeting_refusal

PREFIX = "/api/v1/admin"


# --- shared with the console --------------------------------------------------------------
def json_error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict}[status]
    body = {"error": code, "message": message, **extra}
    return cls(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def unprocessable(errors: list[FieldError] | tuple[FieldError, ...]) -> web.Response:
    return web.json_response(
        {"errors": [{"field": e.field, "message": e.message} for e in errors]}, status=422,
        dumps=lambda d: json.dumps(d, ensure_ascii=False),
    )


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


async def read_json(request: web.Request) -> dict:
    try:
        data = await json_body.read_json(request)
    except json_body.JsonBodyError:
        data = None
    if not isinstance(data, dict):
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"errors": [{"field": "body", "message": "请求体应为 JSON 对象。"}]},
                            ensure_ascii=False),
            content_type="application/json",
        )
    return data


def draft_or_refusal(officer: Officer, raw: dict) -> NoticeDraft:
    """The checked draft; NoticeValidationError (422) or a 403 for another league city."""
    draft = parse_draft(raw)
    refusal = targeting_refusal(officer.role, officer.league_city, draft.scope)
    if refusal is not None:
        raise json_error(403, "forbidden_league_city", refusal.message,
                         errors=[{"field": refusal.field, "message": refusal.message}])
    return draft


def draft_summary(draft: NoticeDraft) -> dict:
    window = draft.window
    return {
        "kind": draft.kind, "title": draft.title, "department": draft.department,
        "league_cities": None if draft.scope.league_cities is None
        else sorted(draft.scope.league_cities),
        "series": None if draft.scope.series is None else sorted(draft.scope.series),
        "publicity_start": window.start if window else None,
        "publicity_end": window.end if window else None,
        "publicity_workdays": draft.workdays,
        "publicity_closes_at": window.closes_at.isoformat() if window else None,
        "review_result": draft.review_result,
        "deadline": draft.deadline,
        "provisional_calendar": draft.provisional_calendar,
    }


def owner_of(officer: Officer) -> str | None:
    return None if officer.role == REGION_ADMIN else officer.league_city


def may_see(officer: Officer, notice: Notice) -> bool:
    return officer.role == REGION_ADMIN or (
        officer.role == LEAGUE_CITY_OFFICER and notice.owner_league_city == officer.league_city
        and officer.league_city is not None
    )


def request_officer(request: web.Request) -> Officer:
    """The caller, authenticated by `require_role` (which stores it on the request)."""
    return request["officer"]


def visible_notices(officer: Officer):
    query = Notice.all()
    if officer.role != REGION_ADMIN:
        query = query.filter(owner_league_city=officer.league_city)
    return query


async def notice_for(officer: Officer, notice_id: int) -> Notice:
    notice = await Notice.get_or_none(id=notice_id)
    if notice is None:
        raise json_error(404, "not_found", "没有找到该通知。")
    if not may_see(officer, notice):
        raise json_error(403, "forbidden_league_city", "您只能操作本盟市的通知。")
    return notice


async def send_for(officer: Officer, send_id: int) -> NoticeSend:
    send = await NoticeSend.get_or_none(id=send_id)
    if send is None:
        raise json_error(404, "not_found", "没有找到该发送任务。")
    notice = await Notice.get_or_none(id=send.notice_id) if send.notice_id else None
    if officer.role != REGION_ADMIN and (notice is None or not may_see(officer, notice)):
        raise json_error(403, "forbidden_league_city", "您只能查看本盟市的发送任务。")
    return send


def notice_dict(notice: Notice) -> dict:
    window = window_of(notice)
    workdays = workdays_of(notice)
    return {
        "id": notice.id, "kind": notice.kind, "title": notice.title, "body": notice.body,
        "department": notice.department, "league_cities": notice.league_cities,
        "series": notice.series, "publicity_start": notice.publicity_start,
        "publicity_end": notice.publicity_end, "publicity_workdays": workdays,
        "publicity_closes_at": window.closes_at.isoformat() if window else None,
        "publicity_text": window_text(window, workdays) if window else None,
        "review_result": notice.review_result, "deadline": notice.deadline,
        "owner_league_city": notice.owner_league_city, "created_by": notice.created_by,
        "created_at": notice.created_at,
    }


async def broadcast(request: web.Request, officer: Officer, notice: Notice) -> NoticeSend:
    """Queue the notice for its scope (once); audited; wakes this process's worker."""
    refusal = targeting_refusal(officer.role, officer.league_city, scope_of(notice))
    if refusal is not None:
        raise json_error(403, "forbidden_league_city", refusal.message)
    settings = request.app[SETTINGS]
    try:
        send = await send_notice(notice, created_by=officer.name,
                                 templates=request.app[TEMPLATES],
                                 base_url=settings.public_base_url)
    except IntegrityError:
        existing = await NoticeSend.get_or_none(dedup_key=f"notice:{notice.id}")
        raise json_error(409, "already_sent", "该通知已经发送过，不能重复发送。",
                         send_id=existing.id if existing else None) from None
    await audit(request, "notice.send", target=f"notice:{notice.id}",
                detail={"send_id": send.id, "recipients": send.total})
    wake_delivery(request.app)
    return send


async def create_from(request: web.Request, officer: Officer, raw: dict) -> Notice:
    draft = draft_or_refusal(officer, raw)
    notice = await create_notice(draft, created_by=officer.name, token_id=officer.token_id,
                                 owner_league_city=owner_of(officer))
    await audit(request, "notice.create", target=f"notice:{notice.id}",
                detail={"kind": notice.kind, "title": notice.title,
                        "league_cities": notice.league_cities, "series": notice.series})
    return notice


def send_dict(send: NoticeSend, progress: outbox.Progress) -> dict:
    return {"id": send.id, "notice_id": send.notice_id, "purpose": send.purpose,
            "channel": send.channel, "created_by": send.created_by,
            "created_at": send.created_at, "progress": progress.as_dict()}


MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers (PostgreSQL `integer`)


def row_id(text: str) -> int | None:
    """A row id from a URL path, or None when no row can have it (then: not found).

    Why not int(): it takes "+5", " 5", "1_0" and non-ASCII digits, and an id beyond the
    database's integer is an error on PostgreSQL (a 500), not an empty result."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


def _int(request: web.Request, name: str) -> int:
    value = row_id(request.match_info[name])
    if value is None:
        raise json_error(404, "not_found", "没有找到。")
    return value


# --- API handlers -------------------------------------------------------------------------
@require_role()
async def preview(request: web.Request) -> web.Response:
    officer = request_officer(request)
    raw = await read_json(request)
    try:
        draft = draft_or_refusal(officer, raw)
    except NoticeValidationError as exc:
        return unprocessable(exc.errors)
    await audit(request, "notice.preview", detail={"title": draft.title})
    return ok({"draft": draft_summary(draft),
               "recipients": len(await outbox.recipients(draft.scope))})


@require_role()
async def create(request: web.Request) -> web.Response:
    officer = request_officer(request)
    raw = await read_json(request)
    try:
        notice = await create_from(request, officer, raw)
    except NoticeValidationError as exc:
        return unprocessable(exc.errors)
    return ok({"notice": notice_dict(notice)}, status=201)


@require_role()
async def list_notices(request: web.Request) -> web.Response:
    officer = request_officer(request)
    notices = await visible_notices(officer).order_by("-id").limit(200)
    return ok({"notices": [notice_dict(n) for n in notices]})


@require_role()
async def get_notice(request: web.Request) -> web.Response:
    officer = request_officer(request)
    notice = await notice_for(officer, _int(request, "id"))
    sends = await NoticeSend.filter(notice_id=notice.id).order_by("id")
    return ok({"notice": notice_dict(notice),
               "sends": [send_dict(s, await outbox.progress(s)) for s in sends]})


@require_role()
async def send(request: web.Request) -> web.Response:
    officer = request_officer(request)
    notice = await notice_for(officer, _int(request, "id"))
    queued = await broadcast(request, officer, notice)
    return ok({"send": send_dict(queued, await outbox.progress(queued)),
               "progress_url": f"{PREFIX}/sends/{queued.id}"}, status=201)


@require_role()
async def list_sends(request: web.Request) -> web.Response:
    officer = request_officer(request)
    query = NoticeSend.all()
    if officer.role != REGION_ADMIN:
        query = query.filter(notice__owner_league_city=officer.league_city)
    sends = await query.order_by("-id").limit(100)
    return ok({"sends": [send_dict(s, await outbox.progress(s)) for s in sends]})


@require_role()
async def get_send(request: web.Request) -> web.Response:
    officer = request_officer(request)
    found = await send_for(officer, _int(request, "id"))
    return ok({"send": send_dict(found, await outbox.progress(found))})


@require_role()
async def requeue_unknown(request: web.Request) -> web.Response:
    officer = request_officer(request)
    found = await send_for(officer, _int(request, "id"))
    count = await outbox.requeue_unknown(found.id)
    await audit(request, "send.requeue_unknown", target=f"send:{found.id}",
                detail={"count": count})
    wake_delivery(request.app)
    return ok({"requeued": count})


@require_role()
async def deadlines(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    schedule = request.app[SCHEDULE]
    policy = request.query.get("policy", settings.notices_policy)
    try:
        plan = schedule.policy(policy)
    except UnknownPolicy as exc:
        raise json_error(404, "unknown_policy", str(exc)) from None
    events = await DeadlineEvent.filter(policy=policy).order_by("code", "series")
    by_series: dict[str, dict[str, date]] = {}
    for e in events:
        by_series.setdefault(e.series, {})[e.code] = e.day
    groups = {"*": schedule.deadlines(policy, by_series.get("*", {}))}
    for series, dated in by_series.items():
        if series != "*":
            groups[series] = schedule.deadlines(policy, dated)
    return ok({
        "policy": policy, "title": plan.title_zh, "events": plan.events,
        "event_dates": [{"code": e.code, "series": e.series, "date": e.day, "set_by": e.set_by}
                        for e in events],
        "deadlines": {
            series: [{"code": d.code, "title": d.title_zh, "due": d.due, "clause": d.clause,
                      "audience": list(d.audience)} for d in items]
            for series, items in groups.items()
        },
    })


@require_role(REGION_ADMIN)
async def set_event(request: web.Request) -> web.Response:
    """Date a committee event (e.g. review_start) for one series or for all ("*")."""
    raw = await read_json(request)
    settings = request.app[SETTINGS]
    policy = raw.get("policy") or settings.notices_policy
    errors: list[FieldError] = []
    if not isinstance(policy, str):
        return unprocessable([FieldError("policy", "政策代码应为文字。")])
    try:
        plan = request.app[SCHEDULE].policy(policy)
    except UnknownPolicy as exc:
        return unprocessable([FieldError("policy", str(exc))])
    # Each value is checked to be a string before it is looked up: a list is not hashable.
    code = raw.get("code")
    if not isinstance(code, str) or code not in plan.events:
        known = "、".join(f"{k}（{v}）" for k, v in plan.events.items())
        errors.append(FieldError("code", f"未知的事件，可用：{known}。"))
    series = raw.get("series") or "*"
    if not isinstance(series, str) or (series != "*" and series not in SERIES):
        errors.append(FieldError("series", "未知的职称系列代码；面向所有系列请填“*”。"))
    value = raw.get("date")
    try:
        if not isinstance(value, str):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError("date", "日期应为 YYYY-MM-DD 格式。"))
    if errors:
        return unprocessable(errors)
    officer = request_officer(request)
    row, _ = await DeadlineEvent.update_or_create(
        policy=policy, code=code, series=series, defaults={"day": day, "set_by": officer.name}
    )
    await audit(request, "deadline_event.set", target=f"{policy}:{code}:{series}",
                detail={"date": day.isoformat()})
    return ok({"event": {"policy": policy, "code": code, "series": series, "date": row.day}})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/notices/preview", preview)
    r.add_post(f"{PREFIX}/notices", create)
    r.add_get(f"{PREFIX}/notices", list_notices)
    r.add_get(f"{PREFIX}/notices/{{id}}", get_notice)
    r.add_post(f"{PREFIX}/notices/{{id}}/send", send)
    r.add_get(f"{PREFIX}/sends", list_sends)
    r.add_get(f"{PREFIX}/sends/{{id}}", get_send)
    r.add_post(f"{PREFIX}/sends/{{id}}/requeue-unknown", requeue_unknown)
    r.add_get(f"{PREFIX}/deadlines", deadlines)
    r.add_put(f"{PREFIX}/deadline-events", set_event)
