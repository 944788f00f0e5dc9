"""The WeChat webhook: verification, signatures, AES, retry dedup and the 5-second rule.

Why each step:
- WeChat signs every request; a bad signature or a timestamp more than 5 minutes off is
  refused with 403 before anything is parsed (replay protection).
- WeChat retries a message three times when no answer comes within 5 s. We claim each
  message id once in the state store (shared by all processes): the first request
  handles it, a retry waits for that result and gets the same reply, never a second run.
- A handler that has not answered within WECHAT_REPLY_DEADLINE (4.5 s) is answered
  `success` and its reply goes out later as a customer-service message.
- Nothing a stranger sends can make this a 500: malformed or oversized bodies get a 4xx,
  and a body that stalls gets a 408 after BODY_TIMEOUT instead of holding a handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from bot.appkeys import BACKGROUND, CLIENT, DISPATCHER, SETTINGS, STORE
from bot.http_bodies import read_up_to
from bot.messages import Incoming, Reply, Text
from bot.signature import DecryptError, MessageCrypto, extract_encrypt, signature_ok
from bot.storage.base import Claim

log = logging.getLogger("bot.webhook")

MAX_BODY = 64 * 1024
EXTRA_REPLIES_WAIT = 1.0  # seconds more replies wait at most for the passive one's write
BODY_TIMEOUT = 10.0  # seconds for a body still arriving; WeChat sends one in milliseconds
DEDUP_TTL = 300.0  # WeChat's retries come within ~15 s; keep the answer a while longer
NO_REPLY = b"N"  # recorded answer: nothing to say (markers P..., D... are in Claim)
XML_REPLY = b"X"  # recorded answer: this marker, then the passive reply's XML
SORRY = "系统繁忙，请稍后再试。"


def _success() -> web.Response:
    return web.Response(text="success", content_type="text/plain")


class Webhook:
    """Request handlers bound to one app; build with `Webhook(app)` at startup."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        settings = app[SETTINGS]
        self.settings = settings
        self.token = settings.wechat_token.get_secret_value()
        self.crypto = (
            MessageCrypto(self.token, settings.wechat_appid, settings.aes_keys)
            if settings.aes_keys
            else None
        )

    # --- GET: URL verification -----------------------------------------------------------
    async def verify(self, request: web.Request) -> web.Response:
        q = request.query
        self._check_request_signature(q)
        if q.get("encrypt_type") == "aes" and "msg_signature" in q and self.crypto:
            # Safe-mode style verification: echostr is encrypted and signed.
            echostr = q.get("echostr", "")
            if not signature_ok(q["msg_signature"], self.token, q["timestamp"], q["nonce"],
                                echostr):
                raise web.HTTPForbidden(text="bad msg_signature")
            try:
                text, _ = self.crypto.decrypt(echostr)
            except DecryptError:
                raise web.HTTPBadRequest(text="cannot decrypt echostr") from None
            return web.Response(text=text)
        return web.Response(text=q.get("echostr", ""))

    def _check_request_signature(self, q: Any) -> None:
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not signature_ok(q.get("signature"), self.token, timestamp, nonce):
            log.warning("bad signature")
            raise web.HTTPForbidden(text="bad signature")
        try:
            ts = int(timestamp)
        except ValueError:
            raise web.HTTPForbidden(text="bad timestamp") from None
        if abs(time.time() - ts) > self.settings.wechat_max_clock_skew:
            log.warning("timestamp outside the allowed window", extra={"timestamp": ts})
            raise web.HTTPForbidden(text="stale timestamp")

    # --- POST: messages -----------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        q = request.query
        self._check_request_signature(q)
        body = await self._read_body(request)
        encrypted = q.get("encrypt_type") == "aes"
        xml, key_index = self._plaintext(body, q) if encrypted else (body, 0)
        try:
            msg = Incoming.from_xml(xml)
        except ValueError as exc:
            log.warning("malformed message", extra={"reason": str(exc)})
            raise web.HTTPBadRequest(text=f"malformed message: {exc}") from None
        if msg.type == "unknown":
            log.info("unknown message type", extra={"msg_type": msg.raw.get("MsgType")})
            return _success()
        xml_reply, written = await self._handle_once(msg)
        if xml_reply is None:
            response = _success()
        else:
            if encrypted and self.crypto is not None:
                # With the key that decrypted the message: the sender has that one (during
                # a rotation WeChat may still use the previous key).
                xml_reply = self.crypto.encrypt_reply(xml_reply, q["timestamp"], q["nonce"],
                                                      key_index=key_index)
            response = web.Response(text=xml_reply, content_type="application/xml")
        if written is not None:  # more replies wait for this one to be on its way
            try:
                await response.prepare(request)
                await response.write_eof()
            finally:
                if not written.done():
                    written.set_result(None)
        return response

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY,
                                                actual_size=request.content_length)
        content = request.content
        if content.is_eof():  # the whole body is here (the usual case): one read, no timer
            body = await content.read(MAX_BODY + 1)
        else:  # still arriving: in parts, and within BODY_TIMEOUT (a stalled sender)
            # A plain timer that fails the stream: 2 µs, where asyncio.timeout's
            # cancel-and-uncancel costs 5. (Rare in practice: even the bench's client,
            # which writes headers and body separately, never got here in 12,000
            # messages; aiohttp had the whole body before the handler ran.)
            timer = asyncio.get_running_loop().call_later(BODY_TIMEOUT, _stall, content)
            try:
                body = await read_up_to(content, MAX_BODY + 1)
            except _BodyStalled:
                log.warning("request body not received in time")
                raise web.HTTPRequestTimeout(text="request body not received in time") from None
            finally:
                timer.cancel()
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        if not body.strip():
            raise web.HTTPBadRequest(text="empty body")
        if b"<!" in body:  # CDATA is fine; a DOCTYPE or ENTITY (any case) is refused
            upper = body.upper()
            if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
                raise web.HTTPBadRequest(text="DOCTYPE not allowed")
        return body

    def _plaintext(self, body: bytes, q: Any) -> tuple[bytes, int]:
        """Decrypt a safe/compatible-mode body after checking its msg_signature; the XML
        and the index of the key that decrypted it (0 current, 1 previous)."""
        try:
            encrypt = extract_encrypt(body)
        except Exception:  # ElementTree raises ParseError and friends
            raise web.HTTPBadRequest(text="malformed XML") from None
        if encrypt is None:
            raise web.HTTPBadRequest(text="missing Encrypt")
        if self.crypto is None:
            raise web.HTTPBadRequest(text="encrypted message but no WECHAT_AES_KEY configured")
        if not signature_ok(q.get("msg_signature"), self.token, q.get("timestamp", ""),
                            q.get("nonce", ""), encrypt):
            log.warning("bad msg_signature")
            raise web.HTTPForbidden(text="bad msg_signature")
        try:
            text, key_index = self.crypto.decrypt(encrypt)
        except DecryptError:
            log.warning("cannot decrypt with the current or previous key")
            raise web.HTTPBadRequest(text="cannot decrypt") from None
        if key_index:
            log.info("decrypted with the previous EncodingAESKey")
        return text.encode(), key_index

    # --- exactly-once handling ----------------------------------------------------------
    async def _handle_once(self, msg: Incoming) -> tuple[str | None, asyncio.Future | None]:
        """Run the dispatcher once per message id; retries get the stored answer.

        Returns the passive reply (None: answer `success`) and, when more replies follow
        as customer-service messages, the future to resolve once the passive reply has
        been written: they wait for it, so the user sees the replies in order.

        The message id is claimed in the same store step that takes the user's lock and
        loads the conversation, and the answer is recorded in the step that saves and
        unlocks (two Redis round trips per message). The work runs in its own task that
        records its own result, so neither a request cancelled by a client that gave up
        nor a slow handler loses the answer: the deferral and the result race through one
        compare-and-set on the dedup key.
        """
        deadline = time.monotonic() + self.settings.wechat_reply_deadline
        attempt = _Attempt(msg, f"dedup:{self.settings.wechat_appid}:{msg.dedup_id}")
        task = asyncio.create_task(self._process(attempt))
        self._track(task)
        if await _finished_within(task, self.settings.wechat_reply_deadline):
            first = task.result()
            if first is _CLAIMED_ELSEWHERE:
                return await self._answer_of_other(attempt, deadline), None
            return first, attempt.written
        # Deadline: answer `success`; from now on the task sends everything as
        # customer-service messages, unless it recorded its answer in the meantime.
        attempt.abandoned = True
        claim = attempt.claim
        if claim.written:
            if await self.app[STORE].compare_and_set(claim.key, claim.pending, claim.deferred,
                                                      ttl=DEDUP_TTL):
                log.warning("handler missed the reply deadline; answering later",
                            extra={"dedup": msg.dedup_id})
                return None, None
            first = await task  # it finished between the timeout and the compare-and-set
            return (None, None) if first is _CLAIMED_ELSEWHERE else (first, attempt.written)
        log.warning("message not claimed within the reply deadline; answering later",
                    extra={"dedup": msg.dedup_id})
        return None, None

    async def _answer_of_other(self, attempt: _Attempt, deadline: float) -> str | None:
        """A retry: wait (until the deadline) for the answer the first request records."""
        log.info("retry of a message already claimed", extra={"dedup": attempt.msg.dedup_id})
        store = self.app[STORE]
        value = attempt.claim.holder
        delay = 0.01
        while True:
            if value is None or value[:1] in (Claim.DEFERRED, NO_REPLY):
                return None
            if value[:1] == XML_REPLY:
                return value[1:].decode()
            if value[:1] == b"{":  # written as JSON by an earlier version (300 s at most)
                return json.loads(value)["xml"]
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            value = await store.get(attempt.claim.key)

    async def _process(self, attempt: _Attempt) -> Any:
        """Dispatch once; the passive answer (XML or None), or _CLAIMED_ELSEWHERE."""
        claim = attempt.claim
        try:
            await self.app[DISPATCHER].feed(attempt.msg, self.app, claim=claim)
        except Exception:
            log.exception("handler failed", extra={"dedup": attempt.msg.dedup_id})
            if not attempt.recorded:
                # Failed before the unlock step (lock timeout, store error): record the
                # apology by itself, as a retry must not run the message again.
                answer = attempt.answer(None)
                if claim.written:
                    claim.settled = await self.app[STORE].compare_and_set(
                        claim.key, claim.pending, answer, ttl=DEDUP_TTL)
                else:
                    claim.settled = True  # nothing claimed: answer this request only
        finally:
            # claim.result is attempt.answer, a bound method: the attempt and its claim
            # hold each other. Unhooked, a message's objects go with their last reference
            # instead of waiting for the cyclic collector (one such cycle per message made
            # it run every ~25 messages: see the issue 2 note).
            claim.result = None
        if claim.holder is not None:
            return _CLAIMED_ELSEWHERE
        if claim.settled and attempt.passive:
            if len(attempt.replies) > 1:
                attempt.written = asyncio.get_running_loop().create_future()
                self._track(asyncio.create_task(self._send_after_passive(attempt)))
            return attempt.first
        # The request answered (or will answer) `success`: all goes as customer-service.
        await self._send_custom(attempt.msg.openid, attempt.replies)
        return None

    async def _send_after_passive(self, attempt: _Attempt) -> None:
        """The replies after the first, once the first (the passive reply) has been
        written, or after EXTRA_REPLIES_WAIT if the request never writes it (cancelled):
        sent at once, they could reach the user before it."""
        await asyncio.wait((attempt.written,), timeout=EXTRA_REPLIES_WAIT)
        await self._send_custom(attempt.msg.openid, attempt.replies[1:])

    async def _send_custom(self, openid: str, replies: list[Reply]) -> None:
        client = self.app[CLIENT]
        for reply in replies:
            try:
                await client.send_custom_message(openid, reply.to_custom_message())
            except Exception:
                log.exception("customer-service message failed", extra={"openid": openid})
                return

    def _track(self, task: asyncio.Task) -> None:
        """Keep a reference (tasks are weakly held) and let shutdown wait for it."""
        tasks = self.app[BACKGROUND]
        tasks.add(task)
        task.add_done_callback(tasks.discard)


_CLAIMED_ELSEWHERE = object()


class _BodyStalled(Exception):
    """The request body did not arrive within BODY_TIMEOUT."""


def _stall(content: Any) -> None:
    content.set_exception(_BodyStalled())  # wakes the pending read with it


async def _finished_within(task: asyncio.Task, seconds: float) -> bool:
    """Wait for `task` up to `seconds` without ever cancelling it (a cancelled request
    cancels only this wait). What `asyncio.wait({task}, timeout=...)` does, minus its
    sets and per-call bookkeeping, which cost more than the rest of this per message."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(seconds, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


class _Attempt:
    """One request's handling of a message: its claim and what it answers."""

    def __init__(self, msg: Incoming, key: str) -> None:
        self.msg = msg
        self.claim = Claim(key, DEDUP_TTL, result=self.answer)
        self.replies: list[Reply] = []
        self.first: str | None = None
        self.recorded = False  # answer() ran: the unlock step carried it
        self.passive = False  # the recorded answer is the passive reply (not a deferral)
        self.abandoned = False  # the request gave up waiting and answered `success`
        self.written: asyncio.Future | None = None  # resolved when the passive reply is out

    def answer(self, replies: list[Reply] | None) -> bytes | str:
        """The value recorded for retries (None: the handler failed, apologise)."""
        self.recorded = True
        self.replies = [Text(SORRY)] if replies is None else replies
        if self.abandoned:
            self.passive = False
            return self.claim.deferred
        self.passive = True
        self.first = self.replies[0].to_xml(self.msg) if self.replies else None
        if self.first is None:
            return NO_REPLY
        return XML_REPLY + self.first.encode()


def setup_webhook(app: web.Application, path: str) -> Webhook:
    """Route GET (URL verification) and POST (messages) at `path`."""
    webhook = Webhook(app)
    app.router.add_get(path, webhook.verify)
    app.router.add_post(path, webhook.receive)
    return webhook
