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
                and None not in self.block_states)  # every block checked and not held

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
        cache = p.path_cache
        if len(cache) > _CACHE_SIZE:
            cache.clear()
        # Most entries are found by the run (see `interned_entries`) or the note itself,
        # in one C-level pass; those that are not (runs of partial answers, entries that
        # read the answers too) are filled in.
        paths = list(map(interned_entries(p)[1].get, map(id, self.open_runs)))
        if not all(paths):  # (entries are never empty)
            self._fill_paths(paths)
        notes = list(map(cache.get, self.notes))
        if not all(notes):
            self._fill_notes(notes)
        requirements = cache.get(self.requirements)  # keys are tuples of (req, rule)
        if requirements is None:
            requirements = cache[self.requirements] = {
                req.key: {"value": rule.value, "clause": rule.clause}
                for req, rule in self.requirements}
        return {
            "policy": p.id,
            "eligible": self.eligible,
            "blocked_by": [{"code": b.code, "clause": b.clause, "text": fill(p, b.text, a)}
                           for b in self.blocked_by],
            "paths": paths,
            "requirements": dict(requirements),
            "notes": notes,
            "needs": list(self.needs),
            "trace": self._trace(paths),
            "materials": [] if p.materials_notes.isdisjoint(self.notes) else list(p.materials),
        }

    def _fill_paths(self, paths: list) -> None:
        """Entries of the open runs not found by the run alone (interned_entries): the
        text reads answers, or the run is not interned (partial answers). Cached under the
        run's id and those answers, or under the run, its clause and those answers."""
        p, a = self.policy, self.answers
        cache = p.path_cache
        interned = interned_entries(p)[0]
        for i, entry in enumerate(paths):
            if entry is not None:
                continue
            r = self.open_runs[i]
            fields = p.template_fields.get(r[0].text) or ()
            values = [a.get(f, MISSING) for f in fields]
            if id(r) in interned:  # the run's identity says its clause too
                key = (id(r), *values)
                entry = cache.get(key)
                if entry is None:
                    entry = cache[key] = _path_entry(p, r, run_clause(r, a), a)
            else:
                clause = run_clause(r, a)
                key = (r, clause, *values)
                entry = cache.get(key)
                if entry is None:
                    entry = cache[key] = _path_entry(p, r, clause, a)
            paths[i] = entry

    def _fill_notes(self, notes: list) -> None:
        """Like _fill_paths: a note whose text reads answers is stored under them too."""
        p, a = self.policy, self.answers
        cache = p.path_cache
        for i, entry in enumerate(notes):
            if entry is not None:
                continue
            n = self.notes[i]
            fields = p.template_fields.get(n.text)
            key = (n, *[a.get(f, MISSING) for f in fields]) if fields else n
            entry = cache.get(key)
            if entry is None:
                entry = cache[key] = {"code": n.code, "clause": n.clause,
                                      "text": fill(p, n.text, a)}
            notes[i] = entry

    def trace(self) -> list[dict[str, Any]]:
        """Blocks and paths with the state of every condition checked, each with its clause.

        Conditions are listed in the order the engine checked them (those that read only
        the answers first), up to the first that failed: that one is why the path is closed.

        The entries are built once per distinct outcome (path, status, target, clause,
        condition states) and shared by every result with that outcome, since answer sets
        repeat the same few outcomes: treat them as read-only, like the JSON they become.
        """
        return self._trace(None)

    def _trace(self, paths: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """`paths`: to_dict's path entries, which hold the clause of each open run."""
        p = self.policy
        cache = p.trace_cache
        if len(cache) > _CACHE_SIZE:
            cache.clear()
        # the blocks' entries, keyed by their states (bools and None: never a run's key)
        blocks = cache.get(self.block_states)
        if blocks is None:
            blocks = cache[self.block_states] = [
                {"kind": "block", "code": b.code, "clause": b.clause, "status": _STATE[s]}
                for b, s in zip(p.blocks, self.block_states, strict=True)]
        runs = list(map(interned_entries(p)[0].get, map(id, self.runs)))
        if not all(runs):  # not the two-valued code's runs: look them up by value, in C
            runs = list(map(cache.get, self.runs))
            if not all(runs):
                self._fill_trace(runs, paths)
        return blocks + runs

    def _fill_trace(self, runs: list, paths: list[dict[str, Any]] | None) -> None:
        """Entries of runs seen for the first time, or of open runs whose clause depends
        on the answers (clause_when): those are keyed (run, clause), as the entry reads
        nothing else."""
        a, cache = self.answers, self.policy.trace_cache
        clauses = {}
        if paths is not None:
            clauses = {id(r): e["clause"] for r, e in zip(self.open_runs, paths, strict=True)}
        for i, entry in enumerate(runs):
            if entry is not None:
                continue
            r = self.runs[i]
            path, status = r[0], r[2]
            clause = path.clause
            key = r
            if status and path.clause_when:
                clause = clauses.get(id(r)) or run_clause(r, a)
                key = (r, clause)
            entry = cache.get(key)
            if entry is None:
                entry = cache[key] = _trace_entry(r, clause)
            runs[i] = entry


def interned_entries(p: Policy) -> tuple[dict[int, dict], dict[int, dict]]:
    """Trace and path entries of the runs the two-valued code returns, by id of the run.

    That code (pathcode.compile_complete) returns only runs built once, listed in
    its `runs` with their clause (an open run per clause that can open it), so their
    entries are built once too and found by identity: no key to build or hash per
    result. A path entry whose text reads answers is left out: Result looks it up by the
    run's id and those answers. The runs stay alive with the policy, so an id here is
    never another object's.
    """
    built = p.interned_entries
    if built is None:
        trace: dict[int, dict] = {}
        paths: dict[int, dict] = {}
        for r, clause in getattr(p.run_paths_complete, "runs", ()):
            trace[id(r)] = _trace_entry(r, clause)
            if r[2] and not p.template_fields.get(r[0].text):
                paths[id(r)] = _path_entry(p, r, clause, {})
        built = p.interned_entries = (trace, paths)
    return built


def _trace_entry(r: PathRun, clause: str) -> dict[str, Any]:
    path, ctx, status, states = r
    return {
        "kind": "path",
        "code": path.code,
        "clause": clause,
        "target_level": None if ctx is None or ctx[0] is MISSING else ctx[0],
        "status": _PATH_STATE[status],
        "conditions": [{"code": c.code, "clause": c.clause, "status": _STATE[s]}
                       for c, s in zip(path.checked_order, states, strict=False)],
    }


def _path_entry(p: Policy, r: PathRun, clause: str, a: Mapping[str, Any]) -> dict[str, Any]:
    path = r[0]
    target = run_target(r, a)
    return {
        "code": path.code,
        "target_level": target,
        "clause": clause,
        "conditions": list(path.provisos),
        "text": f"{path.title}：{fill(p, path.text, a, target, path.target_names)}",
    }
