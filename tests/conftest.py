"""Shared fixtures: a migrated database per test session, settings, a real server.

Every test that touches the service talks to a real aiohttp server over HTTP (pytest-
aiohttp's server listens on loopback). The first CI pass runs on SQLite and the in-process
store; the second sets DATABASE_URL and REDIS_URL and the same tests run on PostgreSQL and
Redis.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from config.settings import EMBEDDED, Settings
from tests.support.backends import DATABASE_URL, ON_POSTGRES, REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "testtoken123"
APPID = "wxtestappid000001"
SECRET = "testsecret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_KEY_OLD = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory):
    """A scratch database, migrated with `python -m bot migrate` (so that is tested too)."""
    import asyncio

    if ON_POSTGRES:
        name = f"zc_test_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        base = DATABASE_URL.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
        url = f"{base}/{name}"
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db')}/test.sqlite3"
    out = run_cli("migrate", env={"DATABASE_URL": url})
    assert out.returncode == 0, out.stderr
    yield url
    if ON_POSTGRES:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    namespace = f"t{secrets.token_hex(6)}"

    def make(**overrides) -> Settings:
        values = dict(
            database_url=database_url,
            redis_url=REDIS_URL,
            store_namespace=namespace,
            wechat_token=TOKEN,
            wechat_appid=APPID,
            wechat_appsecret=SECRET,
            wechat_aes_key=AES_KEY,
            wechat_api_base=EMBEDDED,
            handlers_module="tests.support.handlers",
            log_format="text",
            public_base_url="http://testserver.local",
        )
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def service(aiohttp_client, make_settings):
    """A started service (real HTTP server) with the default test settings."""
    from bot.app import create_app

    return await aiohttp_client(create_app(make_settings()))


@pytest.fixture
def sim_for(service):
    """Build a user simulator for a service client, in a given encryption mode."""
    from bot.fake_platform.simulator import UserSimulator

    def make(client=None, *, mode: str = "plain", aes_key: str = AES_KEY, **kw):
        client = client or service
        return UserSimulator(
            client.session, str(client.make_url("/wechat")), token=TOKEN, appid=APPID,
            aes_key=aes_key, mode=mode, **kw,
        )

    return make


@pytest.fixture
def fake_control(service):
    from bot.appkeys import FAKE_BASE
    from bot.fake_platform import FakeWeChatControl

    return FakeWeChatControl(service.session, service.server.app[FAKE_BASE])
