"""Fixtures for the notices service: a started app with a settable clock, admin tokens,
subscribers, and a delivery helper. Every test talks to the real server over HTTP.

Isolation: the session shares one database, so each test starts with no notice
subscriptions, and deliveries a test leaves unfinished are cancelled when it ends (no later
test's worker sends them)."""

from __future__ import annotations

import pytest

from handlers.notices_keys import NOTICES_CLOCK
from models import DeadlineEvent, NoticeSend, NoticeSubscription
from tests.notices_service.kit import FAST, Clock, Service, cancel_leftovers


@pytest.fixture
def make_service(aiohttp_client, make_settings):
    """Start a service with settings overrides; returns a `Service`."""
    from bot.app import create_app

    async def make(**overrides) -> Service:
        app = create_app(make_settings(**{**FAST, **overrides}))
        clock = Clock()
        app[NOTICES_CLOCK] = clock
        client = await aiohttp_client(app)
        # Shared session database: start without subscribers, reminders or event dates.
        await NoticeSubscription.all().delete()
        await NoticeSend.filter(purpose="reminder").delete()
        await DeadlineEvent.all().delete()
        return Service(client, clock)

    return make


@pytest.fixture
async def svc(make_service):
    """A service with its in-process delivery worker."""
    service = await make_service()
    yield service
    await cancel_leftovers()


@pytest.fixture
async def quiet(make_service):
    """A service without an in-process worker: tests drive delivery themselves."""
    service = await make_service(delivery_in_app_workers=0)
    yield service
    await cancel_leftovers()
