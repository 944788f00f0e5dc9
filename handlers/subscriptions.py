"""Chat: 订阅 (choose league city and series by number), 退订, 我的订阅.

A two-step conversation (SubscribeFlow): the league city, then one or more series. 退订
stops every notice and reminder, including messages already queued (workers skip
inactive subscriptions at claim time); so does leaving the account.
"""

from __future__ import annotations

import re

from bot.dispatcher import Context, Router, StateIs, Text
from bot.fsm import State, StatesGroup
from bot.messages import Incoming
from notices import subscribers
from notices.league_cities import LEAGUE_CITIES, LEAGUE_CITY_BY_CODE
from notices.series import SERIES

router = Router("subscriptions")

SERIES_CODES = list(SERIES)
NO_CITY = "0"


class SubscribeFlow(StatesGroup):
    league_city = State()
    series = State()


CITY_QUESTION = (
    "订阅后，您会收到所选盟市和职称系列的公示、截止日期提醒。\n"
    "请选择您所在的盟市，回复序号：\n"
    + "\n".join(f"{i} {c.name_zh}" for i, c in enumerate(LEAGUE_CITIES, 1))
    + f"\n{NO_CITY} 区直单位（不属于任何盟市）\n回复“取消”退出。"
)
SERIES_QUESTION = (
    "请选择您的职称系列，回复序号，可多选，用空格或逗号分开（如：1 3）：\n"
    + "\n".join(f"{i} {name}" for i, name in enumerate(SERIES.values(), 1))
)


def describe(league_city: str | None, series: list[str]) -> str:
    city = LEAGUE_CITY_BY_CODE[league_city].name_zh if league_city in LEAGUE_CITY_BY_CODE \
        else "区直单位（不限盟市）"
    names = "、".join(SERIES.get(s, s) for s in series) or "未选择"
    return f"盟市：{city}\n系列：{names}"


def parse_city(text: str) -> tuple[bool, str | None]:
    """(understood, code or None for a region-level unit)."""
    text = text.strip()
    if text == NO_CITY or text in ("区直", "区直单位"):
        return True, None
    if text.isdigit() and 1 <= int(text) <= len(LEAGUE_CITIES):
        return True, LEAGUE_CITIES[int(text) - 1].code
    for city in LEAGUE_CITIES:
        if text and (text == city.name_zh or text == city.name_zh.rstrip("市")):
            return True, city.code
    return False, None


def parse_series(text: str) -> list[str] | None:
    numbers = re.findall(r"\d+", text)
    if not numbers or re.sub(r"[\d\s,，、;；]", "", text):
        return None
    picked = []
    for n in numbers:
        i = int(n)
        if not 1 <= i <= len(SERIES_CODES):
            return None
        if SERIES_CODES[i - 1] not in picked:
            picked.append(SERIES_CODES[i - 1])
    return picked


@router.message(Text("退订", "取消订阅"))
async def on_unsubscribe(msg: Incoming, ctx: Context) -> str:
    if SubscribeFlow.contains(ctx.state.state):
        await ctx.state.clear()
    if await subscribers.unsubscribe(msg.openid):
        return "已退订，您将不再收到公示和截止日期提醒。需要时回复“订阅”重新订阅。"
    return "您目前没有订阅。回复“订阅”即可订阅公示和截止日期提醒。"


@router.message(Text("我的订阅"))
async def on_my_subscription(msg: Incoming, ctx: Context) -> str:
    row = await subscribers.current(msg.openid)
    if row is None:
        return "您目前没有订阅。回复“订阅”即可订阅公示和截止日期提醒。"
    return (f"您订阅了以下范围的公示和截止日期提醒：\n{describe(row.league_city, row.series)}\n"
            "回复“订阅”修改，回复“退订”停止接收。")


@router.message(Text("订阅"))
async def on_subscribe(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    await ctx.state.set_state(SubscribeFlow.league_city)
    ctx.state.question_asked()
    return CITY_QUESTION


@router.message(Text("取消"), StateIs(SubscribeFlow))
async def on_cancel(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    return "已取消，订阅没有变化。"


@router.message(StateIs(SubscribeFlow.league_city))
async def on_city(msg: Incoming, ctx: Context) -> str:
    understood, code = parse_city(msg.text)
    if not understood:
        return f"没有找到这个盟市，请回复序号 0 到 {len(LEAGUE_CITIES)}。\n\n{CITY_QUESTION}"
    await ctx.state.update_data(league_city=code)
    await ctx.state.set_state(SubscribeFlow.series)
    ctx.state.question_asked()
    return SERIES_QUESTION


@router.message(StateIs(SubscribeFlow.series))
async def on_series(msg: Incoming, ctx: Context) -> str:
    series = parse_series(msg.text)
    if not series:
        return (f"请回复 1 到 {len(SERIES_CODES)} 之间的序号，多个用空格分开。\n\n"
                f"{SERIES_QUESTION}")
    data = await ctx.state.get_data()
    row = await subscribers.subscribe(msg.openid, data.get("league_city"), series)
    await ctx.state.clear()
    return (f"订阅成功！\n{describe(row.league_city, row.series)}\n"
            "有新的公示或截止日期临近时，我们会通知您。"
            "回复“我的订阅”查看，回复“退订”停止接收。")
