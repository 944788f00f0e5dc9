"""Admin API for objections (异议): list, assign, close with a resolution.

An officer sees the objections to their league city's notices; a region administrator
all. Closing queues the answer to the applicant (notices.objections.close) and wakes the
delivery worker. Every assignment and closing is audited.
"""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import SETTINGS
from handlers.admin_auth import Officer, audit, require_role
from handlers.notices_admin import (
    PREFIX,
    json_error,
    may_see,
    ok,
    read_json,
    request_officer,
    row_id,
    unprocessable,
)
from handlers.notices_keys import TEMPLATES, wake_delivery
from models import Notice, Objection
from notices.errors import FieldError
from notices.objections import LABELS, STATUSES, ObjectionRefused, assign, close
from notices.targeting import REGION_ADMIN


def mask_contact(contact: str | None) -> str | None:
    """Lists show a contact masked; the objection's own page shows it whole."""
    if not contact:
        return contact
    if len(contact) <= 4:
        return "*" * len(contact)
    keep = max(1, len(contact) // 4)
    return contact[:keep] + "*" * (len(contact) - 2 * keep) + contact[-keep:]


def objection_dict(o: Objection, notice: Notice | None = None, *, full: bool = False) -> dict:
    return {
        "id": o.id, "reference": o.reference, "notice_id": o.notice_id,
        "notice_title": notice.title if notice else None, "item": o.item, "reason": o.reason,
        "contact": o.contact if full else mask_contact(o.contact), "status": o.status,
        "assignee": o.assignee, "resolution": o.resolution, "created_at": o.created_at,
        "assigned_at": o.assigned_at, "closed_at": o.closed_at, "closed_by": o.closed_by,
        "reply_send_id": o.reply_send_id,
    }


def visible_objections(officer: Officer, status: str | None = None):
    query = Objection.all()
    if officer.role != REGION_ADMIN:
        query = query.filter(notice__owner_league_city=officer.league_city)
    if status:
        query = query.filter(status=status)
    return query


async def objection_for(officer: Officer, objection_id: int) -> tuple[Objection, Notice]:
    objection = await Objection.get_or_none(id=objection_id)
    if objection is None:
        raise json_error(404, "not_found", "没有找到该异议。")
    notice = await Notice.get(id=objection.notice_id)
    if not may_see(officer, notice):
        raise json_error(403, "forbidden_league_city", "您只能处理本盟市公示的异议。")
    return objection, notice


async def do_assign(request: web.Request, objection: Objection, assignee: str) -> Objection:
    await assign(objection, assignee)
    await audit(request, "objection.assign", target=f"objection:{objection.id}",
                detail={"assignee": objection.assignee})
    return objection


async def do_close(request: web.Request, officer: Officer, objection: Objection,
                   resolution: str) -> Objection:
    send = await close(objection, resolution, closed_by=officer.name,
                       templates=request.app[TEMPLATES],
                       base_url=request.app[SETTINGS].public_base_url)
    await audit(request, "objection.close", target=f"objection:{objection.id}",
                detail={"reply_send_id": send.id})
    wake_delivery(request.app)
    return objection


def _id(request: web.Request) -> int:
    value = row_id(request.match_info["id"])
    if value is None:
        raise json_error(404, "not_found", "没有找到该异议。")
    return value


def _text(raw: dict, field: str) -> str | FieldError:
    """The field as text ("" when absent), or the error naming it when it is not a string
    (str() would have stored a list's repr)."""
    value = raw.get(field)
    if value is None or isinstance(value, str):
        return value or ""
    return FieldError(field, f"{LABELS[field]}应为文字。")


@require_role()
async def list_objections(request: web.Request) -> web.Response:
    officer = request_officer(request)
    status = request.query.get("status")
    if status and status not in STATUSES:
        return unprocessable([FieldError("status", "状态应为 open、assigned 或 closed。")])
    rows = await visible_objections(officer, status).order_by("-id").limit(500)
    titles = {n.id: n for n in await Notice.filter(id__in={o.notice_id for o in rows})}
    return ok({"objections": [objection_dict(o, titles.get(o.notice_id)) for o in rows]})


@require_role()
async def get_objection(request: web.Request) -> web.Response:
    objection, notice = await objection_for(request_officer(request), _id(request))
    await audit(request, "objection.view", target=f"objection:{objection.id}")
    return ok({"objection": objection_dict(objection, notice, full=True)})


@require_role()
async def assign_objection(request: web.Request) -> web.Response:
    officer = request_officer(request)
    objection, notice = await objection_for(officer, _id(request))
    assignee = _text(await read_json(request), "assignee")
    if isinstance(assignee, FieldError):
        return unprocessable([assignee])
    try:
        await do_assign(request, objection, assignee)
    except ObjectionRefused as exc:
        return unprocessable([FieldError("assignee", exc.message)])
    return ok({"objection": objection_dict(objection, notice, full=True)})


@require_role()
async def close_objection(request: web.Request) -> web.Response:
    officer = request_officer(request)
    objection, notice = await objection_for(officer, _id(request))
    resolution = _text(await read_json(request), "resolution")
    if isinstance(resolution, FieldError):
        return unprocessable([resolution])
    try:
        await do_close(request, officer, objection, resolution)
    except ObjectionRefused as exc:
        return unprocessable([FieldError("resolution", exc.message)])
    return ok({"objection": objection_dict(objection, notice, full=True)})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{PREFIX}/objections", list_objections)
    r.add_get(f"{PREFIX}/objections/{{id}}", get_objection)
    r.add_post(f"{PREFIX}/objections/{{id}}/assign", assign_objection)
    r.add_post(f"{PREFIX}/objections/{{id}}/close", close_objection)
