"""Who verified which certificate, when, from where: written in batches.

Why batched: every scan is logged (time, IP, user agent) and the holder can read the list
in chat (谁查过我的证书), but a database insert per scan would halve the verification
throughput. Entries are appended to an in-process buffer and written with one bulk
insert every `interval` seconds (or sooner when the buffer fills); the app flushes on
shutdown, and the holder's history view flushes this process's buffer first. A crash can
lose at most the last `interval` seconds of log entries, never a verdict.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tortoise import connections
from tortoise.exceptions import IntegrityError

from certificates.importer import insert_many
from models import Certificate, VerificationEvent

__all__ = ["VerificationLog", "history"]

log = logging.getLogger("certificates.verification_log")

_COLUMNS = ("certificate_id", "at", "ip", "user_agent", "channel", "action", "outcome")
MAX_BUFFER = 50_000  # beyond this (database down) the oldest entries are dropped


# An entry, as the row it becomes: (certificate_id, at, ip, user_agent, channel, action,
# outcome) - a plain tuple, as a frozen dataclass per scan cost more than the rest of
# recording it.
_Entry = tuple
class VerificationLog:
    def __init__(self, *, interval: float = 0.5, batch: int = 500) -> None:
        self.interval = interval
        self.batch = batch
        self._buffer: list[_Entry] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.dropped = 0

    def record(self, certificate_id: int | None, *, ip: str, user_agent: str, channel: str,
               action: str, outcome: str) -> None:
        """Queue one entry (no I/O here)."""
        self._buffer.append((certificate_id, datetime.now(UTC), ip[:64], user_agent[:256],
                             channel, action, outcome[:32]))
        if len(self._buffer) > MAX_BUFFER:
            drop = len(self._buffer) - MAX_BUFFER
            del self._buffer[:drop]
            self.dropped += drop
        if len(self._buffer) >= self.batch:
            self._wake.set()

    async def flush(self) -> int:
        """Write everything queued so far; returns how many entries were written."""
        async with self._lock:
            entries, self._buffer = self._buffer, []
            if not entries:
                return 0
            written = 0
            try:
                for i in range(0, len(entries), 1000):
                    chunk = entries[i : i + 1000]
                    try:
                        await self._insert(chunk)
                    except IntegrityError:
                        # A certificate deleted since it was verified: its entries keep
                        # no certificate (as ON DELETE SET NULL does for older ones).
                        # Retrying them unchanged would fail forever and hold back
                        # every later entry.
                        await self._insert(await _without_deleted(chunk))
                    written += len(chunk)
            except Exception:
                self._buffer[:0] = entries[written:]  # keep them for the next try
                raise
            return len(entries)

    @staticmethod
    async def _insert(chunk: list[_Entry]) -> None:
        await insert_many(connections.get("default"), VerificationEvent._meta.db_table,
                          _COLUMNS, chunk)

    async def run(self) -> None:
        """Flush periodically until cancelled (then flush once more)."""
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                try:
                    await self.flush()
                except Exception:
                    log.exception("writing the verification log failed; will retry")
        finally:
            try:
                await asyncio.shield(self.flush())
            except Exception:
                log.exception("final flush of the verification log failed")


async def _without_deleted(chunk: list[_Entry]) -> list[_Entry]:
    """`chunk` with the ids of certificates that no longer exist set to None."""
    ids = {e[0] for e in chunk if e[0] is not None}
    existing = set(await Certificate.filter(id__in=list(ids)).values_list("id", flat=True))
    return [e if e[0] is None or e[0] in existing else (None, *e[1:]) for e in chunk]


async def history(person_id: int, *, limit: int = 20) -> list[tuple[VerificationEvent, str]]:
    """The latest verifications of the person's certificates, newest first, each with
    the certificate's qualification name."""
    ids = dict(await Certificate.filter(person_id=person_id).values_list("id", "qualification"))
    if not ids:
        return []
    events = await VerificationEvent.filter(certificate_id__in=list(ids)).order_by(
        "-at", "-id"
    ).limit(limit)
    return [(e, ids.get(e.certificate_id, "")) for e in events]
