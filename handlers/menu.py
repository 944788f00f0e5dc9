"""Welcome, help and the menu: what a user sees before any conversation starts."""

from __future__ import annotations

from bot.dispatcher import Context, Event, Router, StateIs, Text
from bot.messages import Incoming
from handlers.users import mark_subscribed

router = Router("menu")

WELCOME = (
    "您好，欢迎关注职称服务号。\n"
    "回复“自测”：看看您可以走哪些职称申报途径；\n"
    "回复“订阅”：接收公示和截止日期提醒；\n"
    "回复“我的证书”：查询电子职称证书。\n"
    "回复“帮助”可随时查看本说明。"
)
HELP = WELCOME.replace("您好，欢迎关注职称服务号。\n", "可以这样使用本服务号：\n")
UNKNOWN = "没有听懂您的意思。回复“帮助”查看可用的功能。"


@router.event(Event("subscribe"))
async def on_subscribe(msg: Incoming, ctx: Context) -> str:
    await mark_subscribed(msg.openid, True)
    return WELCOME


@router.event(Event("unsubscribe"))
async def on_unsubscribe(msg: Incoming, ctx: Context) -> None:
    # WeChat delivers no reply after unsubscribing; just record it.
    await mark_subscribed(msg.openid, False)
    await ctx.state.clear()


@router.event(Event("scan"))
async def on_scan(msg: Incoming, ctx: Context) -> str:
    return WELCOME


@router.click("HELP")
async def on_help_click(msg: Incoming, ctx: Context) -> str:
    return HELP


@router.message(Text("帮助", "help", "菜单", "?", "你好", "您好"), StateIs(None))
async def on_help(msg: Incoming, ctx: Context) -> str:
    return HELP


fallback = Router("fallback")


@fallback.message()
async def on_unknown(msg: Incoming, ctx: Context) -> str:
    return UNKNOWN


@fallback.event()
async def on_other_event(msg: Incoming, ctx: Context) -> None:
    return None
