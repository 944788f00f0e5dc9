"""Delivery workers and the reminder scheduler, wired to the app and to the command line.

- In `serve`: one in-process worker (DELIVERY_IN_APP_WORKERS=1, the embedded default on
  SQLite) and the reminder scheduler, both in cleanup_ctx.
- `python -m bot deliver [--workers N] [--until-idle]`: dedicated worker processes. On
  PostgreSQL any number of them share the outbox (SKIP LOCKED) and, with Redis, the send
  rate; on SQLite one (no SKIP LOCKED). `--workers N` supervises N processes and restarts
  one that dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot.appkeys import FAKE_BASE, HTTP, SETTINGS, STORE
from bot.storage.base import StateStore
from bot.tasks import cancel_and_wait
from bot.wechat_client import WeChatClient
from config.settings import EMBEDDED, Settings, SettingsError, load_settings
from handlers.notices_keys import DELIVERY_WAKE, NOTICES_CLOCK, SCHEDULE, TEMPLATES
from notices.delivery import DeliveryConfig, DeliveryWorker, Sender
from notices.delivery_store import DeliveryStore
from notices.payloads import PATHS
from notices.rate import GlobalRate
from notices.reminder_jobs import run_due_reminders

log = logging.getLogger("handlers.notices_worker")


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        batch=settings.delivery_batch,
        concurrency=settings.delivery_concurrency,
        lease_s=settings.delivery_lease,
        max_attempts=settings.delivery_max_attempts,
        backoff_base_s=settings.delivery_backoff_base,
        backoff_max_s=settings.delivery_backoff_max,
        poll_interval_s=settings.delivery_poll_interval,
        in_doubt=settings.delivery_in_doubt,
        idempotency_field=settings.wechat_idempotency_field,
        api_timeout_s=settings.wechat_api_timeout,
    )


def wechat_sender(client: WeChatClient) -> Sender:
    async def send(channel: str, body: dict) -> dict:
        return await client.call("POST", PATHS[channel], json=body)

    return send


def build_worker(
    settings: Settings,
    session: aiohttp.ClientSession,
    store: StateStore,
    base_url: str,
    *,
    wake: asyncio.Event | None = None,
) -> DeliveryWorker:
    """A worker with its own API client: no retries inside the client (the outbox retries,
    without holding a lease while it waits); the token cache is shared through `store`."""
    client = WeChatClient(
        session, store, appid=settings.wechat_appid,
        secret=settings.wechat_appsecret.get_secret_value(), base_url=base_url,
        timeout=settings.wechat_api_timeout, max_retries=0,
    )
    return DeliveryWorker(
        DeliveryStore(), wechat_sender(client), config=delivery_config(settings),
        rate=GlobalRate(store, settings.delivery_rate), wake=wake,
        name=f"w{os.getpid()}-{os.urandom(2).hex()}",
    )


async def run_until_stopped(worker: DeliveryWorker, stop: asyncio.Event) -> None:
    """Keep the worker running through unexpected errors (e.g. the database restarting)."""
    while not stop.is_set():
        try:
            await worker.run(stop)
        except Exception:
            log.exception("delivery worker failed; restarting in 1 s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def _api_base(app: web.Application) -> str:
    settings = app[SETTINGS]
    return app[FAKE_BASE] if settings.wechat_api_base == EMBEDDED else settings.wechat_api_base


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process worker of `serve` (off with DELIVERY_IN_APP_WORKERS=0)."""
    settings = app[SETTINGS]
    if not settings.delivery_in_app_workers:
        yield
        return
    worker = build_worker(settings, app[HTTP], app[STORE], _api_base(app),
                          wake=app[DELIVERY_WAKE])
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(worker, stop))
    yield
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=15)
    except TimeoutError:
        log.warning("delivery worker did not stop in time")


async def reminders_once(app: web.Application) -> int:
    settings = app[SETTINGS]
    sends = await run_due_reminders(
        app[NOTICES_CLOCK](), schedule=app[SCHEDULE], policy=settings.notices_policy,
        templates=app[TEMPLATES], base_url=settings.public_base_url,
    )
    if sends:
        app[DELIVERY_WAKE].set()
    return len(sends)


async def reminders_ctx(app: web.Application) -> AsyncIterator[None]:
    """Check for due reminders at start and every REMINDERS_INTERVAL seconds."""
    interval = app[SETTINGS].reminders_interval
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await reminders_once(app)
            except Exception:
                log.exception("reminder check failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    task = asyncio.create_task(loop())
    yield
    stop.set()
    await cancel_and_wait([task])


# --- `python -m bot deliver` --------------------------------------------------------------
async def _deliver_process(until_idle: bool) -> int:
    from bot.logs import setup_logging
    from bot.storage import create_store
    from config.database import close_db, init_db

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    await init_db(settings)
    store = create_store(settings.redis_url, namespace=settings.store_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        connector = aiohttp.TCPConnector(limit=max(100, settings.delivery_concurrency * 2))
        async with aiohttp.ClientSession(connector=connector) as session:
            worker = build_worker(settings, session, store, settings.wechat_api_base)
            print(f"delivery worker {worker.name} (pid {os.getpid()}) started", flush=True)
            if until_idle:
                stats = await worker.drain()
            else:
                await run_until_stopped(worker, stop)
                stats = worker.stats
            print(f"delivery worker {worker.name} stopped: sent {stats.sent}, "
                  f"failed {stats.failed}, retried {stats.retried}, "
                  f"taken over {stats.taken_over}", flush=True)
    finally:
        await store.close()
        await close_db()
    return 0


def _deliver_child(until_idle: bool) -> None:
    raise SystemExit(asyncio.run(_deliver_process(until_idle)))


def _supervise(n: int, until_idle: bool) -> int:
    """N worker processes; one that dies unexpectedly is restarted (after a second)."""
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.Process:
        p = ctx.Process(target=_deliver_child, args=(until_idle,))
        p.start()
        return p

    procs = [start() for _ in range(n)]

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        for i, p in enumerate(procs):
            p.join(timeout=0.2)
            if p.exitcode is None or stopping:
                continue
            if p.exitcode != 0 or not until_idle:
                print(f"delivery worker pid {p.pid} exited ({p.exitcode}); restarting",
                      flush=True)
                time.sleep(1)
                procs[i] = start()
        if all(p.exitcode is not None for p in procs) and (stopping or until_idle):
            return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.wechat_api_base == EMBEDDED:
        raise SettingsError("configuration error: WECHAT_API_BASE: set it to the platform "
                            "(or a running `python -m bot fake-wechat`) to deliver")
    if args.workers > 1 and settings.is_sqlite:
        raise SettingsError("configuration error: DATABASE_URL: SQLite has no SKIP LOCKED; "
                            "run one delivery worker, or use PostgreSQL for more")
    if args.workers > 1 and not settings.redis_url:
        raise SettingsError("configuration error: REDIS_URL: required with --workers > 1 "
                            "(the send rate and the token cache must be shared)")
    if args.workers == 1:
        return asyncio.run(_deliver_process(args.until_idle))
    return _supervise(args.workers, args.until_idle)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deliver", help="run notice delivery workers")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--until-idle", action="store_true",
                   help="exit when nothing is due (retries scheduled later stay queued)")
    p.set_defaults(func=cmd_deliver)
