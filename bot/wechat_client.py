"""Async client for the WeChat official-account HTTP API (aiohttp).

Why our own client instead of wechatpy's: wechatpy is synchronous and, on an invalid token
(40001), refreshes and retries without bound. Here every retry is bounded, the access token
is shared by every process through the StateStore (one refresh at a time, cluster-wide), and
nothing secret is ever logged: log lines carry the API path, never the URL with its
`access_token` query, the token itself or the appsecret.

Retry policy:
* 40001/40014/42001 (token invalid/expired): drop the cached token if it is still the one
  that failed, refresh once, retry the call once. Never more.
* -1 (system busy), 45009/45011 (quota), HTTP 5xx, connection errors and timeouts:
  exponential backoff with full jitter, at most `max_retries` retries.
  Note: a timed-out POST may have reached WeChat already; WeChat has no idempotency keys,
  so a retry can in rare cases deliver a message twice. We accept that over losing it.
* Any other non-zero errcode is permanent and raised at once.

`WeChatAPIError.errcode` values that WeChat itself never returns (negative, ours):
* -(HTTP status), e.g. -502: a non-2xx HTTP answer.
* ERR_TIMEOUT (-1000): no complete answer within `timeout` seconds.
* ERR_CONNECTION (-1001): connecting, sending or reading failed.
* ERR_BAD_RESPONSE (-1002): the answer was not a JSON object (or a token answer lacked fields).
* ERR_TOKEN_LOCK (-1003): the cluster-wide token-refresh lock could not be taken in time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json as jsonlib
import logging
import mimetypes
import random
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from yarl import URL

from bot.storage.base import LockTimeout, StateStore

logger = logging.getLogger("bot.wechat_client")

ERR_SYSTEM_BUSY = -1
ERR_TIMEOUT = -1000
ERR_CONNECTION = -1001
ERR_BAD_RESPONSE = -1002
ERR_TOKEN_LOCK = -1003

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
RETRYABLE_ERRCODES = frozenset({ERR_SYSTEM_BUSY, 45009, 45011, ERR_TIMEOUT, ERR_CONNECTION})

# After a failed early refresh, wait this long before trying again (token still valid).
REFRESH_RETRY_AFTER = 5.0

STABLE_TOKEN_PATH = "/cgi-bin/stable_token"  # noqa: S105 (a path, not a secret)


def is_retryable(errcode: int) -> bool:
    """Transient failures worth another attempt after a pause (HTTP 5xx included)."""
    return errcode in RETRYABLE_ERRCODES or -599 <= errcode <= -500


class WeChatAPIError(Exception):
    """A failed API call. `errcode` is WeChat's code or one of the ERR_* codes above."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"{path}: errcode={errcode} errmsg={errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path

    @property
    def retryable(self) -> bool:
        return is_retryable(self.errcode)


@dataclasses.dataclass(frozen=True)
class _CachedToken:
    token: str = dataclasses.field(repr=False)
    raw: bytes = dataclasses.field(repr=False)  # stored bytes, for compare-and-delete
    expires_at: float  # wall clock (time.time()): shared by processes on different hosts
    refresh_at: float

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at

    def valid(self, now: float) -> bool:
        return now < self.expires_at


class WeChatClient:
    """The official-account API. One instance per process and appid; `session` is not owned."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        store: StateStore,
        *,
        appid: str,
        secret: str,
        base_url: str = "https://api.weixin.qq.com",
        timeout: float = 5.0,
        max_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 2.0,
        refresh_margin: float = 300.0,
    ) -> None:
        self.session = session
        self.store = store
        self.appid = appid
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.refresh_margin = refresh_margin
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        # Worst case for one refresh (a normal plus a forced fetch, each with its retries);
        # the lock must outlive it or a second process would fetch concurrently.
        one_fetch = (self.max_retries + 1) * timeout + self.max_retries * backoff_max
        self._lock_ttl = 2 * one_fetch + 1.0
        self._lock_wait = self._lock_ttl + 1.0
        self._inflight: asyncio.Task[str] | None = None
        # This process's copy of the cached token: no store round trip per API call.
        self._local: _CachedToken | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"WeChatClient(appid={self.appid!r}, base_url={self.base_url!r})"

    # --- access token ------------------------------------------------------------------
    @property
    def _cache_key(self) -> str:
        return f"wechat:token:{self.appid}"

    async def get_access_token(self, *, force_refresh: bool = False) -> str:
        """The cached token, or a new one. force_refresh replaces the cached one.

        Fast path: the process-local copy. Otherwise a single task per process reads the
        shared cache and, when needed, refreshes under the cluster-wide lock; concurrent
        callers join that task, so a burst costs a handful of store operations, not one per
        caller. A forced refresh is de-duplicated too: if the cached token changed while we
        waited for the lock, that newer token is returned instead of forcing again.
        """
        local = self._local
        if not force_refresh and local is not None and local.fresh(time.time()):
            return local.token
        bad = None
        if force_refresh:
            entry = await self._read_cache()
            bad = entry.token if entry is not None else (local.token if local else None)
        return await self._obtain_shared(bad_token=bad, force=force_refresh)

    async def _replace_rejected(self, bad_token: str) -> str:
        """A token WeChat refused: drop it (only if still cached) and get another."""
        return await self._obtain_shared(bad_token=bad_token, force=False)

    async def _obtain_shared(self, *, bad_token: str | None, force: bool) -> str:
        """Run `_obtain` once per process: concurrent callers join the running task."""
        token = ""
        for _ in range(2):
            task = self._inflight
            joined = task is not None and not task.done()
            if not joined:
                task = asyncio.get_running_loop().create_task(
                    self._obtain(bad_token=bad_token, force=force)
                )
                self._inflight = task
                task.add_done_callback(self._inflight_done)
            assert task is not None
            token = await asyncio.shield(task)
            # A task we merely joined may have started before our token was rejected and
            # handed back that very token: then run our own (once).
            if not joined or bad_token is None or token != bad_token:
                return token
        return token

    def _inflight_done(self, task: asyncio.Task[str]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported twice

    async def _obtain(self, *, bad_token: str | None, force: bool) -> str:
        if self._local is not None and self._local.token == bad_token:
            self._local = None
        if not force:
            entry = await self._read_cache()
            if entry is not None and entry.token == bad_token:
                # Compare-and-delete: another process may have stored a newer token since.
                await self.store.compare_and_delete(self._cache_key, entry.raw)
            elif entry is not None and entry.fresh(time.time()):
                self._local = entry
                return entry.token
        return await self._refresh_locked(bad_token=bad_token, force=force)

    async def _read_cache(self) -> _CachedToken | None:
        raw = await self.store.get(self._cache_key)
        if raw is None:
            return None
        try:
            data = jsonlib.loads(raw)
            return _CachedToken(
                str(data["token"]), raw, float(data["expires_at"]), float(data["refresh_at"])
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a corrupt access-token cache entry")
            return None

    async def _write_cache(self, token: str, expires_in: int) -> _CachedToken:
        now = time.time()
        # Refresh `refresh_margin` early; with a lifetime shorter than twice the margin
        # (tests, odd platform answers) refresh at half-life instead of on every call.
        lead = self.refresh_margin if expires_in > 2 * self.refresh_margin else expires_in / 2
        expires_at, refresh_at = now + expires_in, now + expires_in - lead
        data = {"token": token, "expires_at": expires_at, "refresh_at": refresh_at}
        raw = jsonlib.dumps(data, separators=(",", ":")).encode()
        await self.store.set(self._cache_key, raw, ttl=expires_in)
        return _CachedToken(token, raw, expires_at, refresh_at)

    async def _refresh_locked(self, *, bad_token: str | None, force: bool) -> str:
        lock = self.store.lock(
            f"wechat:token-refresh:{self.appid}", ttl=self._lock_ttl, timeout=self._lock_wait
        )
        try:
            await lock.acquire()
        except LockTimeout:
            raise WeChatAPIError(
                ERR_TOKEN_LOCK, "timed out waiting for the token-refresh lock", STABLE_TOKEN_PATH
            ) from None
        try:
            entry = await self._read_cache()
            now = time.time()
            # Another process may have refreshed while we waited for the lock.
            if entry is not None and entry.token != bad_token and entry.fresh(now):
                self._local = entry
                return entry.token
            try:
                token, expires_in = await self._fetch_token(force=force)
                if bad_token is not None and token == bad_token and not force:
                    # WeChat still hands out the token it rejected: force a new one.
                    token, expires_in = await self._fetch_token(force=True)
            except WeChatAPIError:
                if entry is not None and bad_token is None and not force and entry.valid(now):
                    # Refresh early failed (WeChat down?): keep the still-valid token and
                    # try again a little later rather than on every call.
                    logger.warning("access-token refresh failed; using the cached one until expiry")
                    retry_at = min(entry.expires_at, now + REFRESH_RETRY_AFTER)
                    self._local = dataclasses.replace(entry, refresh_at=retry_at)
                    return entry.token
                raise
            self._local = await self._write_cache(token, expires_in)
            return token
        finally:
            await lock.release()

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        body = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret,
            "force_refresh": force,
        }
        result = await self.call("POST", STABLE_TOKEN_PATH, json=body, with_token=False)
        token = result.get("access_token")
        try:
            expires_in = int(result.get("expires_in", 0))
        except (TypeError, ValueError):
            expires_in = 0
        if not isinstance(token, str) or not token or expires_in <= 0:
            raise WeChatAPIError(ERR_BAD_RESPONSE, "token answer lacks fields", STABLE_TOKEN_PATH)
        logger.info(
            "fetched access token force=%s expires_in=%d",
            force,
            expires_in,
            extra={"wx_path": STABLE_TOKEN_PATH, "wx_force": force, "wx_expires_in": expires_in},
        )
        return token, expires_in

    # --- calls -------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        with_token: bool = True,
    ) -> dict:
        """One API call with the retry policy of the module docstring; returns the JSON.

        `data` may be a zero-argument callable building the body per attempt (multipart
        bodies cannot be sent twice).
        """
        token: str | None = None
        token_replaced = False
        retries = 0
        attempt = 0
        while True:
            attempt += 1
            if with_token and token is None:
                token = await self.get_access_token()
            try:
                return await self._send_once(method, path, attempt, token, params, json, data)
            except WeChatAPIError as exc:
                if with_token and exc.errcode in TOKEN_ERRCODES and not token_replaced:
                    token_replaced = True
                    assert token is not None
                    token = await self._replace_rejected(token)
                    continue
                if exc.retryable and retries < self.max_retries:
                    retries += 1
                    await asyncio.sleep(self._backoff(retries))
                    if not token_replaced:
                        token = None  # re-read: another process may have refreshed meanwhile
                    continue
                raise

    def _backoff(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(retry-1))]."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** (retry - 1)))
        return random.uniform(0, cap)

    async def _send_once(
        self,
        method: str,
        path: str,
        attempt: int,
        token: str | None,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
    ) -> dict:
        query = {k: str(v) for k, v in (params or {}).items()}
        if token is not None:
            query["access_token"] = token
        headers = None
        body = data() if callable(data) else data
        if json is not None:
            # WeChat shows \uXXXX escapes literally in some places: send raw UTF-8
            # (orjson writes UTF-8 and compact separators, at a fraction of json's cost).
            body = orjson.dumps(json)
            headers = {"Content-Type": "application/json; charset=utf-8"}
        started = time.monotonic()
        errcode: int
        errmsg = ""
        result: dict = {}
        try:
            # The URL built as one string: yarl's query merging was ~6% of a delivery
            # worker's CPU (bench/delivery_bench.py under py-spy).
            url = self.base_url + path + ("?" + urlencode(query) if query else "")
            async with self.session.request(
                method,
                URL(url, encoded=True),
                data=body,
                headers=headers,
                timeout=self._client_timeout,
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except TimeoutError:
            errcode, errmsg = ERR_TIMEOUT, "timeout"
        except aiohttp.ClientError as exc:
            # Only the type name: some aiohttp errors render the URL, token included.
            errcode, errmsg = ERR_CONNECTION, type(exc).__name__
        else:
            errcode, errmsg, result = _interpret(status, raw)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        level = logging.INFO if errcode == 0 else logging.WARNING
        logger.log(
            level,
            "wechat api %s %s errcode=%s attempt=%d elapsed_ms=%d",
            method,
            path,
            errcode,
            attempt,
            elapsed_ms,
            extra={
                "wx_path": path,
                "wx_errcode": errcode,
                "wx_attempt": attempt,
                "wx_elapsed_ms": elapsed_ms,
            },
        )
        if errcode != 0:
            raise WeChatAPIError(errcode, errmsg, path)
        return result

    # --- API helpers -------------------------------------------------------------------
    async def send_custom_message(self, openid: str, message: Mapping[str, Any]) -> dict:
        """Customer-service message, e.g. {"msgtype": "text", "text": {"content": "hi"}}."""
        return await self.call(
            "POST", "/cgi-bin/message/custom/send", json={"touser": openid, **message}
        )

    async def send_text(self, openid: str, content: str) -> dict:
        return await self.send_custom_message(
            openid, {"msgtype": "text", "text": {"content": content}}
        )

    async def create_menu(self, menu: Mapping[str, Any]) -> dict:
        return await self.call("POST", "/cgi-bin/menu/create", json=dict(menu))

    async def get_user_info(self, openid: str, lang: str = "zh_CN") -> dict:
        return await self.call("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": lang})

    async def send_template_message(
        self, openid: str, template_id: str, data: Mapping[str, Any], url: str | None = None
    ) -> dict:
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": dict(data)}
        if url:
            body["url"] = url
        return await self.call("POST", "/cgi-bin/message/template/send", json=body)

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: Mapping[str, Any], page: str | None = None
    ) -> dict:
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": dict(data)}
        if page:
            body["page"] = page
        return await self.call("POST", "/cgi-bin/message/subscribe/bizsend", json=body)

    async def upload_media(self, media_type: str, filename: str, content: bytes) -> dict:
        """Temporary media (3 days). Returns {"type", "media_id", "created_at"}."""
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"

        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            fd.add_field("media", content, filename=filename, content_type=ctype)
            return fd

        return await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": media_type}, data=form
        )


def _interpret(status: int, raw: bytes) -> tuple[int, str, dict]:
    """(errcode, errmsg, json) of one HTTP answer."""
    if not 200 <= status < 300:
        return -status, f"HTTP {status}", {}
    try:
        result = jsonlib.loads(raw)
    except ValueError:
        return ERR_BAD_RESPONSE, "answer is not JSON", {}
    if not isinstance(result, dict):
        return ERR_BAD_RESPONSE, "answer is not a JSON object", {}
    try:
        errcode = int(result.get("errcode") or 0)
    except (TypeError, ValueError):
        return ERR_BAD_RESPONSE, "errcode is not an integer", {}
    return errcode, str(result.get("errmsg", "")), result


__all__ = [
    "ERR_BAD_RESPONSE",
    "ERR_CONNECTION",
    "ERR_SYSTEM_BUSY",
    "ERR_TIMEOUT",
    "ERR_TOKEN_LOCK",
    "WeChatAPIError",
    "WeChatClient",
    "is_retryable",
]
