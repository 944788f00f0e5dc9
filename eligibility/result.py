"""The outcome of one evaluation, and its contract JSON.

Why an object rather than a dict: evaluation keeps only what it decided (cheap), and the
JSON with its Chinese texts and trace is built on demand by `to_dict()`; `render_text`
reads the same object. The shape of `to_dict()` is the public contract
(../shared/spec/eligibility.md) plus `trace` and `materials`:

    policy       the policy id
    eligible     true only when no block holds or can still hold and a path is open; with
                 partial answers it is false until that is known, and `needs` says what to
                 ask (a path may already be listed while a block question is pending)
    blocked_by   [{code, clause, text}]: the blocks the answers show; once one holds,
                 nothing more is asked (a further block would not change the outcome)
    paths        open routes [{code, target_level, clause, conditions, text}]; `conditions`
                 are what the applicant must still satisfy outside this check (provisos),
                 e.g. "unit_recommendation"
    requirements {key: {value, clause}} for the main route: the first open path leading
                 to the level asked for (target_level or the level above), else the first
    notes        [{code, clause, text}] that apply to at least one open route
    needs        unanswered fields that can still change the result, in asking order
    trace        per block and per path: status and each condition checked, with clause,
                 in the order checked; after the first failed one nothing more is checked.
                 A path's target_level is null when it closed before its level mattered.
    materials    the annex's checklist, when a route goes through a review committee
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .explanation import fill
from .expressions import MISSING
from .runs import PathRun, run_clause, run_target

if TYPE_CHECKING:
    from .policy import Block, Note, Policy, Requirement, Rule

_STATE = {True: "held", False: "failed", None: "unknown"}
_PATH_STATE = {True: "open", False: "closed", None: "undecided"}


class Result:
    """What `evaluate` returns. Use `.eligible`, `.needs`, `.to_dict()`, `render_text()`."""

    __slots__ = ("policy", "answers", "block_states", "blocked_by", "runs", "open_runs",
                 "primary", "requirements", "notes", "needs")

    def __init__(self, policy: Policy, answers: Mapping[str, Any], block_states: tuple,
                 blocked_by: tuple[Block, ...], runs: tuple[PathRun, ...],
                 open_runs: tuple[PathRun, ...], primary: PathRun | None,
                 requirements: tuple[tuple[Requirement, Rule], ...], notes: tuple[Note, ...],
                 needs: tuple[str, ...]):
        self.policy = policy
        self.answers = answers
        self.block_states = block_states
        self.blocked_by = blocked_by
        self.runs = runs
        self.open_runs = open_runs
        self.primary = primary
        self.requirements = requirements
        self.notes = notes
        self.needs = needs

    @property
    def eligible(self) -> bool:
        return (not self.blocked_by and bool(self.open_runs)
                and all(s is False for s in self.block_states))

    def path_codes(self) -> dict[str, str | None]:
        """{code: target_level} of the open paths (a convenience for callers and tests)."""
        return {r[0].code: run_target(r, self.answers) for r in self.open_runs}

    def to_dict(self) -> dict[str, Any]:
        """The contract JSON (see the module docstring)."""
        p, a = self.policy, self.answers
        notes = [{"code": n.code, "clause": n.clause, "text": fill(p, n.text, a)}
                 for n in self.notes]
        return {
            "policy": p.id,
            "eligible": self.eligible,
            "blocked_by": [{"code": b.code, "clause": b.clause, "text": fill(p, b.text, a)}
                           for b in self.blocked_by],
            "paths": [self._path(r) for r in self.open_runs],
            "requirements": {req.key: {"value": rule.value, "clause": rule.clause}
                             for req, rule in self.requirements},
            "notes": notes,
            "needs": list(self.needs),
            "trace": self.trace(),
            "materials": [dict(m) for m in p.materials]
            if any(n.code == "materials_checklist" for n in self.notes) else [],
        }

    def _path(self, r: PathRun) -> dict[str, Any]:
        path, target = r[0], run_target(r, self.answers)
        text = fill(self.policy, path.text, self.answers, target, path.target_names)
        return {
            "code": path.code,
            "target_level": target,
            "clause": run_clause(r, self.answers),
            "conditions": list(path.provisos),
            "text": f"{path.title}：{text}",
        }

    def trace(self) -> list[dict[str, Any]]:
        """Blocks and paths with the state of every condition checked, each with its clause.

        Conditions are listed in the order the engine checked them (those that read only
        the answers first), up to the first that failed: that one is why the path is closed.
        """
        out: list[dict[str, Any]] = [
            {"kind": "block", "code": b.code, "clause": b.clause, "status": _STATE[s]}
            for b, s in zip(self.policy.blocks, self.block_states, strict=True)
        ]
        a = self.answers
        state = _STATE
        for r in self.runs:
            path, ctx, status, states = r
            target = MISSING if ctx is None else ctx[0]
            out.append({
                "kind": "path",
                "code": path.code,
                "clause": run_clause(r, a) if status else path.clause,
                "target_level": None if target is MISSING else target,
                "status": _PATH_STATE[status],
                "conditions": [{"code": c.code, "clause": c.clause, "status": state[s]}
                               for c, s in zip(path.checked_order, states, strict=False)],
            })
        return out
