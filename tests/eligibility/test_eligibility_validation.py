"""Validation of answers: the contract's 422 list, one error per bad field."""

from __future__ import annotations

import pytest
from eligibility_profiles import ORDINARY, ordinary

import eligibility
from eligibility import AnswersError, validate_answers


def errors_of(answers) -> dict[str, str]:
    clean, errors = validate_answers(answers)
    assert all(set(e) == {"field", "message"} for e in errors)
    assert all(isinstance(e["message"], str) and e["message"] for e in errors)
    return {e["field"]: e["message"] for e in errors}


def test_complete_valid_answers_pass():
    clean, errors = validate_answers(ORDINARY)
    assert errors == []
    assert clean["honors"] == frozenset()
    assert clean["employment"] == "in_service"


def test_empty_answers_pass():
    assert validate_answers({}) == ({}, [])


def test_unknown_field():
    errs = errors_of({"favourite_colour": "red"})
    assert "未知字段" in errs["favourite_colour"]


@pytest.mark.parametrize(("field", "value"), [
    ("full_time_graduate", 1),          # 0/1 is not a bool
    ("full_time_graduate", "true"),
    ("years_professional_work", True),  # a bool is not a count
    ("years_professional_work", "5"),
    ("years_professional_work", 5.0),
    ("employment", 3),
    ("honors", "state_council_allowance"),  # a list is needed
    ("honors", {"a": 1}),
    ("blacklisted_year", "2015"),
])
def test_wrong_type(field, value):
    errs = errors_of({field: value})
    assert "类型错误" in errs[field]


@pytest.mark.parametrize(("field", "value"), [
    ("employment", "freelancer"),
    ("series", "astrology"),
    ("target_level", "none"),         # target_level has no "none"
    ("current_level", "SENIOR"),
    ("skill_qualification", "master_craftsman"),
    ("honors", ["state_council_allowance", "nobel_prize"]),
    ("honors", [1]),
])
def test_value_outside_enum(field, value):
    errs = errors_of({field: value})
    assert "不在允许范围内" in errs[field]


@pytest.mark.parametrize("field", [
    "years_professional_work", "years_since_graduation", "years_at_county_or_below",
    "years_at_township", "years_since_skill_qualification", "years_in_new_post",
    "years_since_civil_service_transfer", "years_since_series_transfer",
])
def test_years_negative_or_absurd(field):
    assert "负数" in errors_of({field: -1})[field]
    assert "60" in errors_of({field: 61})[field]
    bound = {"years_at_county_or_below": 60, "years_professional_work": 60}
    assert errors_of({**bound, field: 60}) == {}
    assert errors_of({field: 0}) == {}


def test_blacklisted_year_range_is_the_policy_year():
    assert errors_of({"blacklisted_year": 2020}) == {}
    assert "2020" in errors_of({"blacklisted_year": 2021})["blacklisted_year"]
    assert "blacklisted_year" in errors_of({"blacklisted_year": 1800})


def test_null_only_where_the_contract_allows_it():
    assert errors_of({"blacklisted_year": None, "skill_qualification": None,
                      "technical_school_class": None, "years_in_new_post": None,
                      "years_since_series_transfer": None,
                      "years_since_civil_service_transfer": None}) == {}
    assert "不能为空" in errors_of({"employment": None})["employment"]
    assert "不能为空" in errors_of({"honors": None})["honors"]


def test_township_years_cannot_exceed_county_years():
    errs = errors_of({"years_at_county_or_below": 5, "years_at_township": 6})
    assert "years_at_township" in errs
    errs = errors_of({"years_professional_work": 5, "years_at_county_or_below": 6})
    assert "years_at_county_or_below" in errs
    assert errors_of({"years_at_county_or_below": 6, "years_at_township": 6}) == {}


def test_every_bad_field_is_reported():
    errs = errors_of({"employment": "x", "years_at_township": -3, "colour": "red",
                      "full_time_graduate": 0})
    assert set(errs) == {"employment", "years_at_township", "colour", "full_time_graduate"}


@pytest.mark.parametrize("answers", [None, [], "employment=in_service", 42])
def test_answers_must_be_an_object(answers):
    assert set(errors_of(answers)) == {"answers"}


def test_non_string_keys_are_unknown_fields():
    assert set(errors_of({1: "x"})) == {"1"}


def test_evaluate_raises_answers_error_with_the_422_list():
    with pytest.raises(AnswersError) as info:
        eligibility.evaluate(ordinary(years_professional_work=61, series="poetry"))
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"years_professional_work", "series"}


def test_validation_does_not_change_the_input():
    answers = ordinary(honors=["state_council_allowance"])
    before = repr(answers)
    validate_answers(answers)
    eligibility.evaluate(answers)
    assert repr(answers) == before
