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
_CACHE_SIZE = 20_000  # distinct path and trace entries kept per policy


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
        """The contract JSON (see the module docstring).

        The top-level dict and lists are new on each call; the path, note, material and
        trace entries inside are cached per policy and shared between results with the
        same outcome (see `trace`): treat them as read-only, like the JSON they are for.
        """
        p, a = self.policy, self.answers
        clauses = [run_clause(r, a) for r in self.open_runs]
        return {
            "policy": p.id,
            "eligible": self.eligible,
            "blocked_by": [{"code": b.code, "clause": b.clause, "text": fill(p, b.text, a)}
                           for b in self.blocked_by],
            "paths": [self._path(r, c) for r, c in zip(self.open_runs, clauses, strict=True)],
            "requirements": {req.key: {"value": rule.value, "clause": rule.clause}
                             for req, rule in self.requirements},
            "notes": [self._note(n) for n in self.notes],
            "needs": list(self.needs),
            "trace": self._trace(dict(zip(map(id, self.open_runs), clauses, strict=True))),
            "materials": list(p.materials)
            if any(n.code == "materials_checklist" for n in self.notes) else [],
        }

    def _note(self, n: Note) -> dict[str, Any]:
        p, a = self.policy, self.answers
        fields = p.template_fields.get(n.text, ())
        key = (n, *[a.get(f, MISSING) for f in fields])
        cache = p.path_cache
        entry = cache.get(key)
        if entry is None:
            if len(cache) > _CACHE_SIZE:
                cache.clear()
            entry = cache[key] = {"code": n.code, "clause": n.clause, "text": fill(p, n.text, a)}
        return entry

    def _path(self, r: PathRun, clause: str) -> dict[str, Any]:
        p, a = self.policy, self.answers
        path, target = r[0], run_target(r, a)
        fields = p.template_fields.get(path.text, ())
        key = (path.code, target, clause, *[a.get(f, MISSING) for f in fields])
        cache = p.path_cache
        entry = cache.get(key)
        if entry is None:
            if len(cache) > _CACHE_SIZE:
                cache.clear()
            text = fill(p, path.text, a, target, path.target_names)
            entry = cache[key] = {
                "code": path.code,
                "target_level": target,
                "clause": clause,
                "conditions": list(path.provisos),
                "text": f"{path.title}：{text}",
            }
        return entry

    def trace(self) -> list[dict[str, Any]]:
        """Blocks and paths with the state of every condition checked, each with its clause.

        Conditions are listed in the order the engine checked them (those that read only
        the answers first), up to the first that failed: that one is why the path is closed.

        The entries are built once per distinct outcome (path, status, target, clause,
        condition states) and shared by every result with that outcome, since answer sets
        repeat the same few outcomes: treat them as read-only, like the JSON they become.
        """
        a = self.answers
        return self._trace({id(r): run_clause(r, a) for r in self.open_runs})

    def _trace(self, open_clauses: dict[int, str]) -> list[dict[str, Any]]:
        p = self.policy
        cache = p.trace_cache
        if len(cache) > _CACHE_SIZE:
            cache.clear()
        out: list[dict[str, Any]] = []
        for b, s in zip(p.blocks, self.block_states, strict=True):
            key = ("block", b.code, s)  # path keys are 4-tuples: they never collide
            entry = cache.get(key)
            if entry is None:
                entry = cache[key] = {"kind": "block", "code": b.code, "clause": b.clause,
                                      "status": _STATE[s]}
            out.append(entry)
        for r in self.runs:
            path, ctx, status, states = r
            if ctx is None:
                key = (path, None, status, states)
            else:
                key = (path, ctx[0], open_clauses.get(id(r)), states)
            entry = cache.get(key)
            if entry is None:
                target = None if ctx is None or ctx[0] is MISSING else ctx[0]
                entry = cache[key] = {
                    "kind": "path",
                    "code": path.code,
                    "clause": open_clauses[id(r)] if status else path.clause,
                    "target_level": target,
                    "status": _PATH_STATE[status],
                    "conditions": [{"code": c.code, "clause": c.clause, "status": _STATE[s]}
                                   for c, s in zip(path.checked_order, states, strict=False)],
                }
            out.append(entry)
        return out
