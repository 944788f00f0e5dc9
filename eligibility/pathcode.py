"""The path loop of an evaluation, generated once per policy as straight-line Python.

Why: deciding the paths is most of the cost of an evaluation. Written as a loop over
paths and checks it pays, per condition, a call, a list append and two state tests, and
per path a tuple and a target lookup; generated from the compiled policy it is a run of
inline expressions (each condition's flattened test, see expressions.flatten) in nested
`if`s that stop at the first failed condition. Nothing here knows a particular year: the
code is written from whatever paths the policy file has.

`reference_paths` is the plain loop, kept as the definition the generated code must match
(tests/eligibility/test_eligibility_flatten.py compares them on random answers).

Both return (runs, open_runs, undecided): runs is one PathRun per path (see runs.py).

The same is done for what follows once some path is open: the requirements of the main
route and the notes of all open routes (`compile_outcomes`, defined by
`reference_outcomes`), returning (requirements, notes, pending).

Answers that hold every field (the API's full form) cannot leave anything unknown, so
they get a second, two-valued version of all of it (`compile_complete`): the same
results, about half the work (issue 3 note). Partial answers (the chat interview) take
the three-valued code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .expressions import ALWAYS, MISSING, NO_CONTEXT, Gen, Test, combine, flatten

if TYPE_CHECKING:
    from .policy import Policy

PathsFn = Callable[[Mapping[str, Any]], tuple[list, list, list]]


def reference_paths(policy: Policy, a: Mapping[str, Any]) -> tuple[list, list, list]:
    """Decide every path: answer-only conditions first, then (if still possible) the
    path's target and the conditions that read it; stop at the first False. A path is
    closed iff some condition is false, whatever the order; this order settles most paths
    without working out their target. `states` keeps the results in this order."""
    runs, open_runs, undecided = [], [], []
    memo: dict[tuple, bool | None] = {}  # (condition, target) -> result, for shared ones
    for path in policy.paths:
        status = True
        states = []
        for cond in path.checked_order:
            if cond.test.uses_context:
                break
            r = cond.test.value(a, NO_CONTEXT)
            states.append(r)
            if r is False:
                status = False
                break
            if r is None:
                status = None
        ctx = None
        if status is not False:
            target, target_need = path.resolve_target(a)
            ctx = (target, target_need, path.code)
            for cond in path.checked_order[len(states):]:
                if cond.shared:
                    key = (cond.code, target)
                    r = memo.get(key, MISSING)
                    if r is MISSING:
                        r = memo[key] = cond.test.value(a, ctx)
                else:
                    r = cond.test.value(a, ctx)
                states.append(r)
                if r is False:
                    status = False
                    break
                if r is None:
                    status = None
        pr = (path, ctx, status, tuple(states))
        runs.append(pr)
        if status:
            open_runs.append(pr)
        elif status is None:
            undecided.append(pr)
    return runs, open_runs, undecided


def compile_paths(policy: Policy) -> PathsFn:
    """Generate the function equivalent to `reference_paths(policy, a)`, for any answers
    (answers with every field take compile_complete's code instead)."""
    g = Gen(hoist=True)
    g.namespace["NC"] = NO_CONTEXT
    memo = _memo_names(policy)
    lines = ["def paths(a):"]
    lines += [f"    {name} = {{}}" for name in memo.values()]
    lines.append("    runs = []")
    lines.append("    open_runs = []")
    lines.append("    undecided = []")
    for path in policy.paths:
        p = g.const(path)
        resolve = g.const(path.resolve_target)
        code = repr(path.code)
        lines.append(f"    # {path.code}")
        lines.append("    c = NC")
        states: list[str] = []
        indent = "    "
        placed_ctx = False
        for cond in path.checked_order:
            if cond.test.uses_context and not placed_ctx:
                lines += _place_target(indent, resolve, code)
                placed_ctx = True
            s = f"s{len(states)}"
            expr = _expr(g, cond.test)
            if cond.shared and cond.test.uses_context:
                lines += _memoized(indent, s, memo[cond.code], expr)
            else:
                lines.append(f"{indent}{s} = {expr}")
            states.append(s)
            ctx = "c" if placed_ctx else "None"
            lines.append(f"{indent}if {s} is False:")
            lines.append(f"{indent}    pr = ({p}, {ctx}, False, ({', '.join(states)},))")
            lines.append(f"{indent}else:")
            indent += "    "
        if not placed_ctx:  # every condition reads only the answers: target still needed
            lines += _place_target(indent, resolve, code)
        unknown = " or ".join(f"{s} is None" for s in states)
        status = f"None if ({unknown}) else True"
        lines.append(f"{indent}pr = ({p}, c, {status}, ({', '.join(states)},))")
        lines.append(f"{indent}if pr[2]:")
        lines.append(f"{indent}    open_runs.append(pr)")
        lines.append(f"{indent}else:")
        lines.append(f"{indent}    undecided.append(pr)")
        lines.append("    runs.append(pr)")
    lines.append("    return runs, open_runs, undecided")
    lines[1:1] = g.prologue()
    return _define(g, lines, "paths", policy,
                   lambda a: reference_paths(policy, a))


def _memoized(indent: str, var: str, memo: str, expr: str) -> list[str]:
    """Lines setting `var` to a shared condition's result for the target `tg`, computed
    once per evaluation and target (Condition.shared)."""
    return [f"{indent}{var} = {memo}.get(tg, M)",
            f"{indent}if {var} is M:",
            f"{indent}    {var} = {memo}[tg] = {expr}"]


def _memo_names(policy: Policy) -> dict[str, str]:
    """Locals memoizing, per target, the conditions several paths check (Condition.shared)."""
    shared = sorted({c.code for p in policy.paths for c in p.checked_order
                     if c.shared and c.test.uses_context})
    return {code: f"m{i}" for i, code in enumerate(shared)}


def compile_complete(policy: Policy) -> tuple[PathsFn, Callable[[Mapping], tuple]]:
    """compile_paths for answers with every field, and the whole evaluation of such answers
    as one function: `evaluate(a)` returns the fields of a Result after (policy, answers):
    (block states, blocks held, runs, open runs, main run, requirements, notes, needs).
    Blocks, paths and the choice of the main route are inline; the requirements and notes
    are `policy.run_outcomes_complete`. engine.run uses it; `paths` is for the tests.

    Nothing is unknown in such answers, so the code is two-valued (see Gen), and a path's
    states are always True up to its first False.

    So every run this code returns is one of a few known tuples: per path, per place it
    stopped, per target level, and for an open path per clause that opened it (its
    clause_when; equal tuples, told apart by identity). They are built here, once (the
    function's `runs` attribute lists them with that clause), and the code picks them: a
    path closed before its target was needed is a constant, the others are looked up by
    target. Results share them, and so can their entries (result.interned_entries). The
    target is written inline (its `complete_src`) and the path's code as a literal.
    """
    g = Gen(hoist=True, complete=True)
    g.ctx_target = "tg"
    memo = _memo_names(policy)
    targets = (*policy.levels, None)  # what a target can be once every field is known
    interned: list[tuple[tuple, str]] = []  # (run, clause)
    lines = [f"    {name} = {{}}" for name in memo.values()]
    lines.append("    open_runs = []")
    names = []
    for i, path in enumerate(policy.paths):
        r = f"r{i}"
        names.append(r)
        g.ctx_path = repr(path.code)
        ctxs = {t: (t, None, path.code) for t in targets}

        def by_target(status: bool, states: tuple, clause: str, path=path, ctxs=ctxs) -> str:
            table = {t: (path, ctx, status, states) for t, ctx in ctxs.items()}
            interned.extend((run, clause) for run in table.values())
            return f"{g.const(table)}[tg]"

        target_src = getattr(path.resolve_target, "complete_src", None)
        lines.append(f"    # {path.code}")
        indent = "    "
        placed_ctx = False
        for k, cond in enumerate(path.checked_order):
            if cond.test.uses_context and not placed_ctx:
                lines.append(_bind_target(indent, path, target_src, g))
                placed_ctx = True
            expr = _expr(g, cond.test)
            if cond.shared and cond.test.uses_context:
                lines += _memoized(indent, "s", memo[cond.code], expr)
                expr = "s"
            closed = (True,) * k + (False,)
            lines.append(f"{indent}if not {expr}:")
            if placed_ctx:
                lines.append(f"{indent}    {r} = {by_target(False, closed, path.clause)}")
            else:
                run = (path, None, False, closed)
                interned.append((run, path.clause))
                lines.append(f"{indent}    {r} = {g.const(run)}")
            lines.append(f"{indent}else:")
            indent += "    "
        if not placed_ctx:  # every condition reads only the answers: target still needed
            lines.append(_bind_target(indent, path, target_src, g))
        held = (True,) * len(path.checked_order)
        if path.clause_when:  # the clause that opened it: runs.run_clause
            if any(_calls(test) for test, _ in path.clause_when):
                lines.append(f"{indent}c = (tg, None, {g.ctx_path})")
            for j, (test, clause) in enumerate(path.clause_when):
                lines.append(f"{indent}{'if' if j == 0 else 'elif'} {_expr(g, test)}:")
                lines.append(f"{indent}    {r} = {by_target(True, held, clause)}")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    {r} = {by_target(True, held, path.clause)}")
        else:
            lines.append(f"{indent}{r} = {by_target(True, held, path.clause)}")
        lines.append(f"{indent}open_runs.append({r})")
    body = lines
    runs = f"({', '.join(names)},)"
    blocks = [f"    b{i} = {_expr(g, b.test)}" for i, b in enumerate(policy.blocks)]
    states = f"({', '.join(f'b{i}' for i in range(len(policy.blocks)))},)"
    any_block = " or ".join(f"b{i}" for i in range(len(policy.blocks))) or "False"
    head = [*g.prologue(), *policy.requested_src(g)]
    paths = _define(g, ["def paths(a):", *head, *body, f"    return {runs}, open_runs, ()"],
                    "paths", policy, lambda a: reference_paths(policy, a))
    if hasattr(paths, "source"):  # generated, not the fallback
        paths.runs = tuple(interned)
    blocks_src = g.const(policy.blocks)
    outcomes = g.const(policy.run_outcomes_complete)
    evaluate = _define(g, [
        "def evaluate(a):", *head, *blocks,
        f"    bs = {states}",
        f"    if {any_block}:",
        f"        return bs, tuple([b for b, s in zip({blocks_src}, bs) if s]), "
        "(), (), None, (), (), ()",
        *body,
        "    if not open_runs:",
        f"        return bs, (), {runs}, (), None, (), (), ()",
        "    for pr in open_runs:  # the main route: the one to the level asked for",
        "        if pr[1][0] == rq:",
        "            break",
        "    else:",
        "        pr = open_runs[0]",
        f"    requirements, notes, _ = {outcomes}(a, open_runs, pr[1])",
        f"    return bs, (), {runs}, tuple(open_runs), pr, tuple(requirements), "
        "tuple(notes), ()",
    ], "evaluate", policy, None)
    return paths, evaluate


def _bind_target(indent: str, path, target_src, g: Gen) -> str:
    if target_src is None:
        return f"{indent}tg = {g.const(path.resolve_target)}(a)[0]"
    return f"{indent}tg = {target_src(g)}"


def _place_target(indent: str, resolve: str, code: str) -> list[str]:
    """Lines binding the path's target `tg` and its context `c` (see runs.py)."""
    return [f"{indent}tg, tn = {resolve}(a)", f"{indent}c = (tg, tn, {code})"]


def _calls(test: Test) -> bool:
    """No source form, or flatten could not compile it alone (too deep): call it."""
    return test.src is None or (test.ref_value is None and bool(test.op))


def _expr(g: Gen, test: Test) -> str:
    if _calls(test):
        return f"{g.const(test.value)}(a, c)"
    return test.src(g)


def reference_outcomes(policy: Policy, a: Mapping[str, Any], open_runs: list,
                       ctx: tuple) -> tuple[list, list, list]:
    """Requirements of the main route (its context `ctx`), notes of any open route, and
    the (test, ctx) of those still unknown: the first rule of a requirement that is not
    false decides it (unknown: ask); a note is given once, for the first route it fits."""
    requirements, notes, pending = [], [], []
    for req in policy.requirements:
        for rule in req.rules:
            r = rule.when.value(a, ctx)
            if r:
                requirements.append((req, rule))
                break
            if r is None:
                pending.append((rule.when, ctx))
                break
    given = set()
    for note in policy.notes:
        if note.code in given or (note.gate is not None and note.gate(a, NO_CONTEXT) is False):
            continue
        test = note.when
        unknown_ctx = None
        for pr in open_runs if test.uses_context else open_runs[:1]:
            r = test.value(a, pr[1])
            if r:
                notes.append(note)
                given.add(note.code)
                break
            if r is None and unknown_ctx is None:
                unknown_ctx = pr[1]
        else:
            if unknown_ctx is not None:
                pending.append((test, unknown_ctx))
    return requirements, notes, pending


def compile_outcomes(policy: Policy,
                     complete: bool = False) -> Callable[[Mapping, list, tuple], tuple]:
    """Generate the function equivalent to `reference_outcomes(policy, ...)`; `complete`
    as for compile_complete: every rule is then True or False, and nothing is pending."""
    if complete:
        return _compile_outcomes_complete(policy)
    g = Gen(hoist=True)
    g.namespace["NC"] = NO_CONTEXT
    lines = ["def outcomes(a, open_runs, ctx):",
             "    requirements = []", "    notes = []", "    pending = []", "    c = ctx"]
    for req in policy.requirements:
        lines.append(f"    # requirement {req.key}")
        indent = "    "
        for rule in req.rules:
            lines.append(f"{indent}r = {_expr(g, rule.when)}")
            lines.append(f"{indent}if r:")
            lines.append(f"{indent}    requirements.append({g.const((req, rule))})")
            lines.append(f"{indent}elif r is None:")
            lines.append(f"{indent}    pending.append(({g.const(rule.when)}, c))")
            lines.append(f"{indent}else:")
            indent += "    "
        lines.append(f"{indent}pass")
    seen: set[str] = set()
    for note in policy.notes:
        n, test = g.const(note), g.const(note.when)
        lines.append(f"    # note {note.code} {note.clause}")
        indent = "    "
        if note.code in seen:  # an earlier rule may have given this note already
            lines.append(f"{indent}if {note.code!r} not in given:")
            indent += "    "
        if note.gate_test is not None:
            lines.append(f"{indent}c = NC")
            lines.append(f"{indent}if {_expr(g, note.gate_test)} is not False:")
            indent += "    "
        if note.when.uses_context:
            lines.append(f"{indent}u = None")
            lines.append(f"{indent}for pr in open_runs:")
            lines.append(f"{indent}    c = pr[1]")
            lines.append(f"{indent}    r = {_expr(g, note.when)}")
            lines.append(f"{indent}    if r:")
            lines.append(f"{indent}        notes.append({n})")
            lines.append(f"{indent}        given.add({note.code!r})")
            lines.append(f"{indent}        break")
            lines.append(f"{indent}    if r is None and u is None:")
            lines.append(f"{indent}        u = c")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    if u is not None:")
            lines.append(f"{indent}        pending.append(({test}, u))")
        else:
            lines.append(f"{indent}c = open_runs[0][1]")
            lines.append(f"{indent}r = {_expr(g, note.when)}")
            lines.append(f"{indent}if r:")
            lines.append(f"{indent}    notes.append({n})")
            lines.append(f"{indent}    given.add({note.code!r})")
            lines.append(f"{indent}elif r is None:")
            lines.append(f"{indent}    pending.append(({test}, c))")
        seen.add(note.code)
    lines.append("    return requirements, notes, pending")
    lines[1:1] = ["    given = set()", *g.prologue()]
    return _define(g, lines, "outcomes", policy,
                   lambda a, open_runs, ctx: reference_outcomes(policy, a, open_runs, ctx))


def _compile_outcomes_complete(policy: Policy) -> Callable[[Mapping, list, tuple], tuple]:
    """compile_outcomes for complete answers: two-valued, so a requirement is an
    if/elif chain down to its default rule, and a note's answer-only parts (its gate)
    are checked once, before the loop over the open routes checks the parts that read
    the route. Returns (requirements, notes, ()).
    """
    g = Gen(hoist=True, complete=True)
    lines = ["def outcomes(a, open_runs, ctx):",
             "    requirements = []", "    notes = []", "    c = ctx"]
    for req in policy.requirements:
        lines.append(f"    # requirement {req.key}")
        for i, rule in enumerate(req.rules):
            add = f"requirements.append({g.const((req, rule))})"
            if rule.when is ALWAYS:  # the default: the last rule (Policy._requirement)
                lines += [f"    {add}"] if i == 0 else ["    else:", f"        {add}"]
                break
            lines.append(f"    {'if' if i == 0 else 'elif'} {_expr(g, rule.when)}:")
            lines.append(f"        {add}")
    codes = [n.code for n in policy.notes]
    repeated = {c for c in codes if codes.count(c) > 1}
    seen: set[str] = set()
    lines.append("    ctxs = [pr[1] for pr in open_runs]")
    for note in policy.notes:
        lines.append(f"    # note {note.code} {note.clause}")
        give = [f"notes.append({g.const(note)})"]
        if note.code in repeated:
            give.append(f"given.add({note.code!r})")
        indent = "    "
        if note.code in seen:  # an earlier rule may have given this note already
            lines.append(f"{indent}if {note.code!r} not in given:")
            indent += "    "
        when = note.when
        if note.gate_test is not None:  # the parts that read only the answers
            lines.append(f"{indent}if {_expr(g, note.gate_test)}:")
            indent += "    "
            rest = [t for t in when.parts if t.uses_context]
            when = None if not rest else flatten(combine("and", rest))
        if when is None:
            lines += [f"{indent}{x}" for x in give]
        elif when.uses_context:
            lines.append(f"{indent}for c in ctxs:")
            lines.append(f"{indent}    if {_expr(g, when)}:")
            lines += [f"{indent}        {x}" for x in give]
            lines.append(f"{indent}        break")
        else:
            lines.append(f"{indent}if {_expr(g, when)}:")
            lines += [f"{indent}    {x}" for x in give]
        seen.add(note.code)
    lines.append("    return requirements, notes, ()")
    lines[1:1] = ["    given = set()", *g.prologue()]
    return _define(g, lines, "outcomes", policy,
                   lambda a, open_runs, ctx: reference_outcomes(policy, a, open_runs, ctx))


def _define(g: Gen, lines: list[str], name: str, policy: Policy, fallback: Callable) -> Callable:
    """Compile the generated function; if Python refuses it (a policy so large that the
    nesting passes the parser's limits), use the plain loop: slower, same results."""
    source = "\n".join(lines) + "\n"
    try:
        exec(compile(source, f"<{name} of {policy.id}>", "exec"), g.namespace)  # noqa: S102
    except (SyntaxError, RecursionError, MemoryError):
        return fallback
    fn = g.namespace[name]
    fn.source = source  # for debugging: print(policy.run_paths.source)
    return fn
