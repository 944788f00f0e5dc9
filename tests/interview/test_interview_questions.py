"""Putting a question in chat and reading what people type (pure functions)."""

from __future__ import annotations

import pytest

import eligibility
from handlers.interview import INTRO, KEYWORDS
from handlers.interview_questions import BadAnswer, answer_label, parse, prompt

QUESTIONS = {q["field"]: q for q in eligibility.questions()}


@pytest.mark.parametrize("field", sorted(QUESTIONS))
def test_every_question_fits_one_message_even_with_help_and_a_hint(field):
    q = QUESTIONS[field]
    longest_lead = max(f"说明：{q['help']}\n{KEYWORDS}", INTRO, "和前面的回答对不上：" + "长" * 200)
    text = f"{longest_lead}\n\n{prompt(q, 29)}"
    assert len(text.encode("utf-8")) <= 2048, len(text.encode("utf-8"))
    assert prompt(q, 3).startswith(f"第3题：{q['question']}")


@pytest.mark.parametrize("field", [f for f, q in QUESTIONS.items() if q["type"] == "enum"])
def test_choices_are_numbered_from_one(field):
    q = QUESTIONS[field]
    text = prompt(q, 1)
    for i, c in enumerate(q["choices"], 1):
        assert f"\n{i}. {c['label']}" in text
        assert parse(q, str(i)) == c["value"]
        assert parse(q, c["label"]) == c["value"]  # the label typed out works too
    with pytest.raises(BadAnswer, match="没有第"):
        parse(q, str(len(q["choices"]) + 1))
    if q["nullable"]:
        assert "\n0. " in text and parse(q, "0") is None and parse(q, "没有") is None
    else:
        with pytest.raises(BadAnswer):
            parse(q, "0")


@pytest.mark.parametrize("text, value", [
    ("1", True), ("是", True), ("１", True), ("2", False), ("否", False), ("不是", False),
])
def test_yes_no(text, value):
    assert parse(QUESTIONS["covid_frontline"], text) is value


@pytest.mark.parametrize("text", ["3", "maybe", "", "1 2"])
def test_yes_no_refuses_anything_else(text):
    with pytest.raises(BadAnswer, match="1（是）或 2（否）"):
        parse(QUESTIONS["covid_frontline"], text or " ")


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("12", 12), ("１２", 12), ("12年", 12), (" 12 年 ", 12), ("60", 60),
])
def test_years(text, value):
    assert parse(QUESTIONS["years_professional_work"], text) == value


@pytest.mark.parametrize("text, match", [
    ("61", "超出了范围"), ("400", "超出了范围"), ("-1", "负数"), ("a", "请用数字"),
    ("1.5", "请用数字"), ("十十", "请用数字"), ("二三十", "请用数字"), ("好几年", "请用数字"),
    ("无", "请用数字"), ("六十一", "61 超出了范围"), ("3项", "请用数字"), ("3个", "请用数字"),
])
def test_bad_years(text, match):
    with pytest.raises(BadAnswer, match=match):
        parse(QUESTIONS["years_professional_work"], text)


@pytest.mark.parametrize("text, value", [
    ("十", 10), ("十年", 10), ("十五", 15), ("二十三年", 23), ("两年", 2), ("三十", 30),
    ("零", 0), ("六十", 60),
])
def test_years_in_chinese_numerals(text, value):
    """People type 十年 as readily as 10年: it was refused ("请用数字")."""
    assert parse(QUESTIONS["years_professional_work"], text) == value


def test_a_year_in_chinese_numerals():
    q = QUESTIONS["blacklisted_year"]
    assert parse(q, "二〇一六") == 2016 and parse(q, "二零一六年") == 2016
    with pytest.raises(BadAnswer):
        parse(q, "两千零一十六")  # 千 is not read: the hint asks for a year like 2016


def test_a_nullable_count_takes_none_and_zero():
    q = QUESTIONS["years_since_civil_service_transfer"]
    assert parse(q, "无") is None and parse(q, "没有") is None
    assert parse(q, "0") == 0 and parse(q, "3") == 3
    assert "没有请回复“无”" in prompt(q, 1)


def test_prize_count_goes_to_99():
    q = QUESTIONS["region_industry_first_prizes"]
    assert parse(q, "2项") == 2 and parse(q, "2个") == 2 and parse(q, "99") == 99
    with pytest.raises(BadAnswer):
        parse(q, "2年")  # a number of years is not a count of prizes
    with pytest.raises(BadAnswer):
        parse(q, "100")


def test_blacklist_year():
    q = QUESTIONS["blacklisted_year"]
    assert parse(q, "0") is None and parse(q, "无") is None
    assert parse(q, "2016") == 2016 and parse(q, "2016年") == 2016
    for bad in ("1800", "2021", "16", "去年"):
        with pytest.raises(BadAnswer):
            parse(q, bad)


@pytest.mark.parametrize("text, value", [
    ("0", []), ("无", []), ("没有", []),
    ("1", ["national_outstanding_professional"]),
    ("2 9", ["state_council_allowance", "region_sci_award_second_third"]),
    ("2,9", ["state_council_allowance", "region_sci_award_second_third"]),
    ("2，9", ["state_council_allowance", "region_sci_award_second_third"]),
    ("2、9、2", ["state_council_allowance", "region_sci_award_second_third"]),
    ("１１", ["grassland_talent_youth_first_tier"]),
])
def test_several_choices(text, value):
    assert parse(QUESTIONS["honors"], text) == value


@pytest.mark.parametrize("text", ["12", "1 x", "a", "0 1 -"])
def test_several_choices_refuse_junk(text):
    with pytest.raises(BadAnswer):
        parse(QUESTIONS["honors"], text)


def test_answer_labels():
    assert answer_label(QUESTIONS["series"], "ulanmuqi") == "乌兰牧骑（艺术）"
    assert answer_label(QUESTIONS["covid_frontline"], False) == "否"
    assert answer_label(QUESTIONS["years_professional_work"], 12) == "12 年"
    assert answer_label(QUESTIONS["blacklisted_year"], None) == "没有"
    assert answer_label(QUESTIONS["honors"], []) == "都没有"
