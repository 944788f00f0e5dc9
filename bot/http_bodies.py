"""Reading a request body whole, up to a bound.

Why a helper: aiohttp's `request.content.read(n)` returns what has arrived so far, not the
whole body, so a body the network delivers in parts (a slow link, chunked transfer) takes
several reads. The webhook and the certificate import both need "all of it, but never
more than N bytes"; this is that loop, once.
"""

from __future__ import annotations

from typing import Any


async def read_up_to(content: Any, limit: int) -> bytes:
    """The body from `content` (an aiohttp StreamReader), stopping at `limit` bytes: a
    caller that asks for one byte more than it accepts learns that the body is too long
    without reading the rest."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = await content.read(limit - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if content.at_eof():
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)
