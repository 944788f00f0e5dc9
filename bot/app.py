"""The aiohttp app factory: resources in cleanup_ctx, routes, and the domain plug-in.

`create_app(settings)` builds everything from the settings object; nothing lives in module
globals, so tests start as many independent apps as they like. The domain is plugged in
by importing `settings.handlers_module` and calling its `setup(app)`: bot/ never imports
the domain itself.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot.appkeys import (
    BACKGROUND,
    CLIENT,
    DISPATCHER,
    FAKE_BASE,
    HEALTH_CHECKS,
    HTTP,
    SETTINGS,
    STORE,
)
from bot.dispatcher import Dispatcher
from bot.logs import request_id_var
from bot.storage import create_store
from bot.webhook import setup_webhook
from config.database import database_ctx, db_ping
from config.settings import EMBEDDED, Settings

log = logging.getLogger("bot.app")


def request_context_middleware():
    """Request id for logs and the response; one access line with the outcome.

    A request without an X-Request-Id gets this app's random prefix plus a counter:
    unique across processes like a random id, without ~5 µs of os.urandom per request.
    """
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)

    @web.middleware
    async def request_context(request: web.Request, handler):
        rid = request.headers.get("X-Request-Id", "")[:64] or f"{prefix}{next(counter):08x}"
        token = request_id_var.set(rid)
        started = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = rid
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-Id"] = rid
            raise
        except asyncio.CancelledError:
            status = 499
            raise
        except Exception:
            log.exception("unhandled error")
            return web.json_response(
                {"error": "internal", "message": "服务暂时不可用，请稍后再试"},
                status=500, headers={"X-Request-Id": rid},
            )
        finally:
            if log.isEnabledFor(logging.INFO):  # the access line's dict costs even unlogged
                log.info(
                    "request",
                    extra={"method": request.method, "path": request.path, "status": status,
                           "ms": round((time.monotonic() - started) * 1000, 1)},
                )
            request_id_var.reset(token)

    return request_context


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    """The store is built with the app (it connects lazily); closed on shutdown."""
    yield
    await app[STORE].close()


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def _embedded_fake_ctx(app: web.Application) -> AsyncIterator[None]:
    """WECHAT_API_BASE=embedded: run the fake platform on loopback in this process."""
    settings = app[SETTINGS]
    if settings.wechat_api_base != EMBEDDED:
        yield
        return
    from bot.fake_platform.app import create_fake_app

    fake = create_fake_app(
        appid=settings.wechat_appid, secret=settings.wechat_appsecret.get_secret_value()
    )
    runner = web.AppRunner(fake, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    app[FAKE_BASE] = f"http://127.0.0.1:{port}"
    log.info("embedded fake WeChat platform", extra={"url": app[FAKE_BASE]})
    yield
    await runner.cleanup()


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    from bot.wechat_client import WeChatClient

    settings = app[SETTINGS]
    base = app[FAKE_BASE] if settings.wechat_api_base == EMBEDDED else settings.wechat_api_base
    app[CLIENT] = WeChatClient(
        app[HTTP], app[STORE],
        appid=settings.wechat_appid,
        secret=settings.wechat_appsecret.get_secret_value(),
        base_url=base,
        timeout=settings.wechat_api_timeout,
    )
    yield


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    """Deferred replies and customer-service sends finish (briefly) before shutdown."""
    tasks: set[asyncio.Task] = set()
    app[BACKGROUND] = tasks
    yield
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=10)
        for task in pending:
            task.cancel()


async def healthz(request: web.Request) -> web.Response:
    results: dict[str, str] = {}
    ok = True
    for name, check in request.app[HEALTH_CHECKS].items():
        try:
            good = await asyncio.wait_for(check(), timeout=3)
        except Exception as exc:  # a failing dependency is reported, not raised
            good = False
            log.warning("health check failed", extra={"check": name, "error": repr(exc)})
        results[name] = "ok" if good else "fail"
        ok = ok and good
    return web.json_response(
        {"status": "ok" if ok else "fail", "checks": results, "worker": os.getpid()},
        status=200 if ok else 503)


async def embedded_fake_url(request: web.Request) -> web.Response:
    """Embedded mode only: where the in-process fake platform listens (for `bot chat`)."""
    return web.json_response({"fake_wechat": request.app[FAKE_BASE]})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_context_middleware()],
                          client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[STORE] = create_store(settings.redis_url, namespace=settings.store_namespace)
    app[DISPATCHER] = Dispatcher(app[STORE])
    app[HEALTH_CHECKS] = {"database": db_ping}

    async def store_ping() -> bool:
        return await app[STORE].ping()

    app[HEALTH_CHECKS]["store"] = store_ping
    app.cleanup_ctx.extend(
        [database_ctx(settings), _store_ctx, _http_ctx, _embedded_fake_ctx, _client_ctx,
         _background_ctx]
    )
    setup_webhook(app, settings.wechat_webhook_path)
    app.router.add_get("/healthz", healthz)
    if settings.wechat_api_base == EMBEDDED:
        app.router.add_get("/_dev/fake-wechat", embedded_fake_url)
    if settings.handlers_module:
        importlib.import_module(settings.handlers_module).setup(app)
    return app
