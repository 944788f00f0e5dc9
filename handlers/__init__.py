"""What users do, one module per conversation or page; `setup` wires them into the app.

This is the composition root named by the HANDLERS_MODULE setting: bot/ calls `setup(app)`
and stays ignorant of the domain.
"""

from __future__ import annotations

from aiohttp import web

from bot.appkeys import DISPATCHER
from handlers import certificates_wiring, eligibility_wiring, menu, notices_wiring, users
from handlers.commands import register_commands

__all__ = ["register_commands", "setup"]


def setup(app: web.Application) -> None:
    dp = app[DISPATCHER]
    app[users.RECENTLY_SEEN] = users.RecentlySeen()
    dp.middleware(users.track_user)
    dp.include_router(menu.router)
    # Conversations are included here as they are built; the fallback stays last.
    notices_wiring.setup(app)
    certificates_wiring.setup(app)
    eligibility_wiring.setup(app)
    dp.include_router(menu.fallback)
