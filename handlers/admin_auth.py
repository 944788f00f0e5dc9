"""Admin access: bearer tokens with roles, and the audit log every admin action writes.

Roles: `region_admin` may act on every league city; `league_city_officer` only on its own.
Tokens are random 32-byte strings shown once at creation; the database keeps SHA-256 only,
so a leaked database does not leak tokens. Lookups hash the presented token and compare by
equality on the hash (an index lookup, no timing signal on the secret itself).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.appkeys import STORE
from bot.ratelimit import RateLimiter, client_ip, enforce
from models import AdminToken, AuditLog

REGION_ADMIN = "region_admin"
LEAGUE_CITY_OFFICER = "league_city_officer"
ROLES = (REGION_ADMIN, LEAGUE_CITY_OFFICER)
TOKEN_PREFIX = "zca_"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True, slots=True)
class Officer:
    """The authenticated caller of an admin endpoint."""

    token_id: int
    name: str
    role: str
    league_city: str | None

    @property
    def is_region_admin(self) -> bool:
        return self.role == REGION_ADMIN

    def may_target_league_city(self, code: str | None) -> bool:
        """`None` means all league cities: only a region administrator may do that."""
        if self.is_region_admin:
            return True
        return code is not None and code == self.league_city


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(name: str, role: str, league_city: str | None) -> tuple[AdminToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == LEAGUE_CITY_OFFICER and not league_city:
        raise ValueError("league_city is required for a league_city_officer")
    if role == REGION_ADMIN:
        league_city = None
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await AdminToken.create(name=name, token_hash=hash_token(plaintext), role=role,
                                  league_city=league_city)
    await audit(None, "admin_token.create", target=f"token:{row.id}",
                detail={"name": name, "role": role, "league_city": league_city},
                actor="cli")
    return row, plaintext


async def authenticate(token: str | None) -> Officer | None:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await AdminToken.get_or_none(token_hash=hash_token(token), revoked_at=None)
    if row is None:
        return None
    row.last_used_at = datetime.now(UTC)
    await row.save(update_fields=["last_used_at"])
    return Officer(token_id=row.id, name=row.name, role=row.role, league_city=row.league_city)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("zc_admin")


def _problem(status: int, code: str, message: str) -> web.HTTPException:
    cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    return cls(text=f'{{"error": "{code}", "message": "{message}"}}',
               content_type="application/json")


async def count_auth_failure(request: web.Request) -> None:
    """Count one failed authentication from this IP; 429 past 20 a minute.

    One budget for every way a token is presented (API bearer, console login form, console
    cookie), so guessing through the console is not a way around the API's limit."""
    await enforce(request, RateLimiter(request.app[STORE]), "admin-auth-fail",
                  limit=20, window=60)


async def current_officer(request: web.Request) -> Officer:
    """401 without a valid token. Failed attempts are rate limited per IP."""
    officer = await authenticate(bearer(request))
    if officer is None:
        await count_auth_failure(request)
        raise _problem(401, "unauthorized", "请先登录：缺少或无效的令牌")
    request["officer"] = officer
    return officer


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Decorator for admin handlers: a valid token with one of the roles (any if none)."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            officer = await current_officer(request)
            if roles and officer.role not in roles:
                raise _problem(403, "forbidden", "您的角色无权进行此操作")
            return await handler(request)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    return wrap


def forbid_unless_may_target(officer: Officer, league_city: str | None) -> None:
    """403 when an officer targets another league city (or all of them)."""
    if not officer.may_target_league_city(league_city):
        raise _problem(403, "forbidden_league_city", "您只能操作本盟市的事项")


async def audit(request: web.Request | None, action: str, *, target: str | None = None,
                detail: dict[str, Any] | None = None, actor: str | None = None) -> None:
    """Append one audit record: who (token), what, when, from where."""
    officer: Officer | None = request.get("officer") if request is not None else None
    await AuditLog.create(
        actor=actor or (officer.name if officer else "anonymous"),
        token_id=officer.token_id if officer else None,
        role=officer.role if officer else None,
        action=action,
        target=target,
        ip=client_ip(request) if request is not None else None,
        detail=detail,
    )
