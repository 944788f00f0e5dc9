"""Properties over random answer sets (hypothesis).

- any valid answers: the engine does not crash and returns a decision or a non-empty
  `needs`; the JSON and the text render;
- when `needs` is empty, no further answer can change the result (so `needs` really lists
  everything that still matters);
- an interview that always asks needs[0] ends, never asks twice, and lands on the result
  of the full answers;
- anything at all as input: validation reports errors, it never raises.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eligibility
from eligibility import AnswersError

QUESTIONS = eligibility.questions()
FIELDS = [q["field"] for q in QUESTIONS]
# target_level is a preference, not a fact: leaving it out means "the level above".
FACT_FIELDS = [f for f in FIELDS if f != "target_level"]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def value_strategy(q: dict) -> st.SearchStrategy:
    t = q["type"]
    if t == "enum":
        s = st.sampled_from([c["value"] for c in q["choices"]])
    elif t == "multi":
        s = st.lists(st.sampled_from([c["value"] for c in q["choices"]]), unique=True)
    elif t == "bool":
        s = st.booleans()
    else:  # int, year
        s = st.integers(q["min"], q["max"])
    return st.one_of(st.none(), s) if q["nullable"] else s


VALUES = {q["field"]: value_strategy(q) for q in QUESTIONS}


def _consistent(answers: dict) -> dict:
    """Clamp counts that may not exceed another (township <= county <= all work)."""
    a = dict(answers)
    for small, big in (("years_at_county_or_below", "years_professional_work"),
                       ("years_at_township", "years_at_county_or_below")):
        if isinstance(a.get(small), int) and isinstance(a.get(big), int):
            a[small] = min(a[small], a[big])
    return a


@st.composite
def partial_answers(draw, fields=FIELDS):
    chosen = draw(st.lists(st.sampled_from(fields), unique=True))
    answers = {f: draw(VALUES[f]) for f in chosen}
    # Bias toward applicants who can apply, so paths are exercised, not only blocks.
    if draw(st.booleans()):
        answers["employment"] = "in_service"
        answers["blacklisted_year"] = None
    return _consistent(answers)


@st.composite
def complete_answers(draw):
    answers = {f: draw(VALUES[f]) for f in FACT_FIELDS}
    if draw(st.booleans()):
        answers["employment"] = "in_service"
        answers["blacklisted_year"] = None
    return _consistent(answers)


def _outcome(result: eligibility.Result) -> tuple:
    """The decision. Once one block holds nothing more is asked, so a second block that
    further answers might reveal is not part of it: only "blocked or not" is."""
    d = result.to_dict()
    return (d["eligible"], bool(d["blocked_by"]), d["paths"], d["requirements"], d["notes"],
            d["materials"])


def _all_closed(result) -> bool:
    return all(run[2] is False for run in result.runs)


@SETTINGS
@given(partial_answers())
def test_never_crashes_and_decides_or_asks(answers):
    result = eligibility.evaluate(answers)
    d = result.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert isinstance(eligibility.render_text(result), str)

    decided = d["eligible"] or bool(d["blocked_by"]) or _all_closed(result)
    assert decided or d["needs"], "neither a decision nor a question"
    if not d["needs"]:
        assert decided
    if d["eligible"]:
        assert d["paths"] and not d["blocked_by"]
    if d["blocked_by"]:
        assert not d["eligible"] and d["paths"] == [] and d["needs"] == []
    assert len(set(d["needs"])) == len(d["needs"])
    assert all(f in FIELDS and f not in answers for f in d["needs"])
    for path in d["paths"]:
        assert path["clause"] and path["text"] and path["target_level"]


@SETTINGS
@given(partial_answers(FACT_FIELDS), st.data())
def test_when_nothing_is_needed_nothing_else_matters(answers, data):
    result = eligibility.evaluate(answers)
    if result.needs:
        return
    missing = [f for f in FACT_FIELDS if f not in answers]
    more = _consistent({**answers, **{f: data.draw(VALUES[f], label=f) for f in missing}})
    _, errors = eligibility.validate_answers(more)
    if errors:  # a clamp could not make the draw consistent with the given answers
        return
    assert _outcome(eligibility.evaluate(more)) == _outcome(result)


@SETTINGS
@given(complete_answers())
def test_an_interview_asking_needs_first_ends_on_the_full_result(truth):
    answers: dict = {}
    asked: list[str] = []
    for _ in range(len(FIELDS) + 1):
        result = eligibility.evaluate(answers)
        if not result.needs:
            break
        field = result.needs[0]
        assert field not in asked
        asked.append(field)
        answers[field] = truth[field]
    else:
        raise AssertionError("the interview did not end")
    assert _outcome(result) == _outcome(eligibility.evaluate(truth))


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS + ["bogus", ""]), JUNK, max_size=8) | JUNK)
def test_any_input_gives_errors_or_a_result(answers):
    clean, errors = eligibility.validate_answers(answers)
    try:
        eligibility.evaluate(answers)
    except AnswersError as exc:
        assert exc.errors == errors and errors
    else:
        assert not errors


class _Str(str):
    """A str subclass: not a JSON string, refused like any other wrong type."""


def _wrong_values(q: dict) -> list:
    """Values a front end might wrongly send for this field (and a few right ones)."""
    t = q["type"]
    if t == "bool":
        return [0, 1, "true", None, 1.0, True]
    if t in ("int", "year"):
        return [True, False, q["min"] - 1, q["max"] + 1, q["max"], q["min"], 5.0, "5", None]
    if t == "enum":
        return ["", "x", 1, None, True, [q["choices"][0]["value"]], q["choices"][-1]["value"],
                _Str(q["choices"][0]["value"])]
    first = q["choices"][0]["value"]  # multi
    return [None, "x", (first,), [first, first], ["x"], [first, 1], [[]], [None], [],
            [_Str(first)]]


def _same_verdict(answers) -> None:
    schema = POLICY.schema
    fast = schema._accept(answers)
    clean, errors = schema.check(answers)
    if fast is None:
        assert errors or answers.__class__ is not dict or any(
            isinstance(v, tuple) for v in answers.values()), "a valid answer set was refused"
    else:
        assert not errors, errors
        assert fast == clean and list(fast) == list(clean)


@pytest.mark.parametrize("field,value", [(q["field"], v) for q in QUESTIONS
                                          for v in _wrong_values(q)])
def test_the_fast_validation_gives_the_full_checks_verdict_on_each_near_miss(field, value):
    """`validate` first tries a generated straight-line check (answers._compile_accept);
    it must accept exactly the answers the full check accepts, with the same result."""
    base = {q["field"]: q["choices"][0]["value"] if q.get("choices") else None
            for q in QUESTIONS if q["type"] in ("enum",)}
    base.update({q["field"]: q["min"] for q in QUESTIONS if q["type"] in ("int", "year")})
    base.update({q["field"]: False for q in QUESTIONS if q["type"] == "bool"})
    base.update({q["field"]: [] for q in QUESTIONS if q["type"] == "multi"})
    _same_verdict(base)
    _same_verdict({**base, field: value})
    _same_verdict({field: value})


@SETTINGS
@given(st.dictionaries(st.sampled_from([*FIELDS, "bogus"]), JUNK, max_size=6)
       | complete_answers() | partial_answers())
def test_the_fast_validation_gives_the_full_checks_verdict_on_random_answers(answers):
    _same_verdict(answers)


POLICY = eligibility.default_registry().get(eligibility.DEFAULT_POLICY)
