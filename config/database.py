"""Tortoise ORM configuration and the database's lifecycle in the app.

Why here and not in models/: models/ holds models and nothing else; how and where they
are stored is configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from tortoise import Tortoise, connections

from config.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def tortoise_config(settings: Settings) -> dict:
    url = settings.database_url
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": url},
        "apps": {
            "models": {
                "models": ["models", "aerich.models"],
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings))
    if settings.is_sqlite:
        conn = connections.get("default")
        # WAL lets the HTTP pages read while a worker writes; wait instead of failing.
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")


async def close_db() -> None:
    await Tortoise.close_connections()


async def db_ping() -> bool:
    conn = connections.get("default")
    await conn.execute_query("SELECT 1")
    return True


def database_ctx(settings: Settings):
    """cleanup_ctx factory: connect on startup, close on shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await init_db(settings)
        # Tortoise's state lives in a ContextVar set here, at startup; shutdown may run in
        # another task (test servers do), where close_db() finds nothing to close, and two
        # apps in one process (tests) share and may reopen the same clients. Closing the
        # client objects themselves leaves no connection (and no thread) behind.
        clients = connections.all()
        yield
        await close_db()
        for client in clients:
            await client.close()

    return ctx
