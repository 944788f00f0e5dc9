"""The 资格自测 conversation through the webhook: start, keywords, bad input, interruption
and resume, late and racing messages, state in the store with its TTL, and the result."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.appkeys import STORE
from handlers.menu import HELP
from models import EligibilityResultPage
from tests.interview.chat import Chat, asked, catalogue, load_cases, page_id, typed
from tests.support import factories as f

DAY = 24 * 3600
SCRIPT = {c["id"]: c["answers"] for c in load_cases()}
ENGINEER = SCRIPT["league-city-engineer"]
TOWNSHIP = SCRIPT["township-graduate"]


def new_chat(sim_for, mode: str = "plain") -> Chat:
    return Chat(sim_for(mode=mode), f"o_iv_{f.next_msg_id()}")


async def record(service, chat: Chat) -> dict:
    raw = await service.server.app[STORE].get(f"fsm:{chat.openid}")
    return json.loads(raw) if raw else {}


async def answer_until(chat: Chat, reply: str, script: dict, stop: str | None = None,
                       limit: int = 40) -> str:
    """Answer from the script until the question about `stop` is asked (or the end)."""
    questions = catalogue()
    for _ in range(limit):
        q = asked(reply)
        if q is None or q.field == stop:
            return reply
        reply = await chat.say(typed(questions[q.field], script[q.field]))
    raise AssertionError("the interview did not reach the question")


# --- starting ------------------------------------------------------------------------------
@pytest.mark.parametrize("word", ["资格自测", "自测", " 自测 "])
async def test_typing_the_keyword_starts_with_the_first_question(sim_for, word):
    reply = await new_chat(sim_for).say(word)
    assert "资格自测" in reply
    assert asked(reply).field == "employment" and asked(reply).number == 1
    assert "1. 在职专业技术人员" in reply and "请回复数字" in reply


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_the_menu_starts_it_too(sim_for, mode):
    chat = new_chat(sim_for, mode)
    reply = await chat.click("SELFTEST_START")
    assert asked(reply).field == "employment"
    assert asked(await chat.say("1")).field == "blacklisted_year"


async def test_policy_summary_from_the_menu(sim_for):
    reply = await new_chat(sim_for).click("POLICY_SUMMARY")
    assert "2020 年全区职称改革工作安排意见" in reply
    assert "破格申报正高级（一(五)1）" in reply and "以考代评（一(三)2）" in reply
    assert "2020年6月30日" in reply and "自测" in reply


# --- the state in the store ------------------------------------------------------------------
async def test_state_is_stored_per_user_with_a_24h_ttl(service, sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    await chat.say("1")
    rec = await record(service, chat)
    assert rec["state"] == "SelfTest:asking"
    assert rec["data"]["answers"] == {"employment": "in_service"}
    assert rec["data"]["history"] == ["employment"]
    assert rec["data"]["pending"] == "blacklisted_year"
    left = await service.server.app[STORE].ttl(f"fsm:{chat.openid}")
    assert DAY - 60 < left <= DAY
    other = new_chat(sim_for)  # another user's interview is their own
    assert asked(await other.say("自测")).number == 1


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, hint", [
    ("a", "请回复"),
    ("4", "没有第 4 项"),
    ("0", "没有第 0 项"),
    ("1 2", "请回复"),
    ("", "请回复"),
])
async def test_bad_choice_gets_a_hint_and_the_same_question(service, sim_for, text, hint):
    chat = new_chat(sim_for)
    await chat.say("自测")
    reply = await chat.say(text or " ")
    assert hint in reply
    assert asked(reply).field == "employment" and asked(reply).number == 1
    assert reply.index(hint) < reply.index("第1题")  # the hint first, short
    assert (await record(service, chat))["data"]["answers"] == {}


@pytest.mark.parametrize("text, hint", [
    ("400", "400 超出了范围"),
    ("61", "61 超出了范围"),
    ("-3", "不能是负数"),
    ("好几年", "请用数字"),
    ("x", "请用数字"),
])
async def test_bad_years_get_a_hint_and_nothing_is_lost(service, sim_for, text, hint):
    chat = new_chat(sim_for)
    reply = await answer_until(chat, await chat.say("自测"), ENGINEER,
                               stop="years_at_county_or_below")
    before = (await record(service, chat))["data"]
    reply = await chat.say(text)
    assert hint in reply
    assert asked(reply).field == "years_at_county_or_below"
    after = (await record(service, chat))["data"]
    assert after["answers"] == before["answers"] and after["history"] == before["history"]
    reply = await chat.say("１０年")  # full-width digits and a unit are fine
    assert asked(reply).field != "years_at_county_or_below"
    assert (await record(service, chat))["data"]["answers"]["years_at_county_or_below"] == 10


async def test_a_blacklist_year_out_of_range_is_refused(sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    reply = await chat.say("1")
    assert asked(reply).field == "blacklisted_year"
    reply = await chat.say("2030")
    assert "2030 不是有效的年份" in reply and asked(reply).field == "blacklisted_year"
    assert asked(await chat.say("0")).field == "current_level"


async def test_several_honours_and_none(service, sim_for):
    chat = new_chat(sim_for)
    reply = await answer_until(chat, await chat.say("自测"), ENGINEER, stop="honors")
    reply = await chat.say("12")
    assert "没有第 12 项" in reply and asked(reply).field == "honors"
    await chat.say("9，10、9")
    honors = (await record(service, chat))["data"]["answers"]["honors"]
    assert honors == ["region_sci_award_second_third", "talent_321_second_tier"]
    await chat.say("上一步")
    await chat.say("0")
    assert (await record(service, chat))["data"]["answers"]["honors"] == []


async def test_a_count_that_contradicts_an_earlier_answer(service, sim_for):
    chat = new_chat(sim_for)
    reply = await answer_until(chat, await chat.say("自测"), TOWNSHIP, stop="years_at_township")
    assert (await record(service, chat))["data"]["answers"]["years_at_county_or_below"] == 2
    reply = await chat.say("5")
    assert "对不上" in reply and "2 年" in reply and "上一步" in reply
    assert asked(reply).field == "years_at_township"
    assert "years_at_township" not in (await record(service, chat))["data"]["answers"]


async def test_a_picture_is_not_an_answer(sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    r = await chat.sim.send_image(chat.openid, "media123", msg_id=f.next_msg_id())
    assert "请用文字回复" in r.content and asked(r.content).field == "employment"


# --- keywords ------------------------------------------------------------------------------
async def test_back_forgets_the_last_answer_and_asks_it_again(service, sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    await chat.say("1")  # employment
    await chat.say("0")  # no blacklist
    reply = await chat.say("上一步")
    assert "回到上一题" in reply
    assert asked(reply).field == "blacklisted_year" and asked(reply).number == 2
    data = (await record(service, chat))["data"]
    assert data["answers"] == {"employment": "in_service"} and data["history"] == ["employment"]
    reply = await chat.say("上一步")
    assert asked(reply).field == "employment" and asked(reply).number == 1
    reply = await chat.say("上一步")
    assert "已经是第一题了" in reply and asked(reply).number == 1
    assert asked(await chat.say("2")) is None  # changed the answer: civil servant, blocked


async def test_restart_clears_the_answers(service, sim_for):
    chat = new_chat(sim_for)
    await answer_until(chat, await chat.say("自测"), ENGINEER, stop="honors")
    reply = await chat.say("重新开始")
    assert "从头开始" in reply and asked(reply).number == 1
    data = (await record(service, chat))["data"]
    assert data["answers"] == {} and data["history"] == []


async def test_exit_ends_the_interview_and_question_mark_is_general_help_again(service,
                                                                                sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    await chat.say("1")
    reply = await chat.say("退出")
    assert "已退出资格自测" in reply
    assert (await record(service, chat)).get("state") is None
    assert await chat.say("?") == HELP
    assert asked(await chat.say("自测")).number == 1  # a new interview from the start


@pytest.mark.parametrize("word", ["?", "？", "帮助"])
async def test_question_mark_explains_the_pending_question(service, sim_for, word):
    chat = new_chat(sim_for)
    await chat.say("自测")
    reply = await chat.say(word)
    assert "参照公务员法管理的事业单位工作人员" in reply  # the catalogue's help
    assert "上一步" in reply and "退出" in reply
    assert asked(reply).field == "employment"
    assert (await record(service, chat))["data"]["answers"] == {}
    await chat.say("1")
    reply = await chat.say("?")  # blacklisted_year has help text too
    assert "五年内不得申报" in reply and asked(reply).field == "blacklisted_year"


# --- interruption, resume, late and racing messages ------------------------------------------
async def test_interrupted_interview_resumes_where_it_stopped(service, sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    await chat.say("1")
    await chat.say("0")
    reply = await chat.say("自测")  # the user comes back and starts again
    assert "继续上次的自测" in reply and "已回答 2 题" in reply
    assert asked(reply).field == "current_level" and asked(reply).number == 3
    reply = await chat.click("SELFTEST_START")
    assert "继续上次的自测" in reply and asked(reply).field == "current_level"
    assert asked(await chat.say("3")).field == "series"


async def test_coming_back_after_a_while_with_anything_reminds_the_question(service, sim_for):
    chat = new_chat(sim_for)
    await chat.say("自测")
    await chat.say("1")
    store = service.server.app[STORE]
    rec = await record(service, chat)
    rec["data"]["asked_at"] = int(time.time()) - 3 * 3600  # three hours ago
    await store.set(f"fsm:{chat.openid}", json.dumps(rec), ttl=DAY)
    reply = await chat.say("你好")
    assert reply.startswith("继续上次的自测") and asked(reply).field == "blacklisted_year"
    assert "请回复" not in reply.split("\n\n")[0]  # a greeting, not an error
    assert asked(await chat.say("0")).field == "current_level"  # and it goes on


async def test_a_late_reply_to_an_old_question_is_not_applied(service, sim_for):
    chat = new_chat(sim_for)
    now = int(time.time())
    await chat.say("自测", create_time=now)
    old_id = f.next_msg_id()  # the user typed "2" to question 1 ...
    reply = await chat.say("1", create_time=now)  # ... but this "1" got there first
    assert asked(reply).field == "blacklisted_year"
    late = await chat.say("2", msg_id=old_id, create_time=now)
    assert late is None  # dropped: not taken as an answer to question 2
    data = (await record(service, chat))["data"]
    assert data["answers"] == {"employment": "in_service"}
    assert data["pending"] == "blacklisted_year"


@pytest.mark.parametrize("order", ["as_sent", "reordered"])
async def test_quick_messages_are_applied_one_after_the_other(service, sim_for, order):
    chat = new_chat(sim_for)
    await answer_until(chat, await chat.say("自测"), ENGINEER,
                       stop="introduced_high_level_talent")
    before = (await record(service, chat))["data"]
    now = int(time.time())
    ids = [f.next_msg_id() for _ in range(4)]
    if order == "reordered":  # the network delivers the last one first
        ids.reverse()
    # Four "2" (否) at once: the per-user lock applies them one at a time; a message sent
    # before the question it would answer was asked is dropped, never applied twice.
    replies = await asyncio.gather(*(chat.say("2", msg_id=i, create_time=now) for i in ids))
    answered = [r for r in replies if r]
    after = (await record(service, chat))["data"]
    assert len(answered) >= 1
    assert len(after["history"]) == len(before["history"]) + len(answered)
    numbers = sorted(asked(r).number for r in answered)
    first = len(before["history"]) + 2
    assert numbers == list(range(first, first + len(answered)))  # none asked twice
    for field in after["history"][len(before["history"]):]:
        assert after["answers"][field] is False


# --- the result ------------------------------------------------------------------------------
async def test_if_the_result_cannot_be_stored_the_interview_is_kept(service, sim_for,
                                                                    monkeypatch):
    from handlers import interview

    chat = new_chat(sim_for)
    await chat.say("自测")
    real = interview.save_page

    async def broken(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(interview, "save_page", broken)
    reply = await chat.say("3")  # retired: the result is due now
    assert "系统繁忙" in reply
    data = (await record(service, chat))["data"]
    assert data["pending"] == "employment" and data["answers"] == {}
    monkeypatch.setattr(interview, "save_page", real)
    reply = await chat.say("3")
    assert reply.startswith("资格自测结果") and "不能申报" in reply



@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_whole_interview_with_detours_ends_in_a_summary_and_a_page(service, sim_for,
                                                                        mode):
    chat = new_chat(sim_for, mode)
    reply = await chat.say("自测")
    reply = await answer_until(chat, reply, ENGINEER, stop="current_level")
    reply = await chat.say("重新开始")  # restart: two answers forgotten
    assert "从头开始" in reply and asked(reply).field == "employment"
    assert asked(reply).number == 1
    assert (await record(service, chat))["data"]["answers"] == {}
    reply = await answer_until(chat, reply, ENGINEER, stop="series")
    await chat.say("x")  # bad input
    await chat.say("?")  # help
    await chat.say("1")  # engineering
    await chat.say("上一步")  # back to the series ...
    reply = await chat.say("自测")  # ... interrupted, resumed
    assert "继续上次的自测" in reply and asked(reply).field == "series"
    reply = await answer_until(chat, reply, ENGINEER, stop="introduced_high_level_talent")
    # Two messages racing: the answer and a "?" sent at the same moment. The per-user lock
    # applies them one at a time; whichever comes first, nothing is applied wrongly or twice.
    field = asked(reply).field
    now = int(time.time())
    answer = typed(catalogue()[field], ENGINEER[field])
    await asyncio.gather(chat.say(answer, msg_id=f.next_msg_id(), create_time=now),
                         chat.say("?", msg_id=f.next_msg_id(), create_time=now))
    data = (await record(service, chat))["data"]
    assert data["answers"] == {k: ENGINEER[k] for k in data["answers"]}
    assert data["history"].count(field) <= 1
    assert field in data["answers"] or data["pending"] == field
    reply = await chat.say("?")  # where are we now: the pending question, again
    reply = await answer_until(chat, reply, ENGINEER)
    assert asked(reply) is None
    assert reply.startswith("资格自测结果\n结论：可以申报。")
    assert "【常规评审】申报副高级职称（一(二)1）" in reply
    assert "http://testserver.local/r/" in reply
    assert (await record(service, chat)).get("state") is None

    pid = page_id(reply)
    assert len(pid) >= 22
    row = await EligibilityResultPage.get(id=pid)
    assert row.answers == {k: ENGINEER[k] for k in row.answers}
    resp = await service.get(f"/r/{pid}")
    assert resp.status == 200
    html = await resp.text()
    for text in ("可以申报", "常规评审", "一(二)1", "申报要求", "材料清单", "2020年6月30日",
                 "专业技术资格送审表", "您的回答", "工程技术"):
        assert text in html, text
    assert chat.openid not in html
    assert all(len(r.encode()) <= 2048 for r in chat.replies)
