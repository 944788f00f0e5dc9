"""Running the service: one process, or N processes on one port (SO_REUSEPORT).

Module-level functions so `multiprocessing` (spawn) can start them in child processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket

from config.settings import EMBEDDED, Settings, load_settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def event_loop_factory() -> tuple[str, object | None]:
    """The event loop for a server process: uvloop when it is installed (the `fast`
    extra), unless EVENT_LOOP=asyncio; EVENT_LOOP=uvloop insists on it.

    Why: on the webhook most CPU not spent in our code goes to the event loop and socket
    I/O, which uvloop does in C. It stays optional so a plain install still runs.
    """
    choice = os.environ.get("EVENT_LOOP", "auto").strip().lower() or "auto"
    if choice not in ("auto", "asyncio", "uvloop"):
        raise ValueError(f"EVENT_LOOP must be auto, asyncio or uvloop, not {choice!r}")
    if choice == "asyncio":
        return "asyncio", None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError("EVENT_LOOP=uvloop but uvloop is not installed "
                             "(pip install -e '.[fast]')") from None
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


# Collect the youngest generation after 5,000 net new container objects instead of 700;
# the middle one after 50 of those collections (not 10), the oldest after 100 (not 10).
GC_THRESHOLDS = (5_000, 50, 100)


async def freeze_startup_heap(app: object) -> None:
    """Collect once, exempt everything alive at start-up from later collections, and
    collect the young objects less often.

    Why: the policy data, the ORM, the handlers and their caches are tens of thousands of
    objects that live as long as the process, and a full (generation 2) collection walks
    all of them: under load it paused the event loop for up to 100 ms, the webhook's
    worst latency (measured, issue 2 note). Frozen, they are never walked again.

    And a young collection walks every object of every request in flight (64 requests'
    coroutines, futures and dicts), whether it runs after 700 allocations or after 5,000:
    at Python's default it ran every ~40 messages for about 1.2 ms, 1.6 s of CPU in 44,000
    safe-mode messages (37 µs each, 6% of the server). At GC_THRESHOLDS it ran 41 times
    for 0.06 s, pauses under 3 ms. Messages leave no garbage cycles (a regression test
    pins that), so rarer collections keep no more memory. Only the server process does
    this: a test process builds and drops many apps, and frozen objects are never freed.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(host: str, port: int, *, reuse_port: bool) -> None:
    import asyncio

    from aiohttp import web

    from bot.app import create_app
    from bot.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    _, new_loop = event_loop_factory()
    loop = new_loop() if new_loop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = create_app(settings)
    app.on_startup.append(freeze_startup_heap)  # last: after every resource is open
    web.run_app(app, loop=loop, host=host, port=port, reuse_port=reuse_port,
                print=None, access_log=None, handle_signals=True)


def run_fake(port: int) -> None:
    from aiohttp import web

    from bot.fake_platform.app import create_fake_app

    settings = load_settings()
    app = create_fake_app(appid=settings.wechat_appid,
                          secret=settings.wechat_appsecret.get_secret_value())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def run_workers(settings: Settings, n: int) -> int:
    """N processes on one port (SO_REUSEPORT), sharing the database and Redis."""
    ctx = multiprocessing.get_context("spawn")
    procs = []
    if settings.wechat_api_base == EMBEDDED:
        # One fake platform for all workers, so they share its tokens and records.
        fake_port = free_port()
        procs.append(ctx.Process(target=run_fake, args=(fake_port,), daemon=True))
        os.environ["WECHAT_API_BASE"] = f"http://127.0.0.1:{fake_port}"
    procs += [
        ctx.Process(target=run_worker, args=(settings.host, settings.port),
                    kwargs={"reuse_port": True})
        for _ in range(n)
    ]
    for p in procs:
        p.start()

    def stop(*_: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for p in procs:
            p.join()
    finally:
        stop()
    return 0
