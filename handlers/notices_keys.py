"""App keys of the notices feature (typed, no globals): the clock, the schedule, the
template ids, and the event that wakes this process's delivery worker after a send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from config.settings import Settings
from notices.payloads import Templates
from notices.schedule import Schedule

# Now, timezone-aware. Tests replace it to stand at a window's edges.
NOTICES_CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("notices_clock")
SCHEDULE: web.AppKey[Schedule] = web.AppKey("notices_schedule")
TEMPLATES: web.AppKey[Templates] = web.AppKey("notices_templates")
DELIVERY_WAKE: web.AppKey[asyncio.Event] = web.AppKey("delivery_wake")


def utc_now() -> datetime:
    return datetime.now(UTC)


def templates_from(settings: Settings) -> Templates:
    return Templates(
        notice=settings.wechat_template_notice,
        objection=settings.wechat_template_objection,
        deadline=settings.wechat_subscribe_template_deadline,
    )


def setup_keys(app: web.Application, settings: Settings) -> None:
    app[NOTICES_CLOCK] = utc_now
    app[SCHEDULE] = Schedule()
    app[TEMPLATES] = templates_from(settings)
    app[DELIVERY_WAKE] = asyncio.Event()


def wake_delivery(app: web.Application) -> None:
    """A send was queued: let this process's worker look now instead of at its next poll."""
    app[DELIVERY_WAKE].set()
