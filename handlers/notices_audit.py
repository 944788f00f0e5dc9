"""Refused admin requests land in the audit log too.

Why: "every admin action is audited" includes the ones we refused. An officer who tries to
publish to another league city, read another city's objections or post a stale console
form gets a 403; the record (who, what was tried, when, from where) is what lets a region
administrator notice a misused token. Successful actions are audited where they happen
(notices_admin, notices_objections, console); `audited` adds only the 403s, on the
notices feature's paths (applied by handlers.path_middleware), after authentication (a 401
has no "who" and is rate limited). The certificate admin paths (handlers.certificates_admin:
committees, certificates, blacklist, talent binding codes) are covered the same way: an
officer's 403 there (a region-admin-only action, another league city's person) is as
telling as one on a notice.

The target is the path as sent (percent-encoded, cut to the column's 200 characters): a
decoded path may hold a NUL, which PostgreSQL cannot store, and a long one would not fit.
"""

from __future__ import annotations

import json

from aiohttp import web

from handlers.admin_auth import audit

AUDITED_PREFIXES = (
    "/api/v1/admin/notices", "/api/v1/admin/sends", "/api/v1/admin/objections",
    "/api/v1/admin/deadlines", "/api/v1/admin/deadline-events", "/console/",
    # handlers.certificates_admin
    "/api/v1/admin/committees", "/api/v1/admin/certificates", "/api/v1/admin/blacklist",
    "/api/v1/admin/talent",
)
TARGET_MAX = 200  # models.AuditLog.target


def _error_code(text: str | None) -> str | None:
    """The refusal's code: `error` of problem JSON, or the first field of a 422-shaped
    `{"errors": [...]}` body (the certificate admin's 403s)."""
    try:
        body = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if body.get("error") is not None:
        return body["error"]
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    return first.get("field") if isinstance(first, dict) else None


async def _record(request: web.Request, text: str | None) -> None:
    target = f"{request.method} {request.rel_url.raw_path}"[:TARGET_MAX]
    await audit(request, "refused", target=target,
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
