"""QR images for certificates that have none yet: generated after an import commits.

Where QR images are made (issue: "generated once at issue and cached, off the event
loop"):
- A certificate issued on its own gets its PNG and SVG at issue
  (`CertificateService.issue`, rendered in a worker thread and stored in `certificate_qr`).
- An import writes up to 100,000 certificates in one transaction. Rendering their codes
  inside it (20-40 ms each on one core) would hold the transaction, and the HR officer,
  for an hour, so the import commits first and the images follow:
  * the server runs `QrBackfill.run` in the background: the certificates of an import
    through the admin API as soon as it commits (`wake(import_id)`), and every
    `recheck` seconds all certificates still without images (a crash, a `--no-qr`
    import);
  * the command-line import renders them itself right after the commit, with a progress
    bar (`--no-qr` leaves them to the server).
  Until a certificate's images exist, ``/v/{token}/qr.png`` renders and stores them on
  request (same code), so nobody waits on the backfill.

Rendering never runs on the event loop: in the command line in a worker thread, in the
server in a separate worker process (one), so that an hour of rendering after a 100,000-
row import does not hold the web process's GIL against verification requests. Several
server processes share the work safely: a batch is taken under a store lock, and rows are
inserted with ON CONFLICT DO NOTHING, so an image made meanwhile by a request stays.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime

from tortoise import connections

from bot.storage.base import LockTimeout, StateStore
from certificates.qr import QrRenderer, qr_images, verification_url

__all__ = ["QrBackfill", "fill_missing_qr"]

log = logging.getLogger("certificates.qr_backfill")

BATCH = 50
_MISSING_SQL = """
SELECT c.id, c.token FROM certificate c
LEFT JOIN certificate_qr q ON q.certificate_id = c.id
WHERE q.id IS NULL AND c.id > {mark}{scope} ORDER BY c.id LIMIT {limit}
"""

_COUNT_SQL = """
SELECT count(*) AS n FROM certificate c LEFT JOIN certificate_qr q ON q.certificate_id = c.id
WHERE q.id IS NULL{scope}
"""


def _render(base_url: str, tokens: list[str]) -> list[tuple[bytes, str]]:
    """Module-level (picklable) so that a process pool can run it."""
    return [qr_images(verification_url(base_url, t)) for t in tokens]


async def count_missing(import_id: str | None = None) -> int:
    conn = connections.get("default")
    mark = "$1" if conn.capabilities.dialect == "postgres" else "?"
    scope = "" if import_id is None else f" AND c.import_id = {mark}"
    sql = _COUNT_SQL.format(scope=scope)
    _, rows = await conn.execute_query(sql, [] if import_id is None else [import_id])
    return int(rows[0]["n"])


async def fill_missing_qr(renderer: QrRenderer, *, batch: int = BATCH,
                          on_progress: Callable[[int, int], None] | None = None,
                          store: StateStore | None = None,
                          import_id: str | None = None,
                          executor: Executor | None = None) -> int:
    """Render and store the images of every certificate without any (of one import,
    with `import_id`); returns how many were stored. `on_progress(done, total)` after
    each batch. With `store`, each batch is taken under a lock shared by every process
    on it (others skip, not wait)."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    mark, mark2 = ("$1", "$2") if postgres else ("?", "?")
    scope = "" if import_id is None else f" AND c.import_id = {mark2}"
    extra = [] if import_id is None else [import_id]
    insert = ("INSERT INTO certificate_qr (certificate_id, base_url, png, svg, created_at) "
              + ("VALUES ($1, $2, $3, $4, $5)" if postgres else "VALUES (?, ?, ?, ?, ?)")
              + " ON CONFLICT (certificate_id) DO NOTHING")
    total = await count_missing(import_id)
    done, after = 0, 0
    loop = asyncio.get_running_loop()
    while True:
        lock = store.lock("cert:qr-backfill", ttl=300, timeout=0) if store else None
        if lock is not None:
            try:
                if not await lock.acquire(blocking=False):
                    return done  # another process is at it
            except LockTimeout:
                return done
        try:
            _, rows = await conn.execute_query(
                _MISSING_SQL.format(mark=mark, scope=scope, limit=int(batch)),
                [after, *extra])
            if not rows:
                return done
            ids = [r["id"] for r in rows]
            images = await loop.run_in_executor(executor, _render, renderer.public_base_url,
                                                [r["token"] for r in rows])
            now = datetime.now(UTC)
            await conn.execute_many(insert, [
                (cid, renderer.public_base_url, png, svg, now if postgres else str(now))
                for cid, (png, svg) in zip(ids, images, strict=True)
            ])
        finally:
            if lock is not None:
                await lock.release()
        after = ids[-1]
        done += len(ids)
        if on_progress is not None:
            on_progress(done, max(total, done))


class QrBackfill:
    """The server's background filler (see the module docstring)."""

    def __init__(self, renderer: QrRenderer, store: StateStore, *, recheck: float = 600.0):
        self.renderer = renderer
        self.store = store
        self.recheck = recheck
        self._imports: list[str] = []
        self._wake = asyncio.Event()
        self._pool: ProcessPoolExecutor | None = None  # started at the first batch

    def wake(self, import_id: str) -> None:
        """An import committed: render its certificates' images now."""
        self._imports.append(import_id)
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.recheck)
                self._wake.clear()
                scopes: list[str | None] = list(dict.fromkeys(self._imports))
                self._imports.clear()
            except TimeoutError:
                scopes = [None]  # everything still without images
            for import_id in scopes:
                try:
                    if self._pool is None:
                        self._pool = ProcessPoolExecutor(
                            1, mp_context=multiprocessing.get_context("spawn"))
                    made = await fill_missing_qr(self.renderer, store=self.store,
                                                 import_id=import_id, executor=self._pool)
                    if made:
                        log.info("QR images generated",
                                 extra={"count": made, "import_id": import_id})
                except Exception:
                    log.exception("QR backfill failed; will retry")
