"""Stopping background tasks at shutdown without hanging.

Why not just `task.cancel(); await task`: on Python 3.11 a cancellation that lands while
`asyncio.timeout()` or `asyncio.wait_for()` is expiring can come out as `TimeoutError`
(fixed in 3.12 with `Task.uncancel`). A periodic loop that catches `Exception` and goes on,
as background loops must, then swallows the only cancel it will ever get, and the app's
cleanup waits on it forever. We saw exactly that in the test suite under load: a teardown
stuck on the certificate sync loop, whose Redis calls run under redis-py's timeouts.
So: cancel again until the task has ended, and give up (loudly) after a bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task], *, every: float = 0.1,
                          give_up_after: float = 10.0) -> set[asyncio.Task]:
    """Cancel `tasks` and wait until each has ended; returns the ones still running after
    `give_up_after` seconds (logged), so a stuck task can't stop the process exiting."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in pending:
        log.error("background task did not stop", extra={"task": task.get_name()})
    return pending
