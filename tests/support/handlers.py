"""Test-only handlers plugged in with HANDLERS_MODULE=tests.support.handlers.

They sit in front of the real handlers so tests can make a handler slow, fail, or count
its own executions (across processes too: the counter lives in the state store).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

import handlers
from bot.appkeys import DISPATCHER, STORE
from bot.dispatcher import Context, Router, Text
from bot.messages import Incoming

router = Router("test-support")


@router.message(Text("slow", prefix=True))
async def slow(msg: Incoming, ctx: Context) -> str:
    seconds = float(ctx.data.get("rest") or 1.0)
    await ctx[STORE].incr(f"test:runs:{msg.dedup_id}", ttl=600)
    await asyncio.sleep(seconds)
    return f"慢回复 {seconds:g}"


@router.message(Text("count"))
async def count(msg: Incoming, ctx: Context) -> str:
    runs = await ctx[STORE].incr(f"test:runs:{msg.dedup_id}", ttl=600)
    await asyncio.sleep(0.3)  # long enough for a retry to arrive while we work
    return f"第{runs}次"


@router.message(Text("boom"))
async def boom(msg: Incoming, ctx: Context) -> str:
    raise RuntimeError("handler exploded on purpose")


@router.message(Text("多条"))
async def several(msg: Incoming, ctx: Context) -> list[str]:
    return ["第一条", "第二条", "第三条"]


@router.message(Text("step"))
async def step(msg: Incoming, ctx: Context) -> str:
    """Read-modify-write on the conversation, slowly: races show up as lost updates."""
    data = await ctx.state.get_data()
    n = data.get("n", 0)
    await asyncio.sleep(0.05)
    await ctx.state.update_data(n=n + 1)
    return f"n={n + 1}"


register_commands = handlers.register_commands


def setup(app: web.Application) -> None:
    app[DISPATCHER].include_router(router)
    handlers.setup(app)
