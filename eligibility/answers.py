"""Answer fields: validation (the contract's 422 list) and the question catalogue.

Why one module: the chat interview, the HTTP API and the engine must agree on what a
field means, which values it takes and how it is asked. All of it comes from one data
file (config/policy/answers.toml) so the three cannot drift apart.

Strict types on purpose: a bool must be a real bool (not 0/1) and a count a real int (not
a bool, not "5"), because a front end that sends the wrong type has a bug we want to see,
not silently absorb.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError
from .expressions import Kind

_TYPES = ("enum", "bool", "int", "year", "multi")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    choices: tuple[str, ...]
    labels: Mapping[str, str]
    ordered: bool
    nullable: bool
    minimum: int | None
    maximum: int | None
    at_most: str | None
    question: str
    help: str
    null_label: str

    def kind(self, chain: tuple[str, ...]) -> Kind:
        base = "int" if self.type in ("int", "year") else self.type
        return Kind(base, self.choices, self.ordered, self.nullable, chain)

    def label(self, value: Any) -> str:
        if value is None:
            return self.null_label or "无"
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, frozenset | list | tuple):
            return "、".join(self.labels.get(v, str(v)) for v in self._ordered(value)) or "无"
        return self.labels.get(value, str(value))

    def _ordered(self, values) -> list:
        return sorted(values, key=lambda v: self.choices.index(v) if v in self.choices else 0)


class AnswerSchema:
    """The validated field table of one policy (limits like $policy_year resolved)."""

    def __init__(self, raw: Mapping[str, Any], params: Mapping[str, Any], source: str):
        fields = raw.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise PolicyError(f"{source}: no [fields] table")
        self.fields: dict[str, FieldSpec] = {}
        for name, spec in fields.items():
            self.fields[name] = _field(name, spec, params, f"{source}: fields.{name}")
        for spec in self.fields.values():
            if spec.at_most and spec.at_most not in self.fields:
                raise PolicyError(f"{source}: fields.{spec.name}.at_most: unknown field")
        self.order = {name: i for i, name in enumerate(self.fields)}
        self._checks = {name: _checker(spec) for name, spec in self.fields.items()}
        self._multi = frozenset(n for n, spec in self.fields.items() if spec.type == "multi")
        self._bounds = tuple((n, spec.at_most) for n, spec in self.fields.items() if spec.at_most)
        # Fast path of validate: the values most answers have, accepted without a call.
        self._enums = {n: frozenset(spec.choices) for n, spec in self.fields.items()
                       if spec.type == "enum"}
        self._bools = frozenset(n for n, spec in self.fields.items() if spec.type == "bool")
        self._ranges = {n: (0 if spec.minimum is None else spec.minimum,
                            float("inf") if spec.maximum is None else spec.maximum)
                        for n, spec in self.fields.items() if spec.type in ("int", "year")}
        self._accept = _compile_accept(self)

    def chain(self, name: str) -> tuple[str, ...]:
        """Fields bounding `name` from above, tightest first (township <= county <= all)."""
        out, seen = [], {name}
        bound = self.fields[name].at_most
        while bound and bound not in seen:
            out.append(bound)
            seen.add(bound)
            bound = self.fields[bound].at_most
        return tuple(out)

    def kinds(self) -> dict[str, Kind]:
        return {name: spec.kind(self.chain(name)) for name, spec in self.fields.items()}

    # -- validation ----------------------------------------------------------------------

    def validate(self, answers: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Return (clean answers, errors). Clean answers hold lists as frozensets."""
        if answers.__class__ is dict:
            clean = self._accept(answers)
            if clean is not None:
                return clean, []
        return self.check(answers)

    def check(self, answers: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """`validate` the long way, answer by answer: it writes the error messages."""
        if not isinstance(answers, Mapping):
            return {}, [{"field": "answers", "message": "answers 必须是一个对象（字段名: 回答）"}]
        clean: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        checks = self._checks
        enums, bools, ranges = self._enums, self._bools, self._ranges
        for key, value in answers.items():
            # fast path: a str in its enum, a real bool, a real int within range
            cls = value.__class__
            if cls is str:
                allowed = enums.get(key)
                if allowed is not None and value in allowed:
                    clean[key] = value
                    continue
            elif cls is bool:
                if key in bools:
                    clean[key] = value
                    continue
            elif cls is int:
                bounds = ranges.get(key)
                if bounds is not None and bounds[0] <= value <= bounds[1]:
                    clean[key] = value
                    continue
            check = checks.get(key)  # keys that are not strings are not fields either
            if check is None:
                errors.append({"field": str(key), "message": f"未知字段：{key}"})
                continue
            message = check(value)
            if message:
                errors.append({"field": key, "message": message})
            else:
                clean[key] = value
        for key in self._multi:
            if key in clean:
                clean[key] = frozenset(clean[key])
        for name, bound in self._bounds:
            v, ub = clean.get(name), clean.get(bound)
            if v is not None and ub is not None and v > ub:
                errors.append({"field": name, "message": f"{name}（{v}）不能大于 {bound}（{ub}）"})
        return clean, errors

    # -- catalogue -------------------------------------------------------------------------

    def questions(self, fill) -> list[dict[str, Any]]:
        """The interview's questions in asking order; `fill` renders {param} in help."""
        out = []
        for spec in self.fields.values():
            q: dict[str, Any] = {
                "field": spec.name,
                "type": spec.type,
                "question": spec.question,
                "help": fill(spec.help) if spec.help else "",
                "nullable": spec.nullable,
            }
            if spec.choices:
                q["choices"] = [{"value": v, "label": spec.labels[v]} for v in spec.choices]
            if spec.nullable:
                q["null_label"] = spec.null_label
            if spec.type in ("int", "year"):
                q["min"], q["max"] = spec.minimum, spec.maximum
            out.append(q)
        return copy.deepcopy(out)


_MISSING = object()


def _compile_accept(schema: AnswerSchema):
    """Generate `accept(answers) -> clean answers | None` for a plain dict.

    Why: validation runs on every evaluation, and the loop in `validate` pays a dict
    lookup and several tests per answer. This straight-line function checks each field of
    the schema in place and copies the dict in one call; it answers None (and `validate`
    then does the full check, which writes the error messages) for anything it does not
    accept outright: an unknown field, a wrong type or value, a list that is not a list of
    known values, a count above its bound. It accepts exactly what `validate` accepts and
    returns the same clean answers (tests/eligibility/test_eligibility_properties.py).
    """
    ns: dict[str, Any] = {"M": _MISSING, "KEYS": frozenset(schema.fields),
                          "frozenset": frozenset}
    lines = ["def accept(answers):",
             "    if not KEYS.issuperset(answers):",
             "        return None",
             "    g = answers.get",
             "    try:"]
    multi = []
    for i, (name, spec) in enumerate(schema.fields.items()):
        v = f"v{i}"
        present = f"({v} := g({name!r}, M)) is not M"
        null_ok = f"{v} is not None and " if spec.nullable else ""
        if spec.type == "enum":
            ns[f"E{i}"] = frozenset(spec.choices)
            bad = f"{null_ok}({v}.__class__ is not str or {v} not in E{i})"
        elif spec.type == "bool":
            bad = f"{null_ok}{v} is not True and {v} is not False"
        elif spec.type in ("int", "year"):
            lo, hi = schema._ranges[name]
            within = f"{lo} <= {v}" if hi == float("inf") else f"{lo} <= {v} <= {hi}"
            bad = f"{null_ok}({v}.__class__ is not int or not {within})"
        else:  # multi: a list of known values (a tuple goes the long way)
            ns[f"E{i}"] = frozenset(spec.choices)
            bad = (f"{null_ok}({v}.__class__ is not list or not E{i}.issuperset({v}) "
                   f"or any(x.__class__ is not str for x in {v}))")
            multi.append((name, v))
        lines.append(f"        if {present} and ({bad}):")
        lines.append("            return None")
    lines.append("    except TypeError:  # an unhashable value: not one of ours")
    lines.append("        return None")
    for name, bound in schema._bounds:
        i, j = list(schema.fields).index(name), list(schema.fields).index(bound)
        lines.append(f"    if v{i} is not M and v{i} is not None and v{j} is not M "
                     f"and v{j} is not None and v{i} > v{j}:")
        lines.append("        return None")
    lines.append("    clean = answers.copy()")
    for name, v in multi:
        lines.append(f"    if {v} is not M and {v} is not None:")
        lines.append(f"        clean[{name!r}] = frozenset({v})")
    lines.append("    return clean")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<accept answers>", "exec"), ns)  # noqa: S102
    accept = ns["accept"]
    accept.source = source
    return accept


def _field(name: str, spec: Any, params: Mapping[str, Any], where: str) -> FieldSpec:
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{where}: must be a table")
    ftype = spec.get("type")
    if ftype not in _TYPES:
        raise PolicyError(f"{where}.type: must be one of {', '.join(_TYPES)}")
    choices, labels = [], {}
    for item in spec.get("choices", []):
        choices.append(item["value"])
        labels[item["value"]] = item["label"]
    if ftype in ("enum", "multi") and not choices:
        raise PolicyError(f"{where}: an enum needs choices")
    if not spec.get("question"):
        raise PolicyError(f"{where}: needs a question")
    if ftype == "year" and not ("min" in spec and "max" in spec):
        raise PolicyError(f"{where}: a year needs min and max")

    def limit(key: str) -> int | None:
        value = spec.get(key)
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in params:
                raise PolicyError(f"{where}.{key}: unknown parameter {value}")
            value = params[value[1:]]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise PolicyError(f"{where}.{key}: must be a whole number")
        return value

    return FieldSpec(
        name=name,
        type=ftype,
        choices=tuple(choices),
        labels=labels,
        ordered=bool(spec.get("ordered", False)),
        nullable=bool(spec.get("nullable", False)),
        minimum=limit("min"),
        maximum=limit("max"),
        at_most=spec.get("at_most"),
        question=spec["question"],
        help=spec.get("help", ""),
        null_label=spec.get("null_label", ""),
    )


def _checker(spec: FieldSpec):
    """A function value -> Chinese message for a bad value, or None when it is fine."""
    null_msg = None if spec.nullable else "不能为空（不知道可以不填这个字段）"
    t = spec.type
    if t == "bool":
        def check(v):
            if v is None:
                return null_msg
            return None if v is True or v is False else "类型错误：应为 true 或 false"
    elif t in ("int", "year"):
        lo, hi = spec.minimum, spec.maximum
        if t == "year":
            bad_range = f"年份应在 {lo} 到 {hi} 之间"
        else:
            lo = 0 if lo is None else lo

        def check(v):
            if v is None:
                return null_msg
            if v.__class__ is not int:
                return "类型错误：应为整数"
            if t == "year":
                return None if lo <= v <= hi else bad_range
            if v < lo:
                return "不能为负数" if v < 0 else f"不能小于 {lo}"
            if hi is not None and v > hi:
                return f"数值过大：不能超过 {hi}"
            return None
    elif t == "enum":
        allowed = spec.labels
        listing = "、".join(spec.choices)

        def check(v):
            if v is None:
                return null_msg
            if v.__class__ is not str:
                return "类型错误：应为字符串"
            return None if v in allowed else f"取值 {v!r} 不在允许范围内：{listing}"
    else:  # multi
        allowed = spec.labels
        listing = "、".join(spec.choices)

        def check(v):
            if v is None:
                return null_msg
            if not isinstance(v, list | tuple):
                return "类型错误：应为列表"
            for x in v:
                if x.__class__ is not str or x not in allowed:
                    return f"取值 {x!r} 不在允许范围内：{listing}"
            return None
    return check
