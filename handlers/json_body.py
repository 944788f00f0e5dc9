"""JSON request bodies from anyone: parsed once, in one place, never a 500.

Why one reader: `request.json()` (the stdlib parser) accepts what cannot be stored or
answered. `"\\ud800"` decodes to half a surrogate pair, which no UTF-8 encoder (the
database driver, the log formatter, the JSON of the error reply) will take; `NaN` and
`Infinity` are not JSON, yet parse to floats that overflow the first `int()`; and deep
nesting raises RecursionError, which no handler expected. Each reached a 500.

orjson refuses all three (it stops nesting at 1,024 levels) and is the faster parser, so
it is the only one: what it refuses is a 400. Integers beyond 64 bits come back as
floats, which every field check then refuses by range or type, naming the field.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

NOT_JSON = "请求体不是合法的 JSON"


class JsonBodyError(ValueError):
    """The body is not JSON this service accepts; `message` is for the user."""

    def __init__(self, message: str = NOT_JSON) -> None:
        super().__init__(message)
        self.message = message


def loads(body: bytes | str) -> Any:
    """The parsed body, or JsonBodyError."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise JsonBodyError from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (bounded by the app's client_max_size), or JsonBodyError."""
    return loads(await request.read())
