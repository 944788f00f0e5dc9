"""The delivery worker: claims outbox rows, sends them, records each outcome under its lease.

How a row travels: `pending` → claimed in a batch (`sending`, lease) → one API call with
the row's unique key in the body (the idempotency key, field `client_msg_id` by default)
→ the outcome is written in the same statement that checks the lease: `sent`, `failed`
(permanent errcode), back to `pending` with a later `due_ms` (transient errcode,
exponential backoff with jitter, bounded), or `unknown` (in_doubt=hold).

Exactly once, and what that rests on:

* No crash: a row is claimed by one worker at a time (SKIP LOCKED / SQLite's single writer)
  and a finished row is never claimed again, so each message is sent once.
* A worker killed between the claim and the finish leaves its rows `sending`. After the
  lease expires another worker (or the restarted one) takes them over. Whether the killed
  worker's API call went through is unknown. With in_doubt=resend (default) the row is sent
  again under the same idempotency key: a platform that deduplicates on that key (the
  fake platform does) delivers it once, so the whole path is exactly-once. The real
  WeChat API has no idempotency key for template or subscribe messages, so there a takeover
  can duplicate at most the messages the dead worker held: claims queued or in flight
  (2 x concurrency) and outcomes not yet flushed (at most a batch). With in_doubt=hold
  such rows become `unknown` instead: never a duplicate, but possibly a loss, shown to the
  officer, who may resend them.
* Outcomes are flushed in small groups (every `flush_interval` or `batch` outcomes), so
  the in-doubt set of a killed worker is its in-flight and just-finished messages.

Rate: `GlobalRate.acquire()` before every call (shared through Redis). Unsubscribed
recipients are skipped at claim time (`cancelled`), so 退订 or leaving the account stops
messages already queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from notices.delivery_policy import (
    ERR_BAD_RESPONSE,
    FAILED,
    HOLD,
    RESEND,
    RETRY,
    SENT,
    UNKNOWN,
    classify,
)
from notices.delivery_store import Claim, DeliveryStore, Outcome, SendInfo
from notices.outbox import now_ms
from notices.rate import GlobalRate

log = logging.getLogger("notices.delivery")

# sender(channel, body) -> the platform's JSON answer; raises an exception with `errcode`.
Sender = Callable[[str, dict], Awaitable[dict]]


@dataclass(frozen=True)
class DeliveryConfig:
    batch: int = 200
    concurrency: int = 32
    lease_s: float = 60.0
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    poll_interval_s: float = 1.0
    in_doubt: str = RESEND
    idempotency_field: str = "client_msg_id"
    flush_interval_s: float = 0.05

    @property
    def takeover_every_s(self) -> float:
        return min(5.0, max(0.2, self.lease_s / 4))


@dataclass
class WorkerStats:
    claimed: int = 0
    taken_over: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    cancelled: int = 0
    lost_leases: int = 0  # outcomes not written: another worker had taken the row over


class DeliveryWorker:
    """One worker: a claimer, `concurrency` senders and a flusher, in one event loop."""

    def __init__(
        self,
        store: DeliveryStore,
        sender: Sender,
        *,
        config: DeliveryConfig,
        rate: GlobalRate | None = None,
        name: str | None = None,
        wake: asyncio.Event | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.sender = sender
        self.config = config
        self.rate = rate
        self.name = name or f"w{secrets.token_hex(4)}"
        self.wake = wake or asyncio.Event()
        self.clock_ms = clock_ms
        self.stats = WorkerStats()
        capacity = 2 * config.concurrency
        if rate is not None and rate.limited:
            # Queued claims must go out well within their lease at the configured rate.
            capacity = min(capacity, max(1, int(rate.rate * config.lease_s / 4)))
        self.capacity = capacity
        self._queue: asyncio.Queue[Claim | None] = asyncio.Queue()
        self._inflight = 0
        self._outcomes: list[Outcome] = []
        self._flush_now = asyncio.Event()
        self._room = asyncio.Event()
        self._sends: dict[int, SendInfo] = {}
        self._claims = 0
        self._flushing = 0
        self._stopping = False

    # --- public -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then release unstarted claims and flush outcomes."""
        await self._work(stop, until_idle=False)

    async def drain(self) -> WorkerStats:
        """Work until nothing is due now (retries scheduled later are left); for tests/CLI."""
        await self._work(asyncio.Event(), until_idle=True)
        return self.stats

    # --- the loops ----------------------------------------------------------------------
    async def _work(self, stop: asyncio.Event, *, until_idle: bool) -> None:
        self._stopping = False
        senders = [asyncio.create_task(self._send_loop()) for _ in range(self.config.concurrency)]
        flusher = asyncio.create_task(self._flush_loop())
        last_takeover = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                got = 0
                room = self.capacity - self._queue.qsize() - self._inflight
                if now - last_takeover >= self.config.takeover_every_s and room > 0:
                    last_takeover = now
                    got += await self._take_over(room)
                    room -= got
                if room >= max(1, min(self.config.batch, self.capacity // 2)):
                    got += await self._claim(min(room, self.config.batch))
                if got:
                    continue
                if until_idle and self._idle():
                    # One more look: rows freed by a retry or a takeover may be due now.
                    if not await self._claim(self.config.batch) and self._idle():
                        break
                    continue
                await self._pause(stop)
        finally:
            leftover: list[Claim] = []
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    leftover.append(item)
            for _ in senders:
                self._queue.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
            # Never cancel a flush midway: stop the flusher between flushes, then flush.
            self._stopping = True
            self._flush_now.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush_all()
            if leftover:
                await self.store.release(leftover)

    def _idle(self) -> bool:
        return (self._queue.empty() and self._inflight == 0 and not self._outcomes
                and not self._flushing)

    async def _pause(self, stop: asyncio.Event) -> None:
        """Until woken (a new send), there is room again, stop, or the poll interval."""
        self._room.clear()
        waiters = [asyncio.create_task(e.wait()) for e in (stop, self.wake, self._room)]
        try:
            await asyncio.wait(waiters, timeout=self.config.poll_interval_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        self.wake.clear()

    def _owner(self) -> str:
        self._claims += 1
        return f"{self.name}:{self._claims}"

    async def _claim(self, limit: int) -> int:
        lease_ms = int(self.config.lease_s * 1000)
        claims = await self.store.claim(self._owner(), limit, self.clock_ms(), lease_ms)
        self.stats.claimed += len(claims)
        await self._enqueue(claims)
        return len(claims)

    async def _take_over(self, limit: int) -> int:
        if self.config.in_doubt == HOLD:
            held = await self.store.hold(limit, self.clock_ms())
            if held:
                log.warning("in-doubt deliveries held as unknown", extra={"count": held})
            return 0
        claims = await self.store.take_over(
            self._owner(), limit, self.clock_ms(), int(self.config.lease_s * 1000)
        )
        if claims:
            log.warning("taking over in-doubt deliveries", extra={"count": len(claims)})
        self.stats.taken_over += len(claims)
        await self._enqueue(claims)
        return len(claims)

    async def _enqueue(self, claims: list[Claim]) -> None:
        if not claims:
            return
        missing = {c.send_id for c in claims} - self._sends.keys()
        if missing:
            self._sends.update(await self.store.sends(missing))
        subscribed, following = await self.store.still_reachable([c.openid for c in claims])
        for claim in claims:
            gated = self._sends[claim.send_id].requires_subscription
            if claim.openid in following and (not gated or claim.openid in subscribed):
                self._queue.put_nowait(claim)
            else:
                self._record(Outcome(claim, "cancelled", errmsg="recipient unsubscribed"))

    async def _send_loop(self) -> None:
        while True:
            claim = await self._queue.get()
            if claim is None:
                return
            self._inflight += 1
            try:
                if self.rate is not None:
                    await self.rate.acquire()
                self._record(await self._deliver(claim))
            finally:
                self._inflight -= 1
                self._room.set()

    async def _deliver(self, claim: Claim) -> Outcome:
        info = self._sends[claim.send_id]
        body = {"touser": claim.openid, **info.payload}
        if self.config.idempotency_field:
            body[self.config.idempotency_field] = claim.key
        try:
            answer = await self.sender(info.channel, body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            errcode = getattr(exc, "errcode", None)
            if not isinstance(errcode, int):
                log.exception("unexpected error sending a delivery", extra={"id": claim.id})
                errcode = ERR_BAD_RESPONSE  # unknown whether it went out: ambiguous
            errmsg = str(getattr(exc, "errmsg", exc))
            return self._verdict(claim, errcode, errmsg)
        msgid = answer.get("msgid") if isinstance(answer, dict) else None
        return Outcome(claim, SENT, errcode=0, msgid=None if msgid is None else str(msgid))

    def _verdict(self, claim: Claim, errcode: int, errmsg: str) -> Outcome:
        c = self.config
        verdict = classify(
            errcode, attempts=claim.attempts, max_attempts=c.max_attempts, in_doubt=c.in_doubt,
            backoff_base=c.backoff_base_s, backoff_max=c.backoff_max_s,
        )
        if verdict.status == RETRY:
            due = self.clock_ms() + int(verdict.delay_s * 1000)
            return Outcome(claim, "pending", errcode, errmsg, next_attempt_ms=due)
        status = UNKNOWN if verdict.status == UNKNOWN else FAILED
        return Outcome(claim, status, errcode, errmsg)

    def _record(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        if len(self._outcomes) >= self.config.batch:
            self._flush_now.set()

    async def _flush_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.config.flush_interval_s)
            self._flush_now.clear()
            await self._flush_all()

    async def _flush_all(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            self._flushing += 1
            try:
                written = await self.store.finish(batch)
            except Exception:
                # Keep them: a later flush writes them; if we die first, the rows are in
                # doubt and a takeover resends them under the same idempotency key.
                log.exception("could not record delivery outcomes; will retry")
                self._outcomes = batch + self._outcomes
                await asyncio.sleep(0.5)
                continue
            finally:
                self._flushing -= 1
            self._count(batch, written)

    def _count(self, batch: list[Outcome], written: set[int] | None) -> None:
        s = self.stats
        for o in batch:
            if written is not None and o.claim.id not in written:
                s.lost_leases += 1
                continue
            if o.status == SENT:
                s.sent += 1
            elif o.status == "pending":
                s.retried += 1
            elif o.status == FAILED:
                s.failed += 1
            elif o.status == UNKNOWN:
                s.unknown += 1
            else:
                s.cancelled += 1
        if written is not None and len(written) < len(batch):
            log.warning("outcomes not recorded: lease lost to another worker",
                        extra={"count": len(batch) - len(written)})
