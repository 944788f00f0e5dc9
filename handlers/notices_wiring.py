"""Everything the notices feature adds to the app, in one call from `handlers.setup`:
chat routers (订阅 / 退订 / 我的订阅, 异议), the admin API, the console and public pages,
the in-process delivery worker and the reminder scheduler."""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import DISPATCHER, SETTINGS
from handlers import console, notices_admin, notices_objections, notices_public, subscriptions
from handlers import objections as objection_chat
from handlers.notices_keys import setup_keys
from handlers.notices_worker import delivery_ctx, reminders_ctx
from handlers.path_middleware import guarded_paths


def setup(app: web.Application) -> None:
    setup_keys(app, app[SETTINGS])
    dp = app[DISPATCHER]
    dp.include_router(subscriptions.router)
    dp.include_router(objection_chat.router)
    notices_admin.setup_routes(app)
    notices_objections.setup_routes(app)
    console.setup_console(app)
    notices_public.setup_routes(app)
    app.middlewares.append(guarded_paths)  # console headers, audit of refusals
    app.cleanup_ctx.append(delivery_ctx)
    app.cleanup_ctx.append(reminders_ctx)
