"""Chat: 异议 — object to a publicity while its window is open.

Steps (ObjectionFlow): which publicity (a number from the list of open ones, or directly
"异议 12" with the notice number), the item objected to, the reason, an optional contact.
The window is checked again when the objection is stored, so a conversation that runs past
midnight on the last day is refused politely. At most 10 objections per person per day.
"""

from __future__ import annotations

import re

from bot.appkeys import STORE
from bot.dispatcher import Context, Router, StateIs, Text
from bot.fsm import State, StatesGroup
from bot.messages import Incoming
from bot.ratelimit import RateLimiter
from handlers.notices_keys import NOTICES_CLOCK
from models import Notice
from notices.objections import (
    LIMITS,
    ObjectionRefused,
    closed_message,
    file_objection,
    open_publicities,
)
from notices.service import is_publicity_open

router = Router("objections")

DAILY_LIMIT = 10
SKIP_CONTACT = ("无", "不留", "跳过", "没有", "否")
NONE_OPEN = "目前没有正在公示的事项。异议只能在公示期内，针对正在公示的内容提出。"


class ObjectionFlow(StatesGroup):
    choose = State()
    item = State()
    reason = State()
    contact = State()


def _label(notice: Notice) -> str:
    end = notice.publicity_end
    until = f"（公示至 {end.month}月{end.day}日）" if end else ""
    return f"【公示{notice.id}】{notice.title}{until}"


async def _ask_item(ctx: Context, notice: Notice) -> str:
    await ctx.state.set_data({"notice_id": notice.id, "title": notice.title})
    await ctx.state.set_state(ObjectionFlow.item)
    ctx.state.question_asked()
    return (f"您要对{_label(notice)}提出异议。\n"
            f"请写明异议针对的对象或事项（如姓名、单位、公示序号，{LIMITS['item']}字以内）：\n"
            "回复“取消”退出。")


@router.message(Text("异议", "我要异议", "提出异议", prefix=True))
async def on_objection(msg: Incoming, ctx: Context) -> str:
    rest = ctx.data.get("rest", "")
    if rest and not re.fullmatch(r"\d{1,9}", rest):
        return "请回复“异议”查看正在公示的事项，或回复“异议 公示编号”，如“异议 12”。"
    allowed, _ = await RateLimiter(ctx[STORE]).hit(
        f"objection:{msg.openid}", limit=DAILY_LIMIT, window=86400
    )
    if not allowed:
        return "您今天提交的异议较多，请明天再试，或直接联系公示发布单位。"
    await ctx.state.clear()
    now = ctx[NOTICES_CLOCK]()
    if rest:
        notice = await Notice.get_or_none(id=int(rest))
        if notice is None or notice.kind != "publicity":
            return f"没有找到编号为 {rest} 的公示。回复“异议”查看正在公示的事项。"
        if not is_publicity_open(notice, now):
            return closed_message(notice)
        return await _ask_item(ctx, notice)
    notices = await open_publicities(now)
    if not notices:
        return NONE_OPEN
    await ctx.state.set_state(ObjectionFlow.choose)
    await ctx.state.update_data(choices=[n.id for n in notices])
    ctx.state.question_asked()
    lines = "\n".join(f"{i} {_label(n)}" for i, n in enumerate(notices, 1))
    return f"正在公示的事项如下，请回复序号选择您要提出异议的公示：\n{lines}\n回复“取消”退出。"


@router.message(Text("取消"), StateIs(ObjectionFlow))
async def on_cancel(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    return "已取消，没有提交异议。"


@router.message(StateIs(ObjectionFlow.choose))
async def on_choose(msg: Incoming, ctx: Context) -> str:
    choices = (await ctx.state.get_data()).get("choices", [])
    text = msg.text
    if not text.isdigit() or not 1 <= int(text) <= len(choices):
        return f"请回复 1 到 {len(choices)} 之间的序号，或回复“取消”。"
    notice = await Notice.get_or_none(id=choices[int(text) - 1])
    if notice is None or not is_publicity_open(notice, ctx[NOTICES_CLOCK]()):
        await ctx.state.clear()
        return closed_message(notice) if notice else NONE_OPEN
    return await _ask_item(ctx, notice)


@router.message(StateIs(ObjectionFlow.item))
async def on_item(msg: Incoming, ctx: Context) -> str:
    if not msg.text or len(msg.text) > LIMITS["item"]:
        return f"请用 {LIMITS['item']} 字以内写明异议针对的对象或事项。"
    await ctx.state.update_data(item=msg.text)
    await ctx.state.set_state(ObjectionFlow.reason)
    ctx.state.question_asked()
    return f"请说明异议的理由和依据（{LIMITS['reason']}字以内）："


@router.message(StateIs(ObjectionFlow.reason))
async def on_reason(msg: Incoming, ctx: Context) -> str:
    if not msg.text or len(msg.text) > LIMITS["reason"]:
        return f"请用 {LIMITS['reason']} 字以内说明异议的理由。"
    await ctx.state.update_data(reason=msg.text)
    await ctx.state.set_state(ObjectionFlow.contact)
    ctx.state.question_asked()
    return "如需我们联系您，请留下联系方式（电话或邮箱）；不留请回复“无”："


@router.message(StateIs(ObjectionFlow.contact))
async def on_contact(msg: Incoming, ctx: Context) -> str:
    contact = None if msg.text in SKIP_CONTACT else msg.text
    if contact is not None and len(contact) > LIMITS["contact"]:
        return f"联系方式请控制在 {LIMITS['contact']} 字以内，不留请回复“无”。"
    data = await ctx.state.get_data()
    await ctx.state.clear()
    try:
        objection = await file_objection(
            notice_id=data["notice_id"], openid=msg.openid, item=data["item"],
            reason=data["reason"], contact=contact, at=ctx[NOTICES_CLOCK](),
        )
    except ObjectionRefused as exc:
        return exc.message
    return (f"已收到您的异议，受理编号：{objection.reference}\n"
            f"公示：{data['title']}\n"
            "我们会认真核实，办结后通过服务号告诉您结果。")
