"""The bare baseline: an aiohttp app that answers every POST with `success`.

It runs on the event loop `bot serve` picks (uvloop when installed, EVENT_LOOP to choose),
so the ratio compares the handlers, not the loops.
"""

import asyncio
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.serving import event_loop_factory  # noqa: E402


async def success(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="success")


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", success)
    app.router.add_get("/{tail:.*}", success)
    _, new_loop = event_loop_factory()
    loop = new_loop() if new_loop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    web.run_app(app, loop=loop, host="127.0.0.1", port=int(sys.argv[1]), print=None,
                access_log=None)


if __name__ == "__main__":
    main()
