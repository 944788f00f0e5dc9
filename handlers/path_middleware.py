"""One middleware for the paths that need one: the console's security headers
(handlers.console) and the audit of refused admin requests (handlers.notices_audit).

Why one: every request pays each app middleware (a coroutine layer, a few µs); most
requests (the webhook, verification scans, the eligibility API) need neither, and a single
prefix test sends them straight to their handler.
"""

from __future__ import annotations

from aiohttp import web

from handlers.console import add_security_headers
from handlers.notices_audit import AUDITED_PREFIXES, audited

CONSOLE_PREFIX = "/console"
GUARDED_PREFIXES = (CONSOLE_PREFIX, *AUDITED_PREFIXES)


@web.middleware
async def guarded_paths(request: web.Request, handler):
    path = request.path
    if not path.startswith(GUARDED_PREFIXES):
        return await handler(request)
    if path.startswith(AUDITED_PREFIXES):
        response = await audited(request, handler)
    else:
        response = await handler(request)
    if path.startswith(CONSOLE_PREFIX):
        add_security_headers(response)
    return response
