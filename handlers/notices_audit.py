"""Refused admin requests land in the audit log too.

Why: "every admin action is audited" includes the ones we refused. An officer who tries to
publish to another league city, read another city's objections or post a stale console
form gets a 403; the record (who, what was tried, when, from where) is what lets a region
administrator notice a misused token. Successful actions are audited where they happen
(notices_admin, notices_objections, console); `audited` adds only the 403s, on the
notices feature's paths (applied by handlers.path_middleware), after authentication (a 401
has no "who" and is rate limited).
"""

from __future__ import annotations

import json

from aiohttp import web

from handlers.admin_auth import audit

AUDITED_PREFIXES = (
    "/api/v1/admin/notices", "/api/v1/admin/sends", "/api/v1/admin/objections",
    "/api/v1/admin/deadlines", "/api/v1/admin/deadline-events", "/console/",
)


def _error_code(text: str | None) -> str | None:
    try:
        body = json.loads(text or "")
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


async def _record(request: web.Request, text: str | None) -> None:
    await audit(request, "refused", target=f"{request.method} {request.path}",
                detail={"status": 403, "error": _error_code(text)})


async def audited(request: web.Request, handler) -> web.StreamResponse:
    """Run `handler`, recording a 403 (raised or returned) in the audit log. Applied to
    the AUDITED_PREFIXES by handlers.path_middleware."""
    try:
        response = await handler(request)
    except web.HTTPForbidden as exc:
        await _record(request, exc.text)
        raise
    if response.status == 403:
        await _record(request, getattr(response, "text", None))
    return response
