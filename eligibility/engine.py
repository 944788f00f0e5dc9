"""One evaluation: blocks, then every path, then the main route's requirements and notes.

Why this shape: the contract wants every path decided on its own (an applicant may have
several routes), each path closed as soon as one condition fails, and the facts that still
decide something listed as `needs`, most decisive first. This module does only that
bookkeeping; what the conditions mean is all in the compiled policy.

Ranking of `needs`, one entry per undecided item (its first unknown condition's field):
  1. fields that decide a block (a block settles every path at once);
  2. fields that decide more undecided paths before those that decide fewer;
  3. fields that decide a requirement or note of an open route;
  ties in the order of the question catalogue (answers.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .expressions import NO_CONTEXT
from .policy import Policy
from .result import Result


def run(policy: Policy, a: Mapping[str, Any]) -> Result:
    """Evaluate validated answers `a` under `policy`."""
    if a.keys() >= policy.complete_fields and policy.evaluate_complete is not None:
        # nothing unknown: the two-valued generated code does all of it (compile_complete)
        return Result(policy, a, *policy.evaluate_complete(a))

    blocked = []
    pending_blocks = []
    block_states = []
    for block in policy.blocks:
        r = block.test.value(a, NO_CONTEXT)
        block_states.append(r)
        if r:
            blocked.append(block)
        elif r is None:
            pending_blocks.append(block)
    if blocked:
        return Result(policy, a, tuple(block_states), tuple(blocked), (), (), None, (), (), ())

    runs, open_runs, undecided = policy.run_paths(a)  # see pathcode.py

    primary = None
    requirements = []
    notes = []
    pending = []  # (test, ctx) of clauses, requirements and notes still unknown
    if open_runs:
        for pr in open_runs:  # a clause that depends on an unanswered field: ask it too
            for test, _ in pr[0].clause_when:
                r = test.value(a, pr[1])
                if r is not False:
                    if r is None:
                        pending.append((test, pr[1]))
                    break
        wanted = policy.requested_target(a)
        primary = next((r for r in open_runs if r[1][0] == wanted), open_runs[0])
        requirements, notes, more = policy.run_outcomes(a, open_runs, primary[1])
        pending += more

    needs = ()
    if pending_blocks or undecided or pending:
        needs = _rank_needs(policy, a, pending_blocks, undecided, pending)
    return Result(policy, a, tuple(block_states), (), tuple(runs), tuple(open_runs), primary,
                  tuple(requirements), tuple(notes), needs)


def _rank_needs(policy: Policy, a, pending_blocks, undecided, pending) -> tuple[str, ...]:
    # Per slot, how many undecided items each unanswered field decides. (An answered
    # field is a key of `a`, even when the answer is null.)
    blocks: dict[str, int] = {}
    paths: dict[str, int] = {}
    others: dict[str, int] = {}
    for block in pending_blocks:
        field = block.test.need(a, NO_CONTEXT)
        if field is not None and field not in a:
            blocks[field] = blocks.get(field, 0) + 1
    for path, ctx, _, states in undecided:
        # An undecided run checked every condition (none failed) and has its ctx; the
        # first unknown in written order (the order of the questions) is the one to ask.
        cond = path.conditions[path.in_written_order(states).index(None)]
        field = cond.test.need(a, ctx)
        if field is not None and field not in a:
            paths[field] = paths.get(field, 0) + 1
    for test, ctx in pending:
        field = test.need(a, ctx)
        if field is not None and field not in a:
            others[field] = others.get(field, 0) + 1
    order = policy.schema.order
    last = len(order)
    return tuple(sorted(blocks.keys() | paths.keys() | others.keys(),
                        key=lambda f: (-blocks.get(f, 0), -paths.get(f, 0), -others.get(f, 0),
                                       order.get(f, last))))
