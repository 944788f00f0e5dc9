"""资格自测: the eligibility interview in chat, one question at a time.

Started by the menu (SELFTEST_START) or by typing 资格自测 / 自测. Each turn asks the
first field of the engine's `needs` (so chat, API and mini-program ask exactly the same
questions, in the same order) until nothing more can change the result; then the result
is stored as a page and the chat sends a summary with its link (handlers.result_page,
handlers.interview_result).

State machine (bot.fsm): one state, `SelfTest.asking`; the record's data holds
    policy    the policy id the interview started with
    answers   {field: value} in contract types
    history   fields in the order answered (for 上一步)
    pending   the field of the question on the user's screen
    asked_at  when it was asked (seconds), to greet a returning user
The dispatcher loads the record under the per-user lock and stores it with the 24 h TTL;
every reply that asks a question calls `ctx.state.question_asked()`, so a message sent
before that question (a late or reordered reply to an old question) is dropped by the
dispatcher and never applied to the new one.

Keywords work at any question: 上一步 (back one question, its answer forgotten),
重新开始, 退出, ? / 帮助 (this question's help). Bad input gets a short hint and the same
question; nothing already answered is lost. Outside the interview "?" stays the general
help (handlers.menu answers it only when there is no conversation).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import eligibility
from bot.appkeys import SETTINGS
from bot.dispatcher import Context, Router, StateIs, Text
from bot.fsm import State, StatesGroup
from bot.messages import Incoming
from eligibility.registry import default_registry
from handlers.certificates_eligibility import talent_answers
from handlers.interview_questions import BadAnswer, answer_label, parse, prompt
from handlers.interview_result import MAX_BYTES, nbytes, policy_summary, summary
from handlers.result_page import page_url, save_page

START_WORDS = ("资格自测", "自测", "开始自测")
BACK_WORDS = ("上一步", "上一题", "返回")
RESTART_WORDS = ("重新开始", "重来")
EXIT_WORDS = ("退出", "取消", "结束自测")
HELP_WORDS = ("?", "帮助", "help", "说明")
RESUME_AFTER = 30 * 60  # seconds of silence after which a message is greeted as a return

INTRO = ("资格自测：回答几个问题，看看您今年可以走哪些职称申报途径。"
         "随时可以回复：上一步、重新开始、退出；回复“?”看本题说明。")
KEYWORDS = "可以回复：上一步、重新开始、退出。"
EXITED = "已退出资格自测，您的回答没有保存。想再测时回复“自测”。"

router = Router("interview")


class SelfTest(StatesGroup):
    asking = State()


# --- the record --------------------------------------------------------------------------
def _fresh(policy: str = eligibility.DEFAULT_POLICY) -> dict[str, Any]:
    return {"policy": policy, "answers": {}, "history": [], "pending": None, "asked_at": 0}


def _catalogue(policy: str) -> dict[str, dict[str, Any]]:
    return {q["field"]: q for q in eligibility.questions(policy)}


async def _load(ctx: Context) -> dict[str, Any]:
    """The interview's data; a fresh one if the stored answers no longer validate (the
    policy file changed under a running interview) or the record is damaged."""
    data = copy.deepcopy(await ctx.state.get_data())  # changed only through set_data
    try:
        policy = data["policy"]
        _, errors = eligibility.validate_answers(data["answers"], policy)
        valid = (not errors and isinstance(data["history"], list)
                 and all(f in data["answers"] for f in data["history"]))
    except (KeyError, TypeError, eligibility.UnknownPolicyError):
        valid = False
    if not valid:
        return _fresh()
    data.setdefault("pending", None)
    data.setdefault("asked_at", 0)
    return data


# --- asking --------------------------------------------------------------------------------
async def _ask(ctx: Context, data: dict[str, Any], lead: str = "") -> str:
    """Ask the next question `needs` names, or give the result when nothing is left.
    A user bound to a talent record is not asked what the record answers (the blacklist)."""
    policy = data["policy"]
    data["answers"].update(await talent_answers(ctx, policy))
    result = eligibility.evaluate(data["answers"], policy)
    if not result.needs:
        return await _finish(ctx, data, result, lead)
    field = result.needs[0]
    data["pending"] = field
    data["asked_at"] = int(time.time())
    await ctx.state.set_state(SelfTest.asking)
    await ctx.state.set_data(data)
    ctx.state.question_asked()
    text = prompt(_catalogue(policy)[field], len(data["history"]) + 1)
    return f"{lead}\n\n{text}" if lead else text


async def _finish(ctx: Context, data: dict[str, Any], result: eligibility.Result,
                  lead: str) -> str:
    # Store the page first: if that fails the interview is still there to resume.
    page_id, view = await save_page(result, data["answers"], source="chat")
    await ctx.state.clear()
    ctx.state.question_asked()  # late replies to the last question are not new messages
    url = page_url(ctx[SETTINGS].public_base_url, page_id)
    if not lead:
        return summary(view, url)
    return f"{lead}\n\n{summary(view, url, limit=MAX_BYTES - nbytes(lead) - 2)}"


async def _start(ctx: Context, lead: str = INTRO) -> str:
    return await _ask(ctx, _fresh(), lead)


async def _resume(ctx: Context, data: dict[str, Any]) -> str:
    n = len(data["history"])
    lead = (f"继续上次的自测（已回答 {n} 题）。想从头来，回复“重新开始”。" if n
            else "继续上次的自测。")
    return await _ask(ctx, data, lead)


# --- entry points --------------------------------------------------------------------------
@router.message(Text(*START_WORDS), StateIs(None))
async def on_start(msg: Incoming, ctx: Context) -> str:
    return await _start(ctx)


@router.click("SELFTEST_START")
async def on_start_click(msg: Incoming, ctx: Context) -> str:
    if SelfTest.contains(ctx.state.state):
        return await _resume(ctx, await _load(ctx))
    return await _start(ctx)


@router.click("POLICY_SUMMARY")
async def on_policy_summary(msg: Incoming, ctx: Context) -> str:
    return policy_summary(eligibility.DEFAULT_POLICY)


# --- keywords inside the interview ---------------------------------------------------------
@router.message(StateIs(SelfTest), Text(*START_WORDS))
async def on_start_again(msg: Incoming, ctx: Context) -> str:
    return await _resume(ctx, await _load(ctx))


@router.message(StateIs(SelfTest), Text(*BACK_WORDS))
async def on_back(msg: Incoming, ctx: Context) -> str:
    data = await _load(ctx)
    if not data["history"]:
        return await _ask(ctx, data, "已经是第一题了。")
    field = data["history"].pop()
    data["answers"].pop(field, None)
    return await _ask(ctx, data, "好的，回到上一题，请重新回答。")


@router.message(StateIs(SelfTest), Text(*RESTART_WORDS))
async def on_restart(msg: Incoming, ctx: Context) -> str:
    data = await _load(ctx)
    return await _ask(ctx, _fresh(data["policy"]), "好的，从头开始。")


@router.message(StateIs(SelfTest), Text(*EXIT_WORDS))
async def on_exit(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    ctx.state.question_asked()  # answers typed before 退出 are not applied to anything
    return EXITED


@router.message(StateIs(SelfTest), Text(*HELP_WORDS))
async def on_help(msg: Incoming, ctx: Context) -> str:
    data = await _load(ctx)
    field = data["pending"]
    q = _catalogue(data["policy"]).get(field) if field else None
    explained = q["help"] if q and q["help"] else "这一题没有更多说明，按您的实际情况回答即可。"
    return await _ask(ctx, data, f"说明：{explained}\n{KEYWORDS}")


# --- answers -------------------------------------------------------------------------------
def _conflict(policy: str, errors: list[dict[str, str]], answers: dict[str, Any],
              catalogue: dict[str, dict[str, Any]]) -> str:
    """A cross-field error in words: "in the county <= in total" and the like."""
    fields = default_registry().get(policy).schema.fields
    for e in errors:
        f = e["field"]
        bound = fields[f].at_most if f in fields else None
        if bound and answers.get(f) is not None and answers.get(bound) is not None:
            lower, upper = catalogue[f], catalogue[bound]
            return (f"和前面的回答对不上：“{lower['question']}”"
                    f"（{answer_label(lower, answers[f])}）不能多于"
                    f"“{upper['question']}”（{answer_label(upper, answers[bound])}）。"
                    "请重新回答；前一题答错了可以回复“上一步”。")
    return "；".join(e["message"] for e in errors)


@router.message(StateIs(SelfTest))
async def on_answer(msg: Incoming, ctx: Context) -> str:
    data = await _load(ctx)
    field = data["pending"]
    policy = data["policy"]
    catalogue = _catalogue(policy)
    if field not in catalogue:  # nothing pending (damaged record): ask again
        return await _ask(ctx, data)
    returning = time.time() - data["asked_at"] > RESUME_AFTER
    if msg.type != "text":
        hint = "请用文字回复。"
    else:
        try:
            value = parse(catalogue[field], msg.content)
        except BadAnswer as exc:
            hint = str(exc)
        else:
            answers = {**data["answers"], field: value}
            _, errors = eligibility.validate_answers(answers, policy)
            if not errors:
                data["answers"] = answers
                data["history"].append(field)
                return await _ask(ctx, data)
            hint = _conflict(policy, errors, answers, catalogue)
    if returning:  # back after a while with something else: remind where we were
        return await _resume(ctx, data)
    return await _ask(ctx, data, hint)
