"""Public pages the notices link to: a notice (/n/{id}) and the year's deadlines
(/deadlines). Read-only, rate-limited per IP like everything a stranger can call."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from bot.appkeys import SETTINGS, STORE
from bot.ratelimit import RateLimiter, enforce
from handlers.console import CONSOLE_JINJA, scope_labels
from handlers.notices_admin import notice_dict, row_id
from handlers.notices_keys import NOTICES_CLOCK, SCHEDULE
from models import Notice
from notices.service import is_publicity_open


async def _limit(request: web.Request) -> None:
    await enforce(request, RateLimiter(request.app[STORE]), "public-notice", limit=120,
                  window=60)


async def notice_page(request: web.Request) -> web.StreamResponse:
    await _limit(request)
    notice_id = row_id(request.match_info["id"])
    notice = await Notice.get_or_none(id=notice_id) if notice_id else None
    if notice is None:
        raise web.HTTPNotFound(text="没有找到这条通知。")
    scope = scope_labels(notice.league_cities, notice.series)
    return aiohttp_jinja2.render_template(
        "public/notice.html", request,
        {"n": notice_dict(notice), "scope": scope,
         "open": is_publicity_open(notice, request.app[NOTICES_CLOCK]())},
        app_key=CONSOLE_JINJA,
    )


async def deadlines_page(request: web.Request) -> web.StreamResponse:
    await _limit(request)
    policy = request.app[SETTINGS].notices_policy
    schedule = request.app[SCHEDULE]
    return aiohttp_jinja2.render_template(
        "public/deadlines.html", request,
        {"title": schedule.policy(policy).title_zh, "deadlines": schedule.deadlines(policy)},
        app_key=CONSOLE_JINJA,
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/n/{id}", notice_page)
    app.router.add_get("/deadlines", deadlines_page)
