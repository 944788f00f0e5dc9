"""The generated code equals the closures it replaces (expressions.flatten, pathcode.py).

The engine runs generated Python for speed; the closure trees and the plain path loop stay
as the definition. On random partial answers (and every target a path can have) each
flattened test must give exactly what its closure tree gives, and the generated path loop
exactly what the plain loop gives: same paths, contexts, statuses and condition states;
likewise the generated requirements and notes.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from test_eligibility_properties import SETTINGS, complete_answers, partial_answers

from eligibility import engine
from eligibility.expressions import MISSING, NO_CONTEXT, Gen
from eligibility.pathcode import _define, reference_outcomes, reference_paths
from eligibility.registry import default_registry
from eligibility.runs import run_states

POLICY = default_registry().get("nmg-2020")
TARGETS = (*POLICY.levels, None, MISSING)


def _flattened_tests():
    p = POLICY
    tests = [(f"conditions.{c.code}", c.test) for c in p.conditions.values()]
    tests += [(f"blocks.{b.code}", b.test) for b in p.blocks]
    tests += [(f"paths.{path.code}.clause_when", t) for path in p.paths
              for t, _ in path.clause_when]
    tests += [(f"requirements.{r.key}.{rule.value}", rule.when) for r in p.requirements
              for rule in r.rules if rule.when.ref_value is not None]
    tests += [(f"notes.{n.code}", n.when) for n in p.notes]
    return tests


FLATTENED = _flattened_tests()


def test_every_rule_of_the_policy_runs_generated_code():
    slow = [where for where, t in FLATTENED if t.ref_value is None or t.ref_need is None]
    assert not slow, f"rules still evaluated by closure trees: {slow}"
    assert len(FLATTENED) > 60


@SETTINGS
@given(partial_answers())
def test_flattened_tests_equal_their_closures(answers):
    a, errors = POLICY.schema.validate(answers)
    assert not errors
    for where, test in FLATTENED:
        contexts = [NO_CONTEXT] if not test.uses_context else [
            (t, "current_level", path.code) for t in TARGETS for path in POLICY.paths]
        for ctx in contexts:
            value = test.value(a, ctx)
            assert value is test.ref_value(a, ctx), (where, ctx)
            if value is None:  # what to ask: the generated need, the closures' need
                assert test.need(a, ctx) == test.ref_need(a, ctx), (where, ctx)


@SETTINGS
@given(partial_answers())
def test_generated_path_loop_equals_the_plain_loop(answers):
    a, errors = POLICY.schema.validate(answers)
    assert not errors
    got, want = POLICY.run_paths(a), reference_paths(POLICY, a)
    for got_runs, want_runs in zip(got, want, strict=True):
        assert [(r[0].code, r[1], r[2], r[3]) for r in got_runs] \
            == [(r[0].code, r[1], r[2], r[3]) for r in want_runs]
    # identity, not just equality: a result is not made of look-alike copies
    assert all(g[0] is w[0] for g, w in zip(got[0], want[0], strict=True))


@SETTINGS
@given(partial_answers())
def test_generated_outcomes_equal_the_plain_loops(answers):
    a, errors = POLICY.schema.validate(answers)
    assert not errors
    _, open_runs, _ = reference_paths(POLICY, a)
    if not open_runs:
        return
    for primary in open_runs:  # whichever route is the main one
        got = POLICY.run_outcomes(a, open_runs, primary[1])
        want = reference_outcomes(POLICY, a, open_runs, primary[1])
        assert [(q.key, r.value, r.clause) for q, r in got[0]] \
            == [(q.key, r.value, r.clause) for q, r in want[0]]
        assert [(n.code, n.clause) for n in got[1]] == [(n.code, n.clause) for n in want[1]]
        assert [(t, c) for t, c in got[2]] == [(t, c) for t, c in want[2]]


@SETTINGS
@given(partial_answers())
def test_undecided_runs_hold_every_state_the_ranking_reads(answers):
    """`needs` reads an undecided path's states in written order from the run itself
    (engine._rank_needs); re-evaluating them in that order must give the same."""
    a, errors = POLICY.schema.validate(answers)
    assert not errors
    _, _, undecided = POLICY.run_paths(a)
    for run in undecided:
        path, states = run[0], run[3]
        assert len(states) == len(path.conditions)
        assert [states[j] for j in path.checked_index] == run_states(run, a)


@SETTINGS
@given(complete_answers(), st.sampled_from([None, *POLICY.levels[1:]]))
def test_two_valued_code_for_complete_answers_equals_the_plain_loops(answers, target):
    """Answers with every field take the two-valued generated code
    (pathcode.compile_complete): same runs, requirements and notes as the plain loops."""
    if target is not None:
        answers = {**answers, "target_level": target}
    a, errors = POLICY.schema.validate(answers)
    assert not errors
    assert a.keys() >= POLICY.complete_fields
    got, want = POLICY.run_paths_complete(a), reference_paths(POLICY, a)
    assert [(r[0], r[1], r[2], r[3]) for r in got[0]] == [tuple(r) for r in want[0]]
    assert [r[0] for r in got[1]] == [r[0] for r in want[1]]
    assert not want[2], "complete answers left a path undecided"
    for primary in want[1]:
        got_o = POLICY.run_outcomes_complete(a, got[1], primary[1])
        want_o = reference_outcomes(POLICY, a, want[1], primary[1])
        assert got_o[0] == want_o[0] and got_o[1] == want_o[1] and not want_o[2]


@SETTINGS
@given(complete_answers())
def test_complete_answers_give_the_same_result_by_either_code(answers):
    """The engine's switch to the two-valued code changes nothing a caller sees."""
    a, _ = POLICY.schema.validate(answers)
    fast = engine.run(POLICY, a).to_dict()
    assert fast["needs"] == []
    slow = engine.run(POLICY, _NotComplete(a)).to_dict()
    assert fast == slow


class _NotComplete(dict):
    """Answers whose keys() hides the fields, so the engine takes the three-valued code."""

    def keys(self):
        return {}.keys()


def test_complete_answers_take_the_two_valued_code(monkeypatch):
    calls = []
    real = POLICY.evaluate_complete
    monkeypatch.setattr(POLICY, "evaluate_complete", lambda a: calls.append(1) or real(a))
    a, _ = POLICY.schema.validate(_full_answers())
    engine.run(POLICY, a)
    assert calls == [1]
    del a["years_at_township"]
    engine.run(POLICY, a)
    assert calls == [1], "partial answers must take the three-valued code"


def _full_answers() -> dict:
    from eligibility_profiles import ORDINARY
    return dict(ORDINARY)


def test_code_python_refuses_falls_back_to_the_plain_loop():
    """A policy so large that the generated nesting passes the parser's limits still
    works, through the plain loop."""
    def fallback(a):
        return "plain"

    too_deep = ["def paths(a):", "    return " + "(" * 5000 + "1" + ")" * 5000]
    assert _define(Gen(), too_deep, "paths", POLICY, fallback) is fallback
    fine = _define(Gen(), ["def paths(a):", "    return a"], "paths", POLICY, fallback)
    assert fine is not fallback and fine(7) == 7 and "return a" in fine.source
