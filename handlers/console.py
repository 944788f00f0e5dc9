"""The HR console: server-rendered pages (aiohttp + Jinja2) under /console/.

Log in with a token (kept in an HttpOnly, SameSite=Strict cookie), write and preview a
notice (with the computed end of its publicity window), send it, watch the progress live,
and work through objections. The pages call the same functions as the admin API
(handlers.notices_admin / notices_objections), so both refuse the same things and write the
same audit records.

CSRF: every form carries `_csrf`, a hash of the session token; a cross-site page knows
neither. The progress bar polls the admin API with the same cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.appkeys import SETTINGS
from handlers.admin_auth import Officer, audit, authenticate, bearer, count_auth_failure
from handlers.notices_admin import (
    broadcast,
    create_from,
    draft_or_refusal,
    draft_summary,
    may_see,
    notice_dict,
    row_id,
    send_dict,
    visible_notices,
)
from handlers.notices_keys import TEMPLATES
from handlers.notices_objections import (
    do_assign,
    do_close,
    mask_contact,
    objection_dict,
    visible_objections,
)
from models import Notice, NoticeSend, Objection
from notices import outbox
from notices.drafts import KINDS
from notices.errors import NoticeValidationError
from notices.league_cities import LEAGUE_CITIES, LEAGUE_CITY_BY_CODE
from notices.local_time import REGION_TZ
from notices.objections import STATUSES, ObjectionRefused
from notices.payloads import notice_message
from notices.series import SERIES
from notices.service import notice_url, scope_of
from notices.targeting import REGION_ADMIN

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = TEMPLATE_DIR / "console" / "static"
CONSOLE_JINJA: web.AppKey[jinja2.Environment] = web.AppKey("console_jinja")
COOKIE = "zc_admin"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")

STATUS_LABELS = {"open": "待处理", "assigned": "办理中", "closed": "已办结"}
ROLE_LABELS = {REGION_ADMIN: "自治区管理员", "league_city_officer": "盟市经办人"}


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(f"zc-console-csrf:{session_token}".encode()).hexdigest()


CITY_NAMES = {c.code: c.name_zh for c in LEAGUE_CITIES}


def names_of(codes: list[str] | None, table: dict[str, str], all_label: str) -> str:
    return all_label if codes is None else "、".join(table.get(c, c) for c in codes)


def scope_labels(league_cities: list[str] | None, series: list[str] | None) -> tuple[str, str]:
    """("包头市", "工程技术、卫生") or ("全区", "全部系列"), for pages."""
    return names_of(league_cities, CITY_NAMES, "全区"), names_of(series, SERIES, "全部系列")


def add_security_headers(response: web.StreamResponse) -> None:
    """The console's headers, on every response under /console (applied by
    handlers.path_middleware)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


async def page_officer(request: web.Request) -> Officer:
    """The logged-in officer, or a redirect to the login page.

    A token that does not authenticate counts against the same per-IP budget as the API's
    (429 past it), so the cookie is no way around that limit; the redirect drops the cookie,
    so an expired or revoked session costs one count, not one per page. No token at all is
    simply not logged in."""
    token = bearer(request)
    officer = await authenticate(token)
    if officer is None:
        if token:
            await count_auth_failure(request)
        redirect = web.HTTPSeeOther("/console/login")
        if COOKIE in request.cookies:
            redirect.del_cookie(COOKIE, path="/")
        raise redirect
    request["officer"] = officer
    return officer


async def checked_form(request: web.Request) -> dict[str, Any]:
    """The posted form, after the CSRF check (403 when it fails)."""
    form = await request.post()
    token = bearer(request) or ""
    if not hmac.compare_digest(str(form.get("_csrf", "")), csrf_token(token)):
        raise web.HTTPForbidden(text="表单已失效，请刷新页面后重试。")
    return dict(form)


def render(request: web.Request, name: str, context: dict[str, Any], status: int = 200):
    officer: Officer | None = request.get("officer")
    base = {
        "officer": officer,
        "role_label": ROLE_LABELS.get(officer.role, officer.role) if officer else "",
        "city_label": CITY_NAMES.get(officer.league_city or "", "") if officer else "",
        "csrf": csrf_token(bearer(request) or "") if officer else "",
        "kinds": KINDS,
        "status_labels": STATUS_LABELS,
        "tz": REGION_TZ,
    }
    return aiohttp_jinja2.render_template(
        f"console/{name}", request, {**base, **context}, app_key=CONSOLE_JINJA, status=status
    )


# --- login --------------------------------------------------------------------------------
async def login_page(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", {"error": None})


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", "")).strip()
    officer = await authenticate(token)
    if officer is None:
        await count_auth_failure(request)
        return render(request, "login.html", {"error": "令牌无效或已停用，请核对后重试。"},
                      status=401)
    request["officer"] = officer
    await audit(request, "console.login")
    response = web.HTTPSeeOther("/console/notices")
    secure = request.app[SETTINGS].public_base_url.startswith("https://")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure,
                        path="/", max_age=8 * 3600)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await page_officer(request)
    await checked_form(request)
    await audit(request, "console.logout")
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/notices")


# --- notices ------------------------------------------------------------------------------
def _scope_text(notice: Notice) -> tuple[str, str]:
    return scope_labels(notice.league_cities, notice.series)


async def notices_page(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    notices = await visible_notices(officer).order_by("-id").limit(100)
    sent = {s.notice_id: s.id for s in await NoticeSend.filter(
        notice_id__in=[n.id for n in notices], purpose="notice")}
    rows = [{"n": notice_dict(n), "scope": _scope_text(n), "send_id": sent.get(n.id)}
            for n in notices]
    return render(request, "notices.html", {"rows": rows})


def form_to_raw(form: dict[str, Any], officer: Officer, multi: dict[str, list[str]]) -> dict:
    """The console form as the API's JSON shape (notices.drafts)."""
    raw: dict[str, Any] = {k: form.get(k, "") for k in (
        "kind", "title", "body", "department", "publicity_start", "publicity_end",
        "publicity_workdays", "deadline")}
    raw["review_result"] = form.get("review_result") == "on"
    if officer.role != REGION_ADMIN:
        raw["league_cities"] = [officer.league_city]
    elif form.get("league_scope") == "some":
        raw["league_cities"] = multi.get("league_cities", [])
    else:
        raw["league_cities"] = "all"
    raw["series"] = "all" if form.get("series_scope") != "some" else multi.get("series", [])
    if not raw["publicity_end"]:
        raw.pop("publicity_end")
    return raw


def _form_context(officer: Officer, form: dict[str, Any], multi: dict[str, list[str]]) -> dict:
    return {
        "form": form,
        "chosen_cities": set(multi.get("league_cities", [])),
        "chosen_series": set(multi.get("series", [])),
        "cities": LEAGUE_CITIES,
        "series": SERIES,
        "own_city": LEAGUE_CITY_BY_CODE.get(officer.league_city or ""),
    }


async def new_notice_page(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    form = {"kind": "publicity", "publicity_workdays": "5", "review_result": "on",
            "league_scope": "all", "series_scope": "all"}
    return render(request, "notice_new.html",
                  {**_form_context(officer, form, {}), "errors": {}, "preview": None})


async def new_notice(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    posted = await request.post()
    form = await checked_form(request)
    multi = {k: [str(v) for v in posted.getall(k, [])] for k in ("league_cities", "series")}
    raw = form_to_raw(form, officer, multi)
    context = _form_context(officer, form, multi)
    try:
        if form.get("action") == "create":
            notice = await create_from(request, officer, raw)
            raise web.HTTPSeeOther(f"/console/notices/{notice.id}")
        draft = draft_or_refusal(officer, raw)
    except NoticeValidationError as exc:
        errors = {e.field: e.message for e in exc.errors}
        return render(request, "notice_new.html",
                      {**context, "errors": errors, "preview": None}, status=422)
    except web.HTTPForbidden as exc:
        message = json.loads(exc.text or "{}").get("message", "无权发布到该范围。")
        return render(request, "notice_new.html",
                      {**context, "errors": {"league_cities": message}, "preview": None},
                      status=403)
    settings = request.app[SETTINGS]
    channel, payload = notice_message(
        kind=draft.kind, title=draft.title, department=draft.department,
        url=notice_url(settings.public_base_url, 0), templates=request.app[TEMPLATES],
        window=draft.window, workdays=draft.workdays, deadline=draft.deadline)
    summary = draft_summary(draft)
    cities, series = scope_labels(summary["league_cities"], summary["series"])
    preview = {"summary": summary, "channel": channel, "payload": payload,
               "recipients": len(await outbox.recipients(draft.scope)),
               "cities": cities, "series": series}
    await audit(request, "notice.preview", detail={"title": draft.title})
    return render(request, "notice_new.html", {**context, "errors": {}, "preview": preview})


async def _notice_or_404(officer: Officer, request: web.Request) -> Notice:
    notice_id = row_id(request.match_info["id"])
    notice = await Notice.get_or_none(id=notice_id) if notice_id else None
    if notice is None:
        raise web.HTTPNotFound(text="没有找到该通知。")
    if not may_see(officer, notice):
        raise web.HTTPForbidden(text="您只能查看本盟市的通知。")
    return notice


async def notice_page(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    notice = await _notice_or_404(officer, request)
    sends = [send_dict(s, await outbox.progress(s))
             for s in await NoticeSend.filter(notice_id=notice.id).order_by("id")]
    objections = await Objection.filter(notice_id=notice.id).count()
    return render(request, "notice.html", {
        "n": notice_dict(notice), "scope": _scope_text(notice), "sends": sends,
        "objections": objections,
        "recipients": len(await outbox.recipients(scope_of(notice))),
    })


async def send_notice(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    notice = await _notice_or_404(officer, request)
    await checked_form(request)
    try:
        send = await broadcast(request, officer, notice)
    except web.HTTPConflict as exc:
        existing = json.loads(exc.text or "{}").get("send_id")
        if existing:
            raise web.HTTPSeeOther(f"/console/sends/{existing}") from None
        raise
    raise web.HTTPSeeOther(f"/console/sends/{send.id}")


async def send_page(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    send_id = row_id(request.match_info["id"])
    send = await NoticeSend.get_or_none(id=send_id) if send_id else None
    if send is None:
        raise web.HTTPNotFound(text="没有找到该发送任务。")
    notice = await Notice.get_or_none(id=send.notice_id) if send.notice_id else None
    if officer.role != REGION_ADMIN and (notice is None or not may_see(officer, notice)):
        raise web.HTTPForbidden(text="您只能查看本盟市的发送任务。")
    progress = await outbox.progress(send)
    return render(request, "send.html", {
        "send": send_dict(send, progress), "p": progress,
        "n": notice_dict(notice) if notice else None,
        "scope": _scope_text(notice) if notice else ("", ""),
    })


# --- objections ---------------------------------------------------------------------------
async def objections_page(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    status = request.query.get("status") or None
    if status not in (None, *STATUSES):
        status = None
    rows = await visible_objections(officer, status).order_by("-id").limit(500)
    notices = {n.id: n for n in await Notice.filter(id__in={o.notice_id for o in rows})}
    items = [{**objection_dict(o, notices.get(o.notice_id)),
              "contact": mask_contact(o.contact)} for o in rows]
    return render(request, "objections.html", {"items": items, "status": status})


async def _objection_or_404(officer: Officer, request: web.Request) -> tuple[Objection, Notice]:
    objection_id = row_id(request.match_info["id"])
    objection = await Objection.get_or_none(id=objection_id) if objection_id else None
    if objection is None:
        raise web.HTTPNotFound(text="没有找到该异议。")
    notice = await Notice.get(id=objection.notice_id)
    if not may_see(officer, notice):
        raise web.HTTPForbidden(text="您只能处理本盟市公示的异议。")
    return objection, notice


async def objection_page(request: web.Request, error: str | None = None,
                         status: int = 200) -> web.StreamResponse:
    officer = await page_officer(request)
    objection, notice = await _objection_or_404(officer, request)
    await audit(request, "objection.view", target=f"objection:{objection.id}")
    return render(request, "objection.html", {
        "o": objection_dict(objection, notice, full=True), "n": notice_dict(notice),
        "error": error,
    }, status=status)


def _form_text(form: dict[str, Any], key: str) -> str:
    """A text field of a posted form; "" for an uploaded file (str() would store its repr)."""
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


async def objection_action(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request)
    objection, _ = await _objection_or_404(officer, request)
    form = await checked_form(request)
    try:
        if request.match_info["action"] == "assign":
            await do_assign(request, objection, _form_text(form, "assignee"))
        else:
            await do_close(request, officer, objection, _form_text(form, "resolution"))
    except ObjectionRefused as exc:
        return await objection_page(request, exc.message, status=422)
    raise web.HTTPSeeOther(f"/console/objections/{objection.id}")


def setup_console(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), app_key=CONSOLE_JINJA,
        autoescape=jinja2.select_autoescape(["html"]), default_helpers=False,
    )
    r = app.router
    r.add_get("/console", home)
    r.add_get("/console/", home)
    r.add_get("/console/login", login_page)
    r.add_post("/console/login", login)
    r.add_post("/console/logout", logout)
    r.add_get("/console/notices", notices_page)
    r.add_get("/console/notices/new", new_notice_page)
    r.add_post("/console/notices/new", new_notice)
    r.add_get("/console/notices/{id}", notice_page)
    r.add_post("/console/notices/{id}/send", send_notice)
    r.add_get("/console/sends/{id}", send_page)
    r.add_get("/console/objections", objections_page)
    r.add_get("/console/objections/{id}", objection_page)
    r.add_post("/console/objections/{id}/{action:assign|close}", objection_action)
    r.add_static("/console/static", STATIC_DIR)
