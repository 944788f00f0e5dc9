"""The rule language: three-valued logic, the next question, type checks at load."""

from __future__ import annotations

import re

import pytest

from eligibility.errors import PolicyError
from eligibility.expressions import (
    MISSING,
    NO_CONTEXT,
    Compiler,
    Derived,
    Fact,
    Kind,
    flatten,
)

KINDS = {
    "level": Kind("enum", ("none", "low", "high"), ordered=True),
    "colour": Kind("enum", ("red", "blue")),
    "flag": Kind("bool"),
    "other_flag": Kind("bool"),
    "years": Kind("int", at_most=("total",)),
    "total": Kind("int"),
    "tags": Kind("multi", ("a", "b", "c")),
    "maybe": Kind("int", nullable=True),
    "school": Kind("enum", ("x", "y"), nullable=True),
}
PARAMS = {"limit": 5, "extra": 2, "tags_ab": ("a", "b")}
CONDITIONS = {"is_red": "colour == 'red'", "loop": "@loop", "uses_loop": "@loop and flag"}
FACTS = {"target": Fact(Kind("enum", ("none", "low", "high"), ordered=True, nullable=True),
                        lambda a, c: c[0], lambda a, c: c[1], True)}
DERIVED = {"level_or_school": Derived("level", {"school": {"x": "low", "y": "high"}})}


def compile_(source):
    return Compiler(KINDS, PARAMS, CONDITIONS, FACTS, DERIVED).compile(source, "test")


def check(source, answers, value, need=None, ctx=NO_CONTEXT):
    """The closures and the generated code (expressions.flatten) both give `value`, and
    when it is unknown, `need`."""
    test = compile_(source)
    flat = flatten(test)
    assert flat.ref_value is not None and flat.ref_need is not None, "not generated"
    for t in (test, flat):
        assert t.value(answers, ctx) is value
        if value is None:
            assert t.need(answers, ctx) == need


def test_and_is_false_as_soon_as_one_part_is_false():
    check("flag and other_flag", {"other_flag": False}, False)
    check("flag and other_flag", {"other_flag": True}, None, "flag")
    check("flag and other_flag", {"flag": True, "other_flag": True}, True)


def test_or_is_true_as_soon_as_one_part_is_true():
    check("flag or other_flag", {"other_flag": True}, True)
    check("flag or other_flag", {"other_flag": False}, None, "flag")
    check("flag or other_flag", {}, None, "flag")


def test_not_keeps_unknown():
    check("not flag", {}, None, "flag")
    check("not flag", {"flag": False}, True)


def test_the_next_question_is_the_first_unknown_part_in_written_order():
    check("(colour == 'red' and flag) or years >= 3", {}, None, "colour")
    check("(colour == 'red' and flag) or years >= 3", {"colour": "blue"}, None, "years")


def test_ordered_enums_and_numbers():
    check("level >= 'low'", {"level": "high"}, True)
    check("level < 'low'", {"level": "none"}, True)
    check("years >= $limit - $extra", {"years": 3}, True)
    check("years > $limit", {"years": 5}, False)
    check("years in [1, 2]", {"years": 2}, True)


def test_a_known_upper_bound_decides_an_unknown_count():
    check("years >= 10", {"total": 8}, False)
    check("years < 10", {"total": 8}, True)
    check("years >= 8", {"total": 8}, None, "years")


def test_null_answers():
    check("maybe < 5", {"maybe": None}, False)
    check("maybe is null", {"maybe": None}, True)
    check("maybe is not null", {"maybe": 3}, True)
    check("school != 'x'", {"school": None}, True)


def test_lists():
    check("tags contains 'a'", {"tags": frozenset({"a"})}, True)
    check("tags contains_any $tags_ab", {"tags": frozenset({"c"})}, False)
    check("tags contains_any ['b', 'c']", {}, None, "tags")


def test_derived_maximum():
    check("level_or_school >= 'high'", {"level": "low", "school": "y"}, True)
    check("level_or_school >= 'high'", {"level": "low"}, None, "school")
    check("level_or_school >= 'high'", {"level": "low", "school": None}, False)
    check("level_or_school >= 'low'", {"level": "low"}, True)


def test_context_facts_and_name_comparisons():
    check("target > level", {"level": "low"}, True, ctx=("high", None, "p"))
    check("target > level", {"level": "low"}, None, "level", ctx=(MISSING, "level", "p"))
    check("target > level", {}, False, ctx=(None, None, "p"))  # no level above
    # unknown on one side: ask for that side (the target's own field, or the answer)
    check("target > level", {"level": "low"}, None, "asked_for", ctx=(MISSING, "asked_for", "p"))
    check("target > level", {}, None, "level", ctx=("high", "asked_for", "p"))


def test_named_conditions():
    check("@is_red and flag", {"colour": "blue"}, False)


@pytest.mark.parametrize(("source", "message"), [
    ("colour == 'green'", "not a value of colour"),
    ("colour >= 'red'", "has no order"),
    ("flag == 1", "yes/no"),
    ("years >= 'many'", "whole number"),
    ("tags == 'a'", "list"),
    ("unknown_field", "unknown name"),
    ("years >= $nope", "unknown parameter"),
    ("@nope", "unknown condition"),
    ("@loop", "refers to itself"),
    ("@uses_loop", "refers to itself"),
    ("flag and", "unexpected"),
    ("(flag", "expected ')'"),
    ("flag flag", "unexpected"),
    ("colour", "not a yes/no answer"),
    ("years is null", "cannot be null"),
    ("level_or_school == 'low'", "supports only"),
    ("flag ! other_flag", "cannot read"),
    ("", "non-empty"),
])
def test_mistakes_fail_at_load(source, message):
    with pytest.raises(PolicyError, match=re.escape(message)):
        compile_(source)


def test_context_can_be_refused():
    with pytest.raises(PolicyError, match="cannot read target"):
        Compiler(KINDS, PARAMS, CONDITIONS, FACTS).compile("target == 'low'", "b",
                                                           allow_context=False)
