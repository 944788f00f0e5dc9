"""The delivery worker: claims outbox rows, sends them, records each outcome under its lease.

How a row travels: `pending` → claimed in a batch (`sending`, lease) → one API call → the
outcome is written in the same statement that checks the lease: `sent`, `failed`
(permanent errcode), back to `pending` with a later `due_ms` (transient errcode,
exponential backoff with jitter, bounded), or `unknown` (held for an officer).

The idempotency key: every template message carries its row's key as `client_msg_id`
(`s{send_id}:{openid}`, fixed when the outbox row is written, so every attempt of a row
sends the same one). WeChat documents that field for `cgi-bin/message/template/send`:
for one openid + client_msg_id it sends one message, "10分钟有效" (honoured for 10 minutes,
no guarantee after). `cgi-bin/message/subscribe/bizsend` documents no such field, so
subscribe notifications are sent without one.

Exactly once, and what it rests on:

* No crash: a row is claimed by one worker at a time (SKIP LOCKED / SQLite's single writer)
  and a finished row is never claimed again, so each message is sent once.
* A worker killed between the claim and the finish leaves its rows `sending`. After the
  lease expires another worker (or the restarted one) takes them over. Whether the killed
  worker's call went through is unknown ("in doubt"); so is the outcome of a call that
  timed out. Per channel (`DELIVERY_IN_DOUBT=auto`, the default):
  - template messages are resent under the same client_msg_id: WeChat drops the repeat,
    so the path is exactly-once, provided the resend comes within WeChat's 10 minutes.
    The configuration guarantees that for one resend: `DeliveryConfig` (and the settings)
    refuse a lease, backoff, poll interval or API timeout that could put a resend later
    than 9 minutes after the attempt it repeats (`delivery_policy.dedup_problem`).
  - subscribe notifications (bizsend) are held: such a row becomes `unknown`, is never
    resent by a worker, and shows on the console and in progress as 结果未知. An officer
    may resend them (`requeue-unknown`), each such resend risking one duplicate per row.
* Outcomes are flushed in small groups (every `flush_interval` or `batch` outcomes), so
  the in-doubt set of a killed worker is its in-flight and just-finished messages.

Residual risk (README, "How notices reach subscribers exactly once"):
* bizsend: a worker that dies after WeChat accepted a message and before our commit leaves
  a row that is held, not resent: that person may get the message once (most likely) or
  not at all until an officer resends it; never twice unless the officer resends.
  Only messages the dead worker had in flight or not yet flushed are affected (at most
  2 x concurrency + a batch).
* template: a duplicate is possible only if the platform forgets the key early, or if a
  row is in doubt twice in a row (e.g. the worker that took it over dies too) so that its
  second resend comes more than 10 minutes after the accepted attempt.
* `DELIVERY_IN_DOUBT=resend` resends bizsend too (no loss, but each in-doubt row may
  arrive twice); `hold` holds template messages as well (never a duplicate).

Rate: `GlobalRate.acquire()` before every call (shared through Redis). Unsubscribed
recipients are skipped at claim time (`cancelled`), and a claim that then waited in the
worker's queue for more than RECHECK_AFTER_S (behind the rate, for seconds) is checked once
more right before the call, so 退订 or leaving the account stops messages already queued.
A claim sent at once is not checked twice: that would be a query per message on the
path whose throughput the delivery bench measures.
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
    AUTO,
    ERR_BAD_RESPONSE,
    FAILED,
    HOLD,
    IDEMPOTENT_CHANNELS,
    IN_DOUBT_POLICIES,
    RETRY,
    SENT,
    UNKNOWN,
    classify,
    dedup_problem,
    in_doubt_for,
    takeover_every_s,
)
from notices.delivery_store import ALL_CHANNELS, Claim, DeliveryStore, Outcome, SendInfo
from notices.outbox import now_ms
from notices.rate import GlobalRate

log = logging.getLogger("notices.delivery")

RECHECK_AFTER_S = 1.0  # a claim queued longer than this is checked again before its call


def _unsubscribed(claim: Claim) -> Outcome:
    """The outcome of a claim whose recipient has left (退订, or no longer follows)."""
    return Outcome(claim, "cancelled", errmsg="recipient unsubscribed")


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
    in_doubt: str = AUTO
    idempotency_field: str = "client_msg_id"
    flush_interval_s: float = 0.05
    api_timeout_s: float = 5.0  # the client's timeout per call: part of the resend gap

    def __post_init__(self) -> None:
        if self.in_doubt not in IN_DOUBT_POLICIES:
            raise ValueError(f"in_doubt must be one of {IN_DOUBT_POLICIES}, "
                             f"got {self.in_doubt!r}")
        if self.resends_idempotent_channel:
            problem = dedup_problem(
                lease_s=self.lease_s, backoff_max_s=self.backoff_max_s,
                poll_interval_s=self.poll_interval_s, api_timeout_s=self.api_timeout_s)
            if problem:
                raise ValueError(problem)

    @property
    def takeover_every_s(self) -> float:
        return takeover_every_s(self.lease_s)

    @property
    def resends_idempotent_channel(self) -> bool:
        """Whether some in-doubt message is resent relying on WeChat's client_msg_id."""
        return bool(self.idempotency_field) and self.in_doubt != HOLD

    def in_doubt_for(self, channel: str) -> str:
        return in_doubt_for(channel, self.in_doubt, idempotent=bool(self.idempotency_field))

    def sends_key(self, channel: str) -> bool:
        """Only the template API has a client_msg_id field; bizsend gets none."""
        return bool(self.idempotency_field) and channel in IDEMPOTENT_CHANNELS


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
        self._queued_at: dict[int, float] = {}  # claim id -> when its recipient was checked
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
                    self._queued_at.pop(item.id, None)
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
        held_channels = [c for c in ALL_CHANNELS if self.config.in_doubt_for(c) == HOLD]
        resent_channels = [c for c in ALL_CHANNELS if c not in held_channels]
        if held_channels:
            held = await self.store.hold(limit, self.clock_ms(), held_channels)
            if held:
                log.warning("in-doubt deliveries held as unknown", extra={"count": held})
        if not resent_channels:
            return 0
        claims = await self.store.take_over(
            self._owner(), limit, self.clock_ms(), int(self.config.lease_s * 1000),
            resent_channels,
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
            if self._reachable(claim, subscribed, following):
                self._queued_at[claim.id] = time.monotonic()
                self._queue.put_nowait(claim)
            else:
                self._record(_unsubscribed(claim))

    async def _send_loop(self) -> None:
        while True:
            claim = await self._queue.get()
            if claim is None:
                return
            self._inflight += 1
            try:
                if self.rate is not None:
                    await self.rate.acquire()
                checked = self._queued_at.pop(claim.id, 0.0)
                if (time.monotonic() - checked <= RECHECK_AFTER_S
                        or await self._reachable_now(claim)):
                    self._record(await self._deliver(claim))
                else:
                    self._record(_unsubscribed(claim))
            finally:
                self._inflight -= 1
                self._room.set()

    async def _reachable_now(self, claim: Claim) -> bool:
        """The claim-time check again, just before the call, for a claim that waited: 退订
        meanwhile stops it. If the check itself fails, the claim-time answer stands."""
        try:
            subscribed, following = await self.store.still_reachable([claim.openid])
        except Exception:
            log.exception("could not re-check the recipient; sending", extra={"id": claim.id})
            return True
        return self._reachable(claim, subscribed, following)

    def _reachable(self, claim: Claim, subscribed: set[str], following: set[str]) -> bool:
        """Still follows the account and, for a send that needs it, still subscribes."""
        gated = self._sends[claim.send_id].requires_subscription
        return claim.openid in following and (not gated or claim.openid in subscribed)

    async def _deliver(self, claim: Claim) -> Outcome:
        info = self._sends[claim.send_id]
        body = {"touser": claim.openid, **info.payload}
        if self.config.sends_key(info.channel):
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
            return self._verdict(claim, errcode, errmsg, info.channel)
        msgid = answer.get("msgid") if isinstance(answer, dict) else None
        return Outcome(claim, SENT, errcode=0, msgid=None if msgid is None else str(msgid))

    def _verdict(self, claim: Claim, errcode: int, errmsg: str, channel: str) -> Outcome:
        c = self.config
        verdict = classify(
            errcode, attempts=claim.attempts, max_attempts=c.max_attempts,
            in_doubt=c.in_doubt_for(channel),
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
