"""Evaluated paths: plain tuples, because building them is on the hot path.

    (path, ctx, status, states)
    ctx     (target level | None for "no level" | MISSING, field to ask for it, path code),
            or None when the path closed before its target was needed
    status  True open, False closed, None undecided
    states  tuple of condition results in the order checked (path.checked_order), up to
            the first False: the answer-only conditions first, then those that read the
            target

`run_states` recomputes them in written order, which is the order of the questions (the
engine reads an undecided run's states in that order through `path.checked_index`; a test
checks the two agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .expressions import MISSING

PathRun = tuple


def run_ctx(run: PathRun, answers: Mapping[str, Any]) -> tuple:
    ctx = run[1]
    if ctx is None:
        path = run[0]
        ctx = (*path.resolve_target(answers), path.code)
    return ctx


def run_target(run: PathRun, answers: Mapping[str, Any]) -> str | None:
    t = run_ctx(run, answers)[0]
    return None if t is MISSING else t


def run_clause(run: PathRun, answers: Mapping[str, Any]) -> str:
    """The path's clause; `clause_when` may name the specific clause that opened it."""
    path, ctx = run[0], run_ctx(run, answers)
    for test, clause in path.clause_when:
        if test.value(answers, ctx):
            return clause
    return path.clause


def run_states(run: PathRun, answers: Mapping[str, Any]) -> list[bool | None]:
    """The path's condition results in written order, up to and including the first False."""
    ctx = run_ctx(run, answers)
    states = []
    for cond in run[0].conditions:
        r = cond.test.value(answers, ctx)
        states.append(r)
        if r is False:
            break
    return states
