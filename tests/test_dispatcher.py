"""Routers, filters, state, the per-user lock and stale messages."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.dispatcher import Click, Context, Dispatcher, Event, Router, StateIs, Text
from bot.fsm import State, StatesGroup
from bot.messages import Text as TextReply
from bot.storage import create_store
from tests.support import factories as f
from tests.support.backends import REDIS_URL, store_backends


class Quiz(StatesGroup):
    asking = State()
    done = State()


@pytest.fixture(params=store_backends())
async def dp(request):
    store = create_store(REDIS_URL if request.param == "redis" else None,
                         namespace=f"td{secrets.token_hex(6)}")
    d = Dispatcher(store)
    yield d
    await store.close()


def build(dp: Dispatcher) -> list[str]:
    seen: list[str] = []
    quiz = Router("quiz")

    @quiz.message(Text("开始"))
    async def start(msg, ctx: Context):
        await ctx.state.set_state(Quiz.asking)
        await ctx.state.update_data(q=1)
        ctx.state.question_asked()
        return "问题1"

    @quiz.message(StateIs(Quiz.asking))
    async def answer(msg, ctx: Context):
        data = await ctx.state.get_data()
        seen.append(f"q{data['q']}={msg.text}")
        await ctx.state.update_data(q=data["q"] + 1)
        ctx.state.question_asked()
        if data["q"] >= 2:
            await ctx.state.set_state(Quiz.done)
            return "完成"
        return f"问题{data['q'] + 1}"

    menu = Router("menu")

    @menu.message(Text("帮助"))
    async def help_(msg, ctx):
        return "帮助内容"

    @menu.event(Event("subscribe"))
    async def sub(msg, ctx):
        return "欢迎"

    @menu.message()
    async def fallback(msg, ctx):  # no filter but "is a message": the catch-all, last
        return "兜底"

    dp.include_router(quiz)
    dp.include_router(menu)
    return seen


async def test_keyword_state_and_event_routing(dp: Dispatcher):
    build(dp)
    assert (await dp.feed(f.text("帮助")))[0] == TextReply("帮助内容")
    assert (await dp.feed(f.event("subscribe")))[0] == TextReply("欢迎")
    assert (await dp.feed(f.text("随便说说")))[0] == TextReply("兜底")


async def test_conversation_moves_through_states(dp: Dispatcher):
    seen = build(dp)
    assert (await dp.feed(f.text("开始")))[0].content == "问题1"
    assert (await dp.feed(f.text("甲")))[0].content == "问题2"
    assert (await dp.feed(f.text("乙")))[0].content == "完成"
    assert seen == ["q1=甲", "q2=乙"]


async def test_text_filter_normalises_case_space_and_fullwidth_question_mark(dp: Dispatcher):
    r = Router()

    @r.message(Text("help", "?"))
    async def h(msg, ctx):
        return "ok"

    dp.include_router(r)
    assert await dp.feed(f.text("  HELP ")) == [TextReply("ok")]
    assert await dp.feed(f.text("？")) == [TextReply("ok")]
    assert await dp.feed(f.text("helpme")) == []


async def test_click_filter(dp: Dispatcher):
    r = Router()

    @r.click("K1")
    async def k(msg, ctx):
        return "clicked"

    dp.include_router(r)
    assert await dp.feed(f.event("CLICK", key="K1")) == [TextReply("clicked")]
    assert await dp.feed(f.event("CLICK", key="K2")) == []


async def test_two_quick_messages_do_not_race_on_state(dp: Dispatcher):
    """Lock first, then load: concurrent read-modify-write loses no update."""
    r = Router()

    @r.message(Text("step"))
    async def step(msg, ctx: Context):
        n = (await ctx.state.get_data()).get("n", 0)
        await asyncio.sleep(0.02)
        await ctx.state.update_data(n=n + 1)
        return str(n + 1)

    dp.include_router(r)
    openid = f"o_race_{secrets.token_hex(3)}"
    replies = await asyncio.gather(*(dp.feed(f.text("step", openid)) for _ in range(5)))
    assert sorted(int(x[0].content) for x in replies) == [1, 2, 3, 4, 5]


async def test_reply_to_a_question_no_longer_pending_is_not_applied(dp: Dispatcher):
    """Regression: a late, older message must not answer the question asked after it."""
    seen = build(dp)
    openid = f"o_late_{secrets.token_hex(3)}"
    await dp.feed(f.text("开始", openid, msg_id=100, create_time=1000))
    await dp.feed(f.text("新答案", openid, msg_id=102, create_time=1002))
    late = await dp.feed(f.text("旧答案", openid, msg_id=101, create_time=1001))
    assert late == []
    assert seen == ["q1=新答案"]


async def test_middleware_wraps_every_handler(dp: Dispatcher):
    build(dp)
    calls = []

    @dp.middleware
    async def mw(handler, msg, ctx):
        calls.append(msg.text)
        result = await handler(msg, ctx)
        return f"[{result}]"

    assert (await dp.feed(f.text("帮助")))[0].content == "[帮助内容]"
    assert calls == ["帮助"]


async def test_state_survives_in_the_store_with_ttl(dp: Dispatcher):
    build(dp)
    openid = f"o_ttl_{secrets.token_hex(3)}"
    await dp.feed(f.text("开始", openid))
    left = await dp.store.ttl(f"fsm:{openid}")
    assert left is not None and 23 * 3600 < left <= 24 * 3600
    record = await dp.store.get_json(f"fsm:{openid}")
    assert record["state"] == "Quiz:asking"


def test_states_group_names():
    assert str(Quiz.asking) == "Quiz:asking"
    assert Quiz.contains("Quiz:done") and not Quiz.contains("Other:x")
    assert Click("A")(f.event("click", key="A"), None)


async def test_async_filters_and_the_data_filters_give(dp: Dispatcher):
    """A filter may be a coroutine; the dicts filters return reach the handler merged,
    and a registration whose async filter fails lets the next one try."""
    checked = []

    async def slow_no(msg, ctx):
        await asyncio.sleep(0)
        checked.append("no")
        return False

    async def slow_yes(msg, ctx):
        await asyncio.sleep(0)
        return {"slow": True}

    @dp.message(Text("查询", prefix=True), slow_no)
    async def never(msg, ctx):
        return "不该到这里"

    @dp.message(Text("查询", prefix=True), lambda m, c: {"sync": 1}, slow_yes)
    async def found(msg, ctx):
        return f"{ctx.data['keyword']}|{ctx.data['rest']}|{ctx.data['slow']}|{ctx.data['sync']}"

    assert (await dp.feed(f.text("查询 证书")))[0].content == "查询|证书|True|1"
    assert checked == ["no"]


async def test_routers_changed_after_the_first_message_are_seen(dp: Dispatcher):
    """Registrations are walked as one flattened list, rebuilt after any change, even a
    change to a router nested two levels down after messages went through."""
    outer, inner = Router("outer"), Router("inner")
    dp.include_router(outer)
    outer.include_router(inner)
    assert await dp.feed(f.text("新词")) == []  # nothing handles it yet

    @inner.message(Text("新词"))
    async def late(msg, ctx):
        return "后来注册的"

    assert (await dp.feed(f.text("新词")))[0].content == "后来注册的"
    later = Router("later")

    @later.message(Text("再来"))
    async def later_one(msg, ctx):
        return "更晚的"

    inner.include_router(later)
    assert (await dp.feed(f.text("再来")))[0].content == "更晚的"
