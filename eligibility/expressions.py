"""Three-valued tests over answers, compiled once when a policy loads.

Why: every rule of the policy is a short test written in the policy file, next to its
clause. Parsing those strings on every call would be slow and would let a typo surface
only when some applicant happens to hit it, so each test is parsed and type-checked at
load time into plain Python closures.

Kleene logic: a test answers True, False or None (unknown: it reads an unanswered field).
`and` is False as soon as one part is False, whatever the unknowns; `or` is True as soon
as one part is True. When a test is unknown, `need` names the one field to ask next: the
field of its first unknown part, in the order written, so a gate question ("is it the
health series?") comes before the questions behind it.

Grammar (also in the header of config/policy/nmg-2020.toml):

    expr       := conj ("or" conj)*
    conj       := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | "@" condition | comparison
    comparison := name [op operand | "is" ["not"] "null"]      (bare name: yes/no field is yes)
    op         := == | != | >= | > | <= | < | in | not in | contains | contains_any
    operand    := name | term (("+" | "-") term)*
    term       := integer | 'text' | true | false | $parameter | "[" [term ("," term)*] "]"

Null answers (for example "no skill qualification") make every comparison false except
`!=`, `not in` and `is null`; comparing two names is false when either is null.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PolicyError


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks an unanswered field (distinct from None, which is the answer "null")."""

Context = tuple  # (target level | None | MISSING, field to ask for the target, path code)
NO_CONTEXT: Context = (MISSING, None, None)

Value = Callable[[Mapping, Context], "bool | None"]
Need = Callable[[Mapping, Context], "str | None"]


@dataclass(frozen=True, slots=True)
class Kind:
    """What the compiler knows about a name a test may read."""

    kind: str  # enum | bool | int | multi
    choices: tuple = ()  # allowed values; low to high when ordered
    ordered: bool = False
    nullable: bool = False
    at_most: tuple[str, ...] = ()  # fields bounding this count, tightest first


@dataclass(frozen=True, slots=True)
class Fact:
    """A name computed from the answers or the path under evaluation (e.g. `target`)."""

    kind: Kind
    get: Callable[[Mapping, Context], Any]
    need: Need
    uses_context: bool
    src: Callable[[Gen], str] | None = None  # its value as a Python expression (see Gen)


@dataclass(frozen=True, slots=True)
class Derived:
    """The highest of several ordered answers after mapping (education or equivalent)."""

    base: str
    others: Mapping[str, Mapping[str, str]]  # field -> {its value -> base value}


@dataclass(frozen=True, slots=True)
class Test:
    """A compiled test: call `value(answers, ctx)`; if None, `need(...)` says what to ask."""

    value: Value
    need: Need
    fields: frozenset = field(default_factory=frozenset)  # names read: answers and facts
    uses_context: bool = False
    op: str = ""  # "and" / "or" for a combination (its parts may be spliced into another)
    parts: tuple = ()
    src: Callable[[Gen], str] | None = None  # `value` as one Python expression (see Gen)
    ref_value: Value | None = None  # after `flatten`: the closure tree it replaced
    need_src: Callable[[Gen], str] | None = None  # `need` as one Python expression
    ref_need: Need | None = None  # after `flatten`: the closure tree it replaced


ALWAYS = Test(lambda a, c: True, lambda a, c: None, src=lambda g: "True",
              need_src=lambda g: "None")

# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<str>'[^']*')|(?P<param>\$[a-z_][a-z0-9_]*)"
    r"|(?P<ref>@[a-z_][a-z0-9_]*)|(?P<name>[a-z_][a-z0-9_]*)"
    r"|(?P<op>>=|<=|==|!=|>|<|\(|\)|\[|\]|,|\+|-))"
)
_COMPARE = ("==", "!=", ">=", ">", "<=", "<")
_KEYWORDS = {"and", "or", "not", "in", "contains", "contains_any", "is", "null", "true", "false"}


class _Syntax(Exception):
    pass


def _tokenize(source: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise _Syntax(f"cannot read {source[pos:pos + 12]!r}")
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        tokens.append((kind, text))
        pos = m.end()
    tokens.append(("end", ""))
    return tokens


class _Parser:
    def __init__(self, source: str, params: Mapping[str, Any]):
        self.tokens = _tokenize(source)
        self.i = 0
        self.params = params

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.tokens[self.i]
        if text is not None and tok[1] != text:
            raise _Syntax(f"expected {text!r}, found {tok[1] or 'end'!r}")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise _Syntax(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self):
        parts = [self.conj()]
        while self.peek() == ("kw", "or"):
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conj(self):
        parts = [self.unary()]
        while self.peek() == ("kw", "and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def unary(self):
        kind, text = self.peek()
        if (kind, text) == ("kw", "not"):
            self.take()
            return ("not", self.unary())
        if text == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        if kind == "ref":
            self.take()
            return ("ref", text[1:])
        if kind == "name":
            return self.comparison()
        raise _Syntax(f"unexpected {text or 'end'!r}")

    def comparison(self):
        name = self.take()[1]
        kind, text = self.peek()
        if text in _COMPARE:
            self.take()
            return ("cmp", name, text, self.operand())
        if (kind, text) == ("kw", "in"):
            self.take()
            return ("cmp", name, "in", self.operand())
        if (kind, text) == ("kw", "not") and self.tokens[self.i + 1] == ("kw", "in"):
            self.take()
            self.take()
            return ("cmp", name, "not in", self.operand())
        if (kind, text) in (("kw", "contains"), ("kw", "contains_any")):
            self.take()
            return ("cmp", name, text, self.operand())
        if (kind, text) == ("kw", "is"):
            self.take()
            negate = self.peek() == ("kw", "not")
            if negate:
                self.take()
            self.take("null")
            return ("cmp", name, "is not null" if negate else "is null", None)
        return ("cmp", name, "truthy", None)

    def operand(self):
        if self.peek()[0] == "name":
            return ("name", self.take()[1])
        value = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right = self.term()
            value = _arith(value, op, right)
        return ("const", value)

    def term(self):
        kind, text = self.take()
        if kind == "num":
            return int(text)
        if kind == "str":
            return text[1:-1]
        if kind == "kw" and text in ("true", "false"):
            return text == "true"
        if kind == "param":
            if text[1:] not in self.params:
                raise _Syntax(f"unknown parameter {text}")
            value = self.params[text[1:]]
            return list(value) if isinstance(value, list | tuple) else value
        if text == "[":
            items = []
            if self.peek()[1] != "]":
                items.append(self.term())
                while self.peek()[1] == ",":
                    self.take()
                    items.append(self.term())
            self.take("]")
            return items
        raise _Syntax(f"expected a value, found {text or 'end'!r}")


def _arith(left, op, right):
    if isinstance(left, bool) or isinstance(right, bool):
        raise _Syntax("arithmetic on yes/no values")
    if isinstance(left, int) and isinstance(right, int):
        return left + right if op == "+" else left - right
    if op == "+" and isinstance(left, list) and isinstance(right, list):
        return left + right
    raise _Syntax(f"cannot compute {left!r} {op} {right!r}")


# ---------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------


class Compiler:
    """Turns test strings into `Test`s against one policy's names and parameters."""

    def __init__(
        self,
        kinds: Mapping[str, Kind],
        params: Mapping[str, Any],
        conditions: Mapping[str, str],
        facts: Mapping[str, Fact] | None = None,
        derived: Mapping[str, Derived] | None = None,
    ):
        self.kinds = kinds
        self.params = params
        self.condition_sources = conditions
        self.facts = facts or {}
        self.derived = derived or {}
        self._conditions: dict[str, Test] = {}
        self._compiling: list[str] = []
        self.referenced: set[str] = set()  # conditions named with @ in some test

    def compile(self, source: str, where: str, *, allow_context: bool = True) -> Test:
        """Compile `source`; `where` names the rule in error messages."""
        if not isinstance(source, str) or not source.strip():
            raise PolicyError(f"{where}: a test must be a non-empty string")
        try:
            test = self._node(_Parser(source, self.params).parse())
        except _Syntax as exc:
            raise PolicyError(f"{where}: {exc} (in {source!r})") from None
        if test.uses_context and not allow_context:
            raise PolicyError(f"{where}: this test cannot read target or path (in {source!r})")
        return test

    def condition(self, name: str) -> Test:
        """The compiled test of a named condition (memoized; cycles are an error)."""
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.condition_sources:
            raise _Syntax(f"unknown condition @{name}")
        if name in self._compiling:
            raise _Syntax(f"condition @{name} refers to itself")
        self._compiling.append(name)
        try:
            test = self.compile(self.condition_sources[name], f"conditions.{name}")
        finally:
            self._compiling.pop()
        self._conditions[name] = test
        return test

    # -- nodes ---------------------------------------------------------------------------

    def _node(self, node) -> Test:
        tag = node[0]
        if tag in ("and", "or"):
            return combine(tag, [self._node(n) for n in node[1]])
        if tag == "not":
            return _negate(self._node(node[1]))
        if tag == "ref":
            self.referenced.add(node[1])
            return self.condition(node[1])
        _, name, op, operand = node
        if name in self.derived:
            return self._derived(name, op, operand)
        return self._compare(name, op, operand)

    def _lookup(self, name: str) -> tuple[Kind, Fact | None]:
        if name in self.kinds:
            return self.kinds[name], None
        if name in self.facts:
            return self.facts[name].kind, self.facts[name]
        raise _Syntax(f"unknown name {name!r}")

    def _compare(self, name: str, op: str, operand) -> Test:
        kind, fact = self._lookup(name)
        fields = frozenset([name])
        uses_context = bool(fact and fact.uses_context)
        if operand is not None and operand[0] == "name":
            return self._compare_names(name, op, operand[1])
        const = operand[1] if operand is not None else None

        if op in ("is null", "is not null"):
            if not kind.nullable:
                raise _Syntax(f"{name} cannot be null")
            return _build(name, fact, fields, uses_context, _is_null(op == "is null"))
        if kind.kind == "multi":
            if op == "contains":
                self._check_choice(name, kind, const)
                return _build(name, fact, fields, uses_context, _contains(const))
            if op == "contains_any":
                values = self._check_list(name, kind, const)
                return _build(name, fact, fields, uses_context, _contains_any(frozenset(values)))
            raise _Syntax(f"{name} is a list: use contains or contains_any")
        if op in ("contains", "contains_any"):
            raise _Syntax(f"{name} is not a list")

        if op == "truthy":
            if kind.kind != "bool":
                raise _Syntax(f"{name} is not a yes/no answer; compare it to a value")
            return _build(name, fact, fields, uses_context, _member(frozenset([True]), False))

        if kind.kind == "int":
            if op in ("in", "not in"):
                values = const if isinstance(const, list) else None
                if values is None or not all(_is_int(v) for v in values):
                    raise _Syntax(f"{name} {op} needs a list of whole numbers")
                return _build(name, fact, fields, uses_context,
                              _member(frozenset(values), op == "not in"))
            if not _is_int(const):
                raise _Syntax(f"{name} {op} needs a whole number, got {const!r}")
            if op in ("==", "!="):
                return _build(name, fact, fields, uses_context,
                              _member(frozenset([const]), op == "!="))
            return _int_order(name, op, const, kind.at_most)

        if kind.kind == "bool":
            if op not in ("==", "!=") or not isinstance(const, bool):
                raise _Syntax(f"{name} is yes/no: compare with == true or == false")
            return _build(name, fact, fields, uses_context,
                          _member(frozenset([const]), op == "!="))

        # enum
        if op in ("in", "not in"):
            values = self._check_list(name, kind, const)
            return _build(name, fact, fields, uses_context,
                          _member(frozenset(values), op == "not in"))
        self._check_choice(name, kind, const)
        if op in ("==", "!="):
            return _build(name, fact, fields, uses_context,
                          _member(frozenset([const]), op == "!="))
        if not kind.ordered:
            raise _Syntax(f"{name} has no order; use == or in")
        rank = {v: i for i, v in enumerate(kind.choices)}
        keep = frozenset(v for v in kind.choices if _ORDER[op](rank[v], rank[const]))
        return _build(name, fact, fields, uses_context, _member(keep, False))

    def _compare_names(self, left: str, op: str, right: str) -> Test:
        lkind, lfact = self._lookup(left)
        rkind, rfact = self._lookup(right)
        if op not in _COMPARE:
            raise _Syntax(f"{op} cannot compare two names")
        longer, shorter = sorted((lkind.choices, rkind.choices), key=len, reverse=True)
        if not (lkind.ordered and rkind.ordered) or longer[len(longer) - len(shorter):] != shorter:
            raise _Syntax(f"{left} and {right} are not on one ordered scale")
        order = {v: i for i, v in enumerate(longer)}
        lget, lneed = _getter(left, lfact)
        rget, rneed = _getter(right, rfact)
        cmp = _ORDER[op]

        def value(a, ctx):
            lv = lget(a, ctx)
            rv = rget(a, ctx)
            if lv is None or rv is None:
                return False
            if lv is MISSING or rv is MISSING:
                return None
            return cmp(order[lv], order[rv])

        def need(a, ctx):
            return lneed(a, ctx) if lget(a, ctx) is MISSING else rneed(a, ctx)

        lsrc = (lambda g: g.read(left)) if lfact is None else _fact_src(lfact)
        rsrc = (lambda g: g.read(right)) if rfact is None else _fact_src(rfact)

        def need_src(g):
            x = g.tmp()
            return (f"({_need_of(g, left, lfact)} if ({x} := {lsrc(g)}) is M "
                    f"else {_need_of(g, right, rfact)})")

        def src(g):
            x, y, k = g.tmp(), g.tmp(), g.const(order)
            if g.complete:
                return (f"(False if (({x} := {lsrc(g)}) is None or ({y} := {rsrc(g)}) is None) "
                        f"else {k}[{x}] {op} {k}[{y}])")
            return (f"(False if (({x} := {lsrc(g)}) is None or ({y} := {rsrc(g)}) is None) "
                    f"else (None if ({x} is M or {y} is M) else {k}[{x}] {op} {k}[{y}]))")

        fields = frozenset([left, right])
        uses_context = any(f is not None and f.uses_context for f in (lfact, rfact))
        return Test(value, need, fields, uses_context, src=src, need_src=need_src)

    def _derived(self, name: str, op: str, operand) -> Test:
        spec = self.derived[name]
        kind = self.kinds[spec.base]
        if op not in (">=", ">") or operand is None or operand[0] != "const":
            raise _Syntax(f"{name} supports only >= and > against a value")
        const = operand[1]
        self._check_choice(name, kind, const)
        rank = {v: i for i, v in enumerate(kind.choices)}
        parts = [self._compare(spec.base, op, ("const", const))]
        for other, mapping in spec.others.items():
            hits = [v for v, base in mapping.items() if _ORDER[op](rank[base], rank[const])]
            if hits:
                parts.append(self._compare(other, "in", ("const", hits)))
        return combine("or", parts)

    def _check_choice(self, name: str, kind: Kind, value) -> None:
        if value not in kind.choices:
            raise _Syntax(f"{value!r} is not a value of {name}")

    def _check_list(self, name: str, kind: Kind, values) -> list:
        if not isinstance(values, list):
            raise _Syntax(f"{name}: expected a list of values")
        for v in values:
            self._check_choice(name, kind, v)
        return values


_ORDER = {
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    ">=": lambda x, y: x >= y,
    ">": lambda x, y: x > y,
    "<=": lambda x, y: x <= y,
    "<": lambda x, y: x < y,
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _getter(name: str, fact: Fact | None):
    if fact is not None:
        return fact.get, fact.need

    def get(a, ctx):
        return a.get(name, MISSING)

    def need(a, ctx):
        return name

    return get, need


# Predicates: given the answered value v (never MISSING), True or False.
def _member(values: frozenset, negate: bool):
    return ("member", values, negate)


def _contains(value):
    return ("contains", value, False)


def _contains_any(values: frozenset):
    return ("contains_any", values, False)


def _is_null(want_null: bool):
    return ("is_null", None, not want_null)


def _build(name: str, fact: Fact | None, fields, uses_context, pred) -> Test:
    """One closure per comparison, specialised on the operation; plus its source form."""
    tag, arg, negate = pred
    read = (lambda g: g.read(name)) if fact is None else _fact_src(fact)
    if tag == "member":
        op = "not in" if negate else "in"

        def src(g):
            if g.complete:
                return f"({read(g)} {op} {g.const(arg)})"
            t = g.tmp()
            return f"(None if ({t} := {read(g)}) is M else {t} {op} {g.const(arg)})"
    elif tag == "contains":
        def src(g):
            t = g.tmp()
            if g.complete:
                return f"(({t} := {read(g)}) is not None and {g.const(arg)} in {t})"
            return (f"(None if ({t} := {read(g)}) is M else "
                    f"({t} is not None and {g.const(arg)} in {t}))")
    elif tag == "contains_any":
        def src(g):
            t = g.tmp()
            if g.complete:
                return (f"(({t} := {read(g)}) is not None and "
                        f"not {g.const(arg)}.isdisjoint({t}))")
            return (f"(None if ({t} := {read(g)}) is M else "
                    f"({t} is not None and not {g.const(arg)}.isdisjoint({t})))")
    else:  # is_null
        is_ = "is not" if negate else "is"

        def src(g):
            if g.complete:
                return f"({read(g)} {is_} None)"
            t = g.tmp()
            return f"(None if ({t} := {read(g)}) is M else {t} {is_} None)"

    if fact is None:
        def need(a, ctx):
            return name

        if tag == "member" and not negate:
            def value(a, ctx):
                v = a.get(name, MISSING)
                return None if v is MISSING else v in arg
        elif tag == "member":
            def value(a, ctx):
                v = a.get(name, MISSING)
                return None if v is MISSING else v not in arg
        elif tag == "contains":
            def value(a, ctx):
                v = a.get(name, MISSING)
                return None if v is MISSING else (v is not None and arg in v)
        elif tag == "contains_any":
            def value(a, ctx):
                v = a.get(name, MISSING)
                return None if v is MISSING else (v is not None and not arg.isdisjoint(v))
        else:  # is_null
            def value(a, ctx):
                v = a.get(name, MISSING)
                return None if v is MISSING else (v is None) != negate
        return Test(value, need, fields, uses_context, src=src,
                    need_src=lambda g: repr(name))

    get = fact.get
    if tag == "member":
        def value(a, ctx):
            v = get(a, ctx)
            return None if v is MISSING else (v in arg) != negate
    elif tag == "is_null":
        def value(a, ctx):
            v = get(a, ctx)
            return None if v is MISSING else (v is None) != negate
    else:
        raise _Syntax(f"{name}: unsupported test")
    return Test(value, fact.need, fields, uses_context, src=src,
                need_src=lambda g: _need_of(g, name, fact))


def _need_of(g: Gen, name: str, fact: Fact | None) -> str:
    """The field to ask for `name` as an expression: the name itself for an answer, the
    fact's own `need` for a fact (the target's field, say)."""
    return repr(name) if fact is None else f"{g.const(fact.need)}(a, c)"


def _fact_src(fact: Fact) -> Callable[[Gen], str]:
    if fact.src is not None:
        return fact.src
    return lambda g: f"{g.const(fact.get)}(a, c)"


def _int_order(name: str, op: str, k: int, bounds: tuple[str, ...]) -> Test:
    """`count op k`. An unanswered count may still be decided by a known upper bound:
    township years can't reach 20 when county years (which include them) are 12."""
    cmp = _ORDER[op]
    if op in (">=", ">"):
        def infer(ub):  # the count is at most ub
            return None if cmp(ub, k) else False
    else:  # < or <=
        def infer(ub):
            return True if cmp(ub, k) else None

    def value(a, ctx):
        v = a.get(name, MISSING)
        if v is MISSING:
            for b in bounds:
                ub = a.get(b, MISSING)
                if ub is MISSING:
                    continue
                return None if ub is None else infer(ub)
            return None
        return v is not None and cmp(v, k)

    def need(a, ctx):
        return name

    def src(g):
        if g.complete:
            t = g.tmp()
            return f"(({t} := {g.read(name)}) is not None and {t} {op} {k})"
        if op in (">=", ">"):
            def infer(u):
                return f"(None if {u} {op} {k} else False)"
        else:
            def infer(u):
                return f"(True if {u} {op} {k} else None)"
        rest = "None"
        for b in reversed(bounds):
            u = g.tmp()
            rest = (f"((None if {u} is None else {infer(u)}) "
                    f"if ({u} := {g.read(b)}) is not M else {rest})")
        t = g.tmp()
        return (f"(({t} is not None and {t} {op} {k}) "
                f"if ({t} := {g.read(name)}) is not M else {rest})")

    return Test(value, need, frozenset([name]), False, src=src,
                need_src=lambda g: repr(name))


def combine(tag: str, tests: list[Test]) -> Test:
    # Splice nested parts of the same kind (`a and (b and c)`, or through @refs): same
    # answer and same first-unknown order, one call level less on the hot path.
    flat: list[Test] = []
    for t in tests:
        flat.extend(t.parts if t.op == tag else (t,))
    tests = flat
    if len(tests) == 1:
        return tests[0]
    stop = tag == "or"  # `or` stops at True, `and` at False
    start = not stop  # and: True until a part is unknown; or: False
    if len(tests) == 2:
        f1, f2 = (t.value for t in tests)

        def value(a, ctx):
            r1 = f1(a, ctx)
            if r1 is stop:
                return stop
            r2 = f2(a, ctx)
            if r2 is stop:
                return stop
            return None if (r1 is None or r2 is None) else start
    elif len(tests) == 3:
        f1, f2, f3 = (t.value for t in tests)

        def value(a, ctx):
            r1 = f1(a, ctx)
            if r1 is stop:
                return stop
            r2 = f2(a, ctx)
            if r2 is stop:
                return stop
            r3 = f3(a, ctx)
            if r3 is stop:
                return stop
            return None if (r1 is None or r2 is None or r3 is None) else start
    else:
        fns = tuple(t.value for t in tests)

        def value(a, ctx):
            result = start
            for f in fns:
                r = f(a, ctx)
                if r is stop:
                    return stop
                if r is None:
                    result = None
            return result

    def need(a, ctx):
        for t in tests:
            if t.value(a, ctx) is None:
                return t.need(a, ctx)
        return None

    def src(g):
        if g.complete:  # two-valued: every part is True or False
            return "(" + f" {tag} ".join(t.src(g) for t in tests) + ")"
        names = [g.tmp() for _ in tests]
        first = " or ".join(f"({n} := {t.src(g)}) is {stop}"
                            for n, t in zip(names, tests, strict=True))
        unknown = " or ".join(f"{n} is None" for n in names)
        return f"({stop} if ({first}) else (None if ({unknown}) else {start}))"

    def need_src(g):
        # the need of the first part whose value is unknown, in the order written
        out = "None"
        for t in reversed(tests):
            out = f"({t.need_src(g)} if {t.src(g)} is None else {out})"
        return out

    return Test(
        value,
        need,
        frozenset().union(*(t.fields for t in tests)),
        any(t.uses_context for t in tests),
        tag,
        tuple(tests),
        src=src if all(t.src is not None for t in tests) else None,
        need_src=need_src if all(t.src is not None and t.need_src is not None
                                 for t in tests) else None,
    )


def _negate(test: Test) -> Test:
    f = test.value

    def value(a, ctx):
        r = f(a, ctx)
        return None if r is None else not r

    def src(g):
        if g.complete:
            return f"(not {test.src(g)})"
        t = g.tmp()
        return f"(None if ({t} := {test.src(g)}) is None else not {t})"

    return Test(value, test.need, test.fields, test.uses_context,
                src=src if test.src is not None else None, need_src=test.need_src)


# ---------------------------------------------------------------------------------------
# Flattening: one generated function per top-level test
# ---------------------------------------------------------------------------------------


class Gen:
    """Collects what one generated expression needs: constants and temporary names.

    A test's `src(gen)` returns its `value` as a single Python expression over `a` (the
    answers), `c` (the context) and `M` (MISSING), with the same three-valued result and
    the same short-circuits as the closure tree; temporaries are bound with `:=`.

    complete: the code is for answers that hold every field (and so a known target):
    nothing can be unknown, so `src` writes plain two-valued Python, without the MISSING
    checks, giving what `value` gives for such answers.
    """

    def __init__(self, hoist: bool = False, complete: bool = False) -> None:
        self.namespace: dict[str, Any] = {"M": MISSING}
        self._ids: dict[int, str] = {}
        self._n = 0
        self.hoist = hoist
        self.complete = complete
        # the context's target and path code as the generated code reads them (a path's
        # own code may write them as a local and a literal instead)
        self.ctx_target = "c[0]"
        self.ctx_path = "c[2]"
        self.hoisted: dict[str, str] = {}  # answer field -> local name read once at the top

    def read(self, field: str) -> str:
        """An answer (MISSING when unanswered): inline, or a local of the function when
        hoisting (a long generated function reads each field once, see `prologue`)."""
        if not self.hoist:
            return f"a.get({field!r}, M)"
        name = self.hoisted.get(field)
        if name is None:
            name = self.hoisted[field] = f"f_{field}"
        return name

    def prologue(self, indent: str = "    ") -> list[str]:
        if self.complete:  # every field is there
            return [f"{indent}{name} = a[{field!r}]" for field, name in self.hoisted.items()]
        return [f"{indent}{name} = a.get({field!r}, M)" for field, name in self.hoisted.items()]

    def const(self, value: Any) -> str:
        name = self._ids.get(id(value))
        if name is None:
            name = self._ids[id(value)] = f"k{len(self._ids)}"
            self.namespace[name] = value
        return name

    def tmp(self) -> str:
        self._n += 1
        return f"t{self._n}"


def flatten(test: Test) -> Test:
    """The same test, with `value` one generated function instead of a tree of closures,
    and `need` too.

    Why: a rule like "reviewed_level" is a dozen nested closures, and on the engine's hot
    path the calls between them cost more than the comparisons; `need` walked the same
    tree, evaluating each part again, for every question the engine ranks (partial
    answers). The generated functions give the same answers for every input
    (tests/eligibility/test_eligibility_flatten.py checks them against the closures, kept
    as `ref_value` and `ref_need`); a test without a source form is returned unchanged.
    """
    if test.src is None or test.ref_value is not None:
        return test
    g = Gen()
    try:
        code = f"def value(a, c):\n    return {test.src(g)}\n"
        if test.need_src is not None:
            code += f"def need(a, c):\n    return {test.need_src(g)}\n"
        exec(compile(code, f"<test {sorted(test.fields)}>", "exec"), g.namespace)  # noqa: S102
    except (SyntaxError, RecursionError, MemoryError):  # too deep to generate: keep closures
        return test
    need = g.namespace.get("need", test.need)
    return Test(g.namespace["value"], need, test.fields, test.uses_context, test.op,
                test.parts, test.src, test.value, test.need_src, test.need)
