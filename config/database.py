"""Tortoise ORM configuration and the database's lifecycle in the app.

Why here and not in models/: models/ holds models and nothing else; how and where they
are stored is configuration.
"""

from __future__ import annotations

import asyncio
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


class DedicatedConnection:
    """One PostgreSQL connection of its own, outside Tortoise's pool, for a hot read path.

    Why: a query through the pool pays an acquire, and on release asyncpg's reset query
    (one more round trip): measured here, 140-190 µs of client CPU per query through the
    pool against 49 µs on a plain connection. The verification lookups run one query at a
    time (certificates.hotpath.BatchedLoads), so a single connection serves them fully.

    Connects on first use; a lost connection is reopened once and the query retried
    (a read: safe to repeat). Reads only, in autocommit: no transaction is ever held.
    """

    def __init__(self, settings: Settings) -> None:
        from tortoise.backends.base.config_generator import expand_db_url

        credentials = expand_db_url(settings.database_url)["credentials"]
        self._params = {k: credentials.get(k) for k in ("host", "port", "user", "password",
                                                         "database")}
        if credentials.get("ssl") is not None:
            self._params["ssl"] = credentials["ssl"]
        self._conn = None
        self._lock = asyncio.Lock()

    async def fetch(self, sql: str, *args: object) -> list:
        import asyncpg

        async with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(**self._params)
                try:
                    return await self._conn.fetch(sql, *args)
                except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError,
                        ConnectionError) as exc:
                    await self._drop()
                    if attempt == 2:
                        raise exc
            raise AssertionError("unreachable")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()


def dedicated_connection(settings: Settings) -> DedicatedConnection | None:
    """A DedicatedConnection on PostgreSQL; None on SQLite (a file has no round trip)."""
    return None if settings.is_sqlite else DedicatedConnection(settings)
