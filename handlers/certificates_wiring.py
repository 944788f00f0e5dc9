"""Wires the certificates feature into the app: keys and services, the verification page,
the public and admin APIs, and the 我的证书 conversation."""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import DISPATCHER, SETTINGS
from handlers import certificates_admin, certificates_api, certificates_chat, certificates_pages
from handlers.certificates_eligibility import remember_sender
from handlers.certificates_keys import setup_keys


def setup(app: web.Application) -> None:
    setup_keys(app, app[SETTINGS])
    app.router.add_routes(certificates_pages.routes)
    app.router.add_routes(certificates_api.routes)
    app.router.add_routes(certificates_admin.routes)
    app[DISPATCHER].include_router(certificates_chat.router)
    app[DISPATCHER].middleware(remember_sender)  # the 资格自测 interview reads the sender
