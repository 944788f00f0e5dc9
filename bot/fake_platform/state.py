"""State of the fake WeChat platform: tokens, recorded calls, messages, injected faults.

Why a class and not module globals: several fake apps may run in one process (parallel
tests, the embedded dev server next to a test server), and each must start clean. The app
keeps its instance under FAKE_STATE_KEY so in-process tests can inspect it directly.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

# errmsg texts as WeChat words them (the part before " rid: ...").
ERRMSGS = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
}

# Both token kinds keep an old token usable this long after a newer one was issued.
OVERLAP_SECONDS = 300
# Sends the real platform deduplicates by `client_msg_id` (template/send documents it;
# subscribe/bizsend has no such field).
IDEMPOTENT_KINDS = frozenset({"template"})


def error(errcode: int, errmsg: str | None = None) -> dict:
    """A WeChat error body, with the request id WeChat appends to every errmsg."""
    text = errmsg or ERRMSGS.get(errcode, "error")
    if errcode != 0:
        text = f"{text} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"
    return {"errcode": errcode, "errmsg": text}


@dataclass
class Injection:
    """A fault for the next `times` calls to `path`."""

    path: str
    errcode: int | None = None
    errmsg: str | None = None
    status: int = 200
    delay: float = 0.0
    times: int = 1


@dataclass
class IssuedToken:
    kind: str  # "stable" or "legacy": WeChat keeps the two fully separate
    expires_at: float
    revoked: bool = False


class FakeWeChatState:
    """Everything the fake platform knows. Methods are synchronous and never await."""

    def __init__(
        self, *, appid: str, secret: str, token_ttl: int = 7200, renew_before: int = 300
    ) -> None:
        self.appid = appid
        self.secret = secret
        self.token_ttl = token_ttl
        # stable_token in normal mode hands out a new token when the current one has less
        # than this left ("平台会提前5分钟更新access_token").
        self.renew_before = renew_before
        self.tokens: dict[str, IssuedToken] = {}
        self.current: dict[str, str | None] = {"stable": None, "legacy": None}
        self.calls: list[dict[str, Any]] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.injections: dict[str, deque[Injection]] = {}
        self.menu: dict[str, Any] | None = None
        self.users: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.qrcodes: dict[str, dict[str, Any]] = {}
        # client_msg_id idempotency (template sends): first answer per (kind, openid, key).
        self.idempotent: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.replayed = 0
        self._msgids = itertools.count(2_000_000_000_000_000_000 + secrets.randbelow(10**9))

    # --- tokens --------------------------------------------------------------------------
    def _issue(self, kind: str, now: float) -> str:
        token = secrets.token_urlsafe(96)[:128]
        self.tokens[token] = IssuedToken(kind, now + self.token_ttl)
        self.current[kind] = token
        return token

    def stable_token(self, *, force: bool) -> tuple[str, int]:
        """(token, expires_in) as /cgi-bin/stable_token answers them."""
        now = time.time()
        cur = self.current["stable"]
        info = self.tokens.get(cur) if cur else None
        if force:
            # Forced mode invalidates every earlier stable token at once.
            for tok in self.tokens.values():
                if tok.kind == "stable":
                    tok.revoked = True
        elif info and not info.revoked and info.expires_at - now > self.renew_before:
            return cur, int(info.expires_at - now)  # type: ignore[return-value]
        elif info and not info.revoked:
            info.expires_at = min(info.expires_at, now + OVERLAP_SECONDS)
        return self._issue("stable", now), self.token_ttl

    def legacy_token(self) -> tuple[str, int]:
        """/cgi-bin/token: a new token on every call; the previous one lives 5 more minutes."""
        now = time.time()
        cur = self.current["legacy"]
        if cur and cur in self.tokens:
            old = self.tokens[cur]
            old.expires_at = min(old.expires_at, now + OVERLAP_SECONDS)
        return self._issue("legacy", now), self.token_ttl

    def check_token(self, token: str | None) -> int:
        """0 if usable, else WeChat's errcode (41001 missing, 40001 unknown, 42001 expired)."""
        if not token:
            return 41001
        info = self.tokens.get(token)
        if info is None or info.revoked:
            return 40001
        if info.expires_at <= time.time():
            return 42001
        return 0

    def expire_tokens(self) -> int:
        """Every issued token expires now (callers then get 42001). Returns how many."""
        now = time.time()
        for info in self.tokens.values():
            info.expires_at = min(info.expires_at, now - 1)
        return len(self.tokens)

    # --- calls, faults, messages ---------------------------------------------------------
    def record(self, path: str, method: str, query: dict, body: Any) -> dict[str, Any]:
        call = {
            "path": path,
            "method": method,
            "query": {
                k: "***" if k == "secret" else v for k, v in query.items() if k != "access_token"
            },
            "body": body,
            "time": time.time(),
            "errcode": None,  # filled in when the answer is known
            "status": None,
        }
        self.calls.append(call)
        return call

    def calls_for(self, path: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.calls if path is None or c["path"] == path]

    def reset_calls(self) -> None:
        self.calls.clear()

    def reset(self) -> None:
        """Forget calls, messages and pending faults (tokens, users and menu stay)."""
        self.calls.clear()
        self.messages.clear()
        self.injections.clear()
        self.idempotent.clear()
        self.replayed = 0

    def inject(self, injection: Injection) -> None:
        self.injections.setdefault(injection.path, deque()).append(injection)

    def take_injection(self, path: str) -> Injection | None:
        queue = self.injections.get(path)
        if not queue:
            return None
        inj = queue[0]
        inj.times -= 1
        if inj.times <= 0:
            queue.popleft()
        return inj

    def pending_injections(self) -> list[dict[str, Any]]:
        return [asdict(i) for q in self.injections.values() for i in q]

    def next_msgid(self) -> int:
        return next(self._msgids)

    def add_message(self, openid: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        entry = {"kind": kind, "time": time.time(), "msgid": self.next_msgid(), **payload}
        self.messages.setdefault(openid, []).append(entry)
        return entry

    def replay(self, kind: str, openid: str, body: dict) -> dict[str, Any] | None:
        """The first answer to a send with this body's `client_msg_id`, if any."""
        key = body.get("client_msg_id") if kind in IDEMPOTENT_KINDS else None
        seen = self.idempotent.get((kind, openid, key)) if isinstance(key, str) else None
        if seen is not None:
            self.replayed += 1
        return seen

    def remember(self, kind: str, openid: str, body: dict, answer: dict) -> dict[str, Any]:
        key = body.get("client_msg_id") if kind in IDEMPOTENT_KINDS else None
        if isinstance(key, str) and key:
            self.idempotent[(kind, openid, key)] = answer
        return answer

    def user(self, openid: str) -> dict[str, Any] | None:
        return self.users.get(openid)

    def is_unsubscribed(self, openid: str) -> bool:
        user = self.users.get(openid)
        return user is not None and not int(user.get("subscribe", 1))
