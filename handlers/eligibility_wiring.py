"""Wires the eligibility check into the app: the HTTP API, the result pages and the
资格自测 conversation (its router goes before the menu's fallback)."""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import DISPATCHER
from handlers import eligibility_api, interview, result_page


def setup(app: web.Application) -> None:
    result_page.setup(app)
    eligibility_api.setup(app)
    app[DISPATCHER].include_router(interview.router)
