"""Which real backends this test run has: always SQLite + in-process; PostgreSQL and Redis
when DATABASE_URL / REDIS_URL are set (the second CI pass). Nothing skips itself: a run
without them parametrizes over fewer backends, and CI's second pass sets both."""

from __future__ import annotations

import os

REDIS_URL = os.environ.get("REDIS_URL") or None
DATABASE_URL = os.environ.get("DATABASE_URL") or None
ON_POSTGRES = bool(DATABASE_URL and DATABASE_URL.startswith(("postgres://", "postgresql://")))


def store_backends() -> list[str]:
    return ["memory", "redis"] if REDIS_URL else ["memory"]
