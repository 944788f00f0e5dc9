"""A policy year compiled from its data file: blocks, paths, requirements, notes, texts.

Why compiled: the engine runs tens of thousands of times per second, so every test string
is parsed once here; and a later year's file must fail at load, naming the rule, rather
than misbehave in front of an applicant. Nothing in this module knows a particular year:
all figures and rules come from the file.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .answers import AnswerSchema
from .errors import PolicyError
from .explanation import fill
from .expressions import (
    ALWAYS,
    MISSING,
    NO_CONTEXT,
    Compiler,
    Derived,
    Fact,
    Kind,
    Test,
    combine,
    flatten,
)
from .parameters import resolve_parameters
from .pathcode import compile_complete, compile_outcomes, compile_paths

LEVEL_FIELD = "current_level"  # its choices are the level scale, none .. senior
TARGET_FIELD = "target_level"

_CLAUSE = re.compile(r"^(附件|[一二](\([一二三四五六七八九十]+\)(\d+(\(\d+\))?)?)?)$")


@dataclass(frozen=True, slots=True)
class Condition:
    code: str
    clause: str
    test: Test
    held: str
    failed: str
    shared: bool  # several paths check it: the engine computes it once per target


@dataclass(frozen=True, slots=True, eq=False)  # identity: cache keys
class Block:
    code: str
    clause: str
    test: Test
    text: str


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: cache keys
class Path:
    code: str
    clause: str
    clause_when: tuple[tuple[Test, str], ...]
    title: str
    resolve_target: Callable[[Mapping], tuple]
    conditions: tuple[Condition, ...]
    # The order the engine checks: conditions that read only the answers ("plain") first,
    # then those that read the target.
    checked_order: tuple[Condition, ...]
    checked_index: tuple[int, ...]  # for each condition in written order: its place checked
    # a run's states (checked order) in written order: itemgetter(*checked_index), in C
    in_written_order: Callable[[tuple], tuple]
    plain_checks: tuple[Callable, ...]  # the engine's hot loop: test functions, prebound
    contextual_checks: tuple[tuple[Callable, str | None], ...]  # (test, memo key or None)
    provisos: tuple[str, ...]
    text: str
    target_names: Mapping[str, str]


@dataclass(frozen=True, slots=True, eq=False)  # identity: cache keys
class Rule:
    value: str
    clause: str
    when: Test


@dataclass(frozen=True, slots=True, eq=False)  # identity: cache keys
class Requirement:
    key: str
    label: str
    values: Mapping[str, str]
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: cache keys
class Note:
    code: str
    clause: str
    when: Test
    text: str
    gate: Callable | None  # the parts of `when` that read no path: False => note is off
    gate_test: Test | None  # the same as a Test (for generated code)


class Policy:
    """Everything the engine and the explanation need for one policy id."""

    def __init__(self, raw: Mapping[str, Any], answers_raw: Mapping[str, Any], source: str):
        meta = _table(raw, "policy", source)
        self.id: str = meta.get("id", "")
        self.title: str = meta.get("title", "")
        self.source = source
        as_of = meta.get("as_of")
        if not isinstance(as_of, dt.date):
            raise PolicyError(f"{source}: policy.as_of must be a date")
        self.as_of = as_of
        self.params = resolve_parameters(raw.get("parameters", {}), as_of, source)
        self.schema = AnswerSchema(answers_raw, self.params, f"{source} (answers)")
        self.texts: Mapping[str, Any] = _table(raw, "texts", source)
        self.level_names: Mapping[str, str] = _table(self.texts, "levels", f"{source}: texts")
        self.readings: dict[str, dict[str, str]] = {}
        self._listed: set[str] = set()  # conditions some path lists
        self.static_texts: dict[str, str] = {}  # templates that read only parameters
        self.template_fields: dict[str, tuple[str, ...]] = {}  # other templates: answers read
        self.text_cache: dict[tuple, str] = {}  # rendered texts (explanation.fill)
        self.trace_cache: dict[tuple, dict] = {}  # trace entries (Result.trace)
        self.path_cache: dict[tuple, dict] = {}  # path and note entries (Result.to_dict)
        self.interned_entries: tuple | None = None  # see result.interned_entries
        self._check_field_refs()

        levels = self.schema.fields[LEVEL_FIELD].choices
        self.levels = levels
        self.next_level = {lv: (levels[i + 1] if i + 1 < len(levels) else None)
                           for i, lv in enumerate(levels)}
        paths_raw = _table(raw, "paths", source)
        conditions_raw = _table(raw, "conditions", source)
        self.compiler = Compiler(
            kinds=self.schema.kinds(),
            params=self.params,
            conditions={k: _str(v, "test", f"{source}: conditions.{k}")
                        for k, v in conditions_raw.items()},
            facts=self._facts(tuple(paths_raw)),
            derived=self._derived(raw.get("derived", {}), source),
        )
        uses = {code: sum(code in p.get("conditions", []) for p in paths_raw.values())
                for code in conditions_raw}
        self.conditions = {code: self._condition(code, spec, source, uses[code] > 1)
                           for code, spec in conditions_raw.items()}
        self.blocks = tuple(self._block(code, spec, source)
                            for code, spec in _table(raw, "blocks", source).items())
        self.paths = tuple(self._path(code, spec, source) for code, spec in paths_raw.items())
        self.provisos: Mapping[str, str] = _table(raw, "provisos", source)
        for path in self.paths:
            for p in path.provisos:
                if p not in self.provisos:
                    raise PolicyError(f"{source}: paths.{path.code}: unknown proviso {p!r}")
        self.requirements = tuple(self._requirement(key, spec, source)
                                  for key, spec in _table(raw, "requirements", source).items())
        self.notes = tuple(self._note(i, spec, source)
                           for i, spec in enumerate(raw.get("notes", [])))
        self.materials = tuple(dict(m) for m in raw.get("materials", []))
        # the note that brings the annex's checklist into a result (Result.to_dict)
        self.materials_notes = frozenset(n for n in self.notes
                                         if n.code == "materials_checklist")
        self.key_dates = tuple(self._key_date(i, spec, source)
                               for i, spec in enumerate(raw.get("key_dates", [])))
        self.run_outcomes = compile_outcomes(self)  # requirements and notes, same way
        self.run_paths = compile_paths(self)  # the engine's hot loop, see pathcode.py
        # Answers with every field but the target level (the form of the API filled in)
        # leave nothing unknown: two-valued versions of both, see pathcode.compile_complete.
        self.complete_fields = frozenset(self.schema.fields) - {TARGET_FIELD}
        self.run_outcomes_complete = compile_outcomes(self, complete=True)
        self.run_paths_complete, self.evaluate_complete = compile_complete(self)
        unused = set(conditions_raw) - self.compiler.referenced - self._listed
        if unused:
            raise PolicyError(f"{source}: conditions never used: {', '.join(sorted(unused))}")
        self._check_templates(source)

    # -- facts a test may read besides the answers -----------------------------------------

    def _facts(self, path_codes: tuple[str, ...]) -> dict[str, Fact]:
        levels = Kind("enum", self.schema.fields[LEVEL_FIELD].choices, ordered=True, nullable=True)
        nxt = self.next_level

        def next_level(a, ctx):
            cur = a.get(LEVEL_FIELD, MISSING)
            return MISSING if cur is MISSING else nxt[cur]

        def next_level_src(g):
            if g.complete:
                return self._next_of_current_src(g)
            t = g.tmp()
            return f"(M if ({t} := {g.read(LEVEL_FIELD)}) is M else {g.const(nxt)}[{t}])"

        return {
            "target": Fact(levels, lambda a, ctx: ctx[0], lambda a, ctx: ctx[1], True,
                           lambda g: g.ctx_target),
            "next_level": Fact(levels, next_level, lambda a, ctx: LEVEL_FIELD, False,
                               next_level_src),
            "path": Fact(Kind("enum", path_codes), lambda a, ctx: ctx[2],
                         lambda a, ctx: None, True, lambda g: g.ctx_path),
        }

    def requested_target(self, a: Mapping) -> Any:
        """target_level, or the level above current_level; MISSING when neither is known."""
        t = a.get(TARGET_FIELD, MISSING)
        if t is not MISSING:
            return t
        cur = a.get(LEVEL_FIELD, MISSING)
        return MISSING if cur is MISSING else self.next_level[cur]

    def _derived(self, table: Any, source: str) -> dict[str, Derived]:
        out = {}
        for name, spec in (table or {}).items():
            where = f"{source}: derived.{name}"
            fields = spec.get("max_of", [])
            if len(fields) < 2 or any(f not in self.schema.fields for f in fields):
                raise PolicyError(f"{where}.max_of: needs two or more answer fields")
            base = self.schema.fields[fields[0]]
            maps = spec.get("map", {})
            for other in fields[1:]:
                mapping = maps.get(other, {})
                if set(mapping) != set(self.schema.fields[other].choices) or \
                        not set(mapping.values()) <= set(base.choices):
                    raise PolicyError(f"{where}.map.{other}: must map every value onto {base.name}")
            self._reading(spec, where)
            self._clause(spec.get("clause", ""), where)
            out[name] = Derived(fields[0], {f: dict(maps[f]) for f in fields[1:]})
        return out

    # -- rules ---------------------------------------------------------------------------

    def _condition(self, code: str, spec: Mapping, source: str, shared: bool) -> Condition:
        where = f"{source}: conditions.{code}"
        self._reading(spec, where)
        test = flatten(self.compiler.condition(code))
        return Condition(
            code=code,
            clause=self._clause(spec.get("clause"), where),
            test=test,
            held=_str(spec, "held", where),
            failed=_str(spec, "failed", where),
            shared=shared and "path" not in test.fields,
        )

    def _block(self, code: str, spec: Mapping, source: str) -> Block:
        where = f"{source}: blocks.{code}"
        self._reading(spec, where)
        return Block(
            code=code,
            clause=self._clause(spec.get("clause"), where),
            test=flatten(self.compiler.compile(_str(spec, "test", where), where,
                                               allow_context=False)),
            text=_str(spec, "text", where),
        )

    def _path(self, code: str, spec: Mapping, source: str) -> Path:
        where = f"{source}: paths.{code}"
        self._reading(spec, where)
        conds = []
        for name in spec.get("conditions", []):
            if name not in self.conditions:
                raise PolicyError(f"{where}: unknown condition {name!r}")
            self._listed.add(name)
            conds.append(self.conditions[name])
        if not conds:
            raise PolicyError(f"{where}: a path needs conditions")
        clause_when = tuple(
            (flatten(self.compiler.compile(_str(c, "when", where), f"{where}.clause_when")),
             self._clause(c.get("clause"), f"{where}.clause_when"))
            for c in spec.get("clause_when", [])
        )
        checked = tuple(c for c in conds if not c.test.uses_context) \
            + tuple(c for c in conds if c.test.uses_context)
        checked_index = tuple(checked.index(c) for c in conds)
        return Path(
            code=code,
            clause=self._clause(spec.get("clause"), where),
            clause_when=clause_when,
            title=_str(spec, "title", where),
            resolve_target=self._target(spec.get("target"), where),
            conditions=tuple(conds),
            checked_order=checked,
            checked_index=checked_index,
            in_written_order=_reorder(checked_index),
            plain_checks=tuple(c.test.value for c in conds if not c.test.uses_context),
            contextual_checks=tuple((c.test.value, c.code if c.shared else None)
                                    for c in conds if c.test.uses_context),
            provisos=tuple(spec.get("provisos", [])),
            text=_str(spec, "text", where),
            target_names=dict(spec.get("target_names", {})),
        )

    def _target(self, spec: Any, where: str) -> Callable[[Mapping], tuple]:
        """Compile a path's target: returns (level | None | MISSING, field to ask or None).

        The function may carry `complete_src(g)`: the target level as a Python expression
        for the two-valued generated code (pathcode.compile_complete), where every
        field is answered; `rq` there is the requested target (see `requested_src`).
        """
        nxt = self.next_level
        levels = self.levels
        complete_src = None

        if spec == "requested":
            def resolve(a):
                t = self.requested_target(a)
                return (t, LEVEL_FIELD if t is MISSING else None)

            def complete_src(g):
                return "rq"
        elif spec == "next":
            def resolve(a):
                cur = a.get(LEVEL_FIELD, MISSING)
                return (MISSING, LEVEL_FIELD) if cur is MISSING else (nxt[cur], None)

            complete_src = self._next_of_current_src
        elif spec == "current":
            def resolve(a):
                cur = a.get(LEVEL_FIELD, MISSING)
                if cur is MISSING:
                    return (MISSING, LEVEL_FIELD)
                return (None if cur == levels[0] else cur, None)

            def complete_src(g):
                cur = g.read(LEVEL_FIELD)
                return f"(None if {cur} == {levels[0]!r} else {cur})"
        elif isinstance(spec, str) and spec in levels[1:]:
            fixed = (spec, None)

            def resolve(a):
                return fixed

            def complete_src(g):
                return repr(spec)
        elif isinstance(spec, Mapping) and spec.get("at_least") in levels[1:]:
            floor = levels.index(spec["at_least"])

            def complete_src(g):
                rank = g.const({t: levels[max(levels.index(t), floor)] for t in levels})
                return f"(None if rq is None else {rank}[rq])"

            def resolve(a):
                t = self.requested_target(a)
                if t is MISSING:
                    return (MISSING, LEVEL_FIELD)
                if t is None:
                    return (None, None)
                return (levels[max(levels.index(t), floor)], None)
        elif isinstance(spec, Mapping) and isinstance(spec.get("tiers"), list):
            tiers = []
            for i, tier in enumerate(spec["tiers"]):
                if tier.get("level") not in levels[1:]:
                    raise PolicyError(f"{where}.target.tiers[{i}]: unknown level")
                tiers.append((tier["level"], flatten(self.compiler.compile(
                    _str(tier, "when", where), f"{where}.target.tiers[{i}]",
                    allow_context=False))))
            tiers = tuple(tiers)

            def resolve(a):
                for level, test in tiers:
                    r = test.value(a, NO_CONTEXT)
                    if r:
                        return (level, None)
                    if r is None:
                        return (MISSING, test.need(a, NO_CONTEXT))
                return (None, None)
        else:
            raise PolicyError(f"{where}.target: not understood: {spec!r}")
        resolve.complete_src = complete_src
        return resolve

    def requested_src(self, g) -> list[str]:
        """Lines binding `rq`, the requested target, in two-valued generated code."""
        return [f"    rq = a.get({TARGET_FIELD!r}, M)",
                "    if rq is M:",
                f"        rq = {self._next_of_current_src(g)}"]

    def _next_of_current_src(self, g) -> str:
        """The level above the (answered) current level, in two-valued generated code."""
        return f"{g.const(self.next_level)}[{g.read(LEVEL_FIELD)}]"

    def _requirement(self, key: str, spec: Mapping, source: str) -> Requirement:
        where = f"{source}: requirements.{key}"
        values = dict(spec.get("values", {}))
        rules = []
        for i, r in enumerate(spec.get("rules", [])):
            rw = f"{where}.rules[{i}]"
            self._reading(r, rw)
            value = _str(r, "value", rw)
            if value.startswith("$"):
                value = self.params.get(value[1:], "")
            if value not in values:
                raise PolicyError(f"{rw}: value {value!r} is not one of {sorted(values)}")
            when = flatten(self.compiler.compile(r["when"], rw)) if "when" in r else ALWAYS
            rules.append(Rule(value, self._clause(r.get("clause"), rw), when))
        if not rules or rules[-1].when is not ALWAYS:
            raise PolicyError(f"{where}: the last rule must have no `when` (the default)")
        return Requirement(key, _str(spec, "label", where), values, tuple(rules))

    def _note(self, i: int, spec: Mapping, source: str) -> Note:
        where = f"{source}: notes[{i}]"
        self._reading(spec, where)
        when = flatten(self.compiler.compile(_str(spec, "when", where), where))
        plain = [t for t in when.parts if not t.uses_context] if when.op == "and" else []
        gate = flatten(combine("and", plain)) if plain else None
        return Note(
            code=_str(spec, "code", where),
            clause=self._clause(spec.get("clause"), where),
            when=when,
            text=_str(spec, "text", where),
            gate=gate.value if gate else None,
            gate_test=gate,
        )

    def _key_date(self, i: int, spec: Mapping, source: str) -> tuple[dt.date, str, str]:
        where = f"{source}: key_dates[{i}]"
        value = self.params.get(spec.get("param", ""))
        if not isinstance(value, dt.date):
            raise PolicyError(f"{where}: param must name a date parameter")
        return (value, _str(spec, "label", where), self._clause(spec.get("clause"), where))

    # -- checks ----------------------------------------------------------------------------

    def _clause(self, clause: Any, where: str) -> str:
        if not isinstance(clause, str) or not all(_CLAUSE.match(c) for c in clause.split(", ")):
            raise PolicyError(f"{where}: clause {clause!r} is not like 一(五)1(3) or 附件")
        return clause

    def _reading(self, spec: Mapping, where: str) -> None:
        reading = spec.get("reading")
        if reading is None:
            return
        rid, text = reading.get("id"), reading.get("text")
        if not rid or not text:
            raise PolicyError(f"{where}.reading: needs an id and a text")
        if rid in self.readings:
            raise PolicyError(f"{where}.reading: id {rid!r} used twice")
        self.readings[rid] = {"text": text, "where": where.split(": ", 1)[-1]}

    def _check_field_refs(self) -> None:
        for name in (LEVEL_FIELD, TARGET_FIELD):
            if name not in self.schema.fields:
                raise PolicyError(f"{self.source}: the answers must define {name}")

    def _check_templates(self, source: str) -> None:
        allowed = set(self.schema.fields) | set(self.params) | {"target", "target_name"}
        texts = [(f"blocks.{b.code}", b.text) for b in self.blocks]
        texts += [(f"conditions.{c.code}", t) for c in self.conditions.values()
                  for t in (c.held, c.failed)]
        texts += [(f"paths.{p.code}", p.text) for p in self.paths]
        texts += [(f"notes.{n.code}", n.text) for n in self.notes]
        texts += [(f"fields.{f.name}.help", f.help) for f in self.schema.fields.values()]
        for where, text in texts:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            if names - allowed:
                bad = min(names - allowed)
                raise PolicyError(f"{source}: {where}: unknown placeholder {{{bad}}}")
            if names and names <= set(self.params):  # only parameters: render once, here
                self.static_texts[text] = fill(self, text, {})
            elif names:
                self.template_fields[text] = tuple(sorted(names & set(self.schema.fields)))


def _reorder(index: tuple[int, ...]) -> Callable[[tuple], tuple]:
    if len(index) == 1:  # itemgetter of one index gives the item, not a tuple
        return lambda states: states
    return operator.itemgetter(*index)


def _table(raw: Mapping, key: str, source: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise PolicyError(f"{source}: missing table [{key}]")
    return value


def _str(spec: Mapping, key: str, where: str) -> str:
    value = spec.get(key) if isinstance(spec, Mapping) else None
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: `{key}` must be a non-empty string")
    return value
