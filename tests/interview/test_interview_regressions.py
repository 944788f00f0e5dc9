"""Regressions found in the audit of the chat interview's reading of replies."""

from __future__ import annotations

import pytest

import eligibility
from handlers.interview import KEYWORDS
from handlers.interview_questions import BadAnswer, parse, prompt
from tests.interview.chat import Chat, asked
from tests.support import factories as f

QUESTIONS = {q["field"]: q for q in eligibility.questions()}
# one question of each kind that reads numbers
NUMERIC = ["current_level", "skill_qualification", "honors", "years_professional_work",
           "years_since_civil_service_transfer", "region_industry_first_prizes",
           "blacklisted_year"]


@pytest.mark.parametrize("field", NUMERIC)
@pytest.mark.parametrize("digits", [4301, 5000, 20_000])
def test_regression_huge_number_crashed_the_parser(field, digits):
    # int() of more than 4,300 digits raises ValueError: the chat answered 系统繁忙
    with pytest.raises(BadAnswer):
        parse(QUESTIONS[field], "9" * digits)


@pytest.mark.parametrize("field", NUMERIC)
@pytest.mark.parametrize("digits", [7, 100, 4000])
def test_regression_hint_echoing_a_long_number_overflowed_one_message(field, digits):
    # the hint repeated the number typed: 4,000 digits made a reply of over 4 KB
    q = QUESTIONS[field]
    with pytest.raises(BadAnswer) as exc:
        parse(q, "9" * digits)
    reply = f"{exc.value}\n{KEYWORDS}\n\n{prompt(q, 29)}"
    assert len(reply.encode("utf-8")) <= 2048
    assert "9999999" not in str(exc.value)


@pytest.mark.parametrize("field", ["current_level", "skill_qualification", "honors"])
@pytest.mark.parametrize("text", ["\u1369", "1 \u1369", "\u00b2\u2082"])
def test_regression_non_decimal_digit_crashed_the_parser(field, text):
    # "፩" (Ethiopic one) passes str.isdigit() but int() refuses it: ValueError, a 500
    try:
        value = parse(QUESTIONS[field], text)
    except BadAnswer:
        return
    assert value is None or value in {c["value"] for c in QUESTIONS[field]["choices"]} \
        or isinstance(value, list)


def test_decimal_digits_of_other_scripts_still_count():
    assert parse(QUESTIONS["years_professional_work"], "\u0967\u0968") == 12  # Devanagari
    assert parse(QUESTIONS["current_level"], "\uff12") == "assistant"  # full-width


@pytest.mark.parametrize("text", ["9" * 5000, "1 " + "9" * 5000, "\u1369"])
async def test_regression_huge_number_in_chat_answered_system_busy(sim_for, text):
    chat = Chat(sim_for(mode="plain"), f"o_reg_{f.next_msg_id()}")
    await chat.say("自测")
    await chat.say("1")  # in service
    await chat.say("0")  # not blacklisted
    reply = await chat.say(text)  # current_level
    assert "系统繁忙" not in reply
    assert asked(reply).field == "current_level"
    assert "请回复" in reply
