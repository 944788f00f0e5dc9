"""The Chinese explanation, built from a result's trace and the policy's templates.

Why from the trace: the text must say what the engine actually decided, for any
combination of answers, so it is assembled from the states of the conditions and the
wording stored next to each rule in the policy file, never written per case.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .expressions import MISSING
from .runs import run_clause, run_target

if TYPE_CHECKING:
    from .policy import Policy
    from .result import Result

_LEVEL_FIELDS = ("current_level", "target_level")
_MAX_QUESTIONS = 3
_MAX_REASONS = 6
_TEXT_CACHE_SIZE = 20_000


def date_text(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class _Fill(dict):
    """format_map context: parameters, labels of the answers, the path's target."""

    def __init__(self, policy: Policy, answers: Mapping[str, Any], target: Any,
                 target_names: Mapping[str, str] | None):
        super().__init__()
        self.policy = policy
        self.answers = answers
        self.target = target
        self.target_names = target_names or {}

    def __missing__(self, key: str) -> str:
        p = self.policy
        texts = p.texts
        if key == "target":
            t = self.target
            if t is MISSING:
                return texts["unanswered"]
            return texts["no_level"] if t is None else p.level_names.get(t, t)
        if key == "target_name":
            return self.target_names.get(self.target, "")
        if key in p.params:
            value = p.params[key]
            if isinstance(value, dt.date):
                return date_text(value)
            return str(value)
        spec = p.schema.fields[key]
        value = self.answers.get(key, MISSING)
        if value is MISSING:
            return texts["unanswered"]
        if key in _LEVEL_FIELDS:
            return p.level_names.get(value, value)
        return spec.label(value)


def fill(policy: Policy, template: str, answers: Mapping[str, Any], target: Any = MISSING,
         target_names: Mapping[str, str] | None = None) -> str:
    """Render one template of the policy file for these answers (and a path's target)."""
    if "{" not in template:
        return template
    static = policy.static_texts.get(template)
    if static is not None:
        return static
    fields = policy.template_fields.get(template)
    if fields is None:  # not a template of the policy file: render, don't cache
        return template.format_map(_Fill(policy, answers, target, target_names))
    # The same few texts come back for many applicants: cache by what the text reads.
    key = (template, target, id(target_names), *[answers.get(f, MISSING) for f in fields])
    cache = policy.text_cache
    text = cache.get(key)
    if text is None:
        if len(cache) >= _TEXT_CACHE_SIZE:
            cache.clear()
        text = cache[key] = template.format_map(_Fill(policy, answers, target, target_names))
    return text


def render_text(result: Result) -> str:
    """Plain, short Simplified Chinese for the applicant: conclusion, routes (target level
    and clause, why, what is still needed), requirements, notes, materials, key dates."""
    p, a, t = result.policy, result.answers, result.policy.texts
    lines = [f"《{p.title}》"]

    if result.blocked_by:
        lines.append(t["blocked"])
        lines += [f"原因：{fill(p, b.text, a)}（{b.clause}）" for b in result.blocked_by]
        return "\n".join(lines)

    if result.eligible:
        lines.append(t["eligible"])
    elif result.needs:
        lines.append(t["undecided"])
    else:
        lines.append(t["not_eligible"])
        lines.append(t["reasons"])
        lines += [f"- {reason}" for reason in _reasons(result)]

    if result.open_runs:
        lines.append(t["routes"])
        for i, r in enumerate(result.open_runs, 1):
            path, target = r[0], run_target(r, a)
            level = fill(p, "{target}", a, target)
            lines.append(f"{i}. 【{path.title}】申报{level}（{run_clause(r, a)}）")
            lines.append(f"   {fill(p, path.text, a, target, path.target_names)}")
            # from the trace: the conditions that held (all of them, the route is open)
            held_codes = {c.code for c, s in zip(path.checked_order, r[3], strict=False) if s}
            held = [fill(p, c.held, a, target) for c in path.conditions if c.code in held_codes]
            lines.append(f"   {t['because']}{'；'.join(held)}。")
            if path.provisos:
                provisos = "；".join(p.provisos[x] for x in path.provisos)
                lines.append(f"   {t['provided']}{provisos}。")

    if result.needs:
        if result.eligible:
            lines.append(t["open_but_pending"])
        else:
            lines.append(t["next_questions"])
        fields = p.schema.fields
        lines += [f"{i}. {fields[f].question}" for i, f in
                  enumerate(result.needs[:_MAX_QUESTIONS], 1)]

    if result.requirements:
        lines.append(t["requirements"])
        for req, rule in result.requirements:
            lines.append(f"- {req.label}：{req.values[rule.value]}（{rule.clause}）")

    if result.notes:
        lines.append(t["notes"])
        lines += [f"- {fill(p, n.text, a)}（{n.clause}）" for n in result.notes]

    if any(n.code == "materials_checklist" for n in result.notes):
        lines.append(t["materials"])
        for m in p.materials:
            extra = f"（{m['note']}）" if m.get("note") else ""
            lines.append(f"{m['no']}. {m['name']}{extra}")

    if result.open_runs and p.key_dates:
        lines.append(t["key_dates"])
        lines += [f"- {date_text(d)}：{label}（{clause}）" for d, label, clause in p.key_dates]
    return "\n".join(lines)


def _reasons(result: Result) -> list[str]:
    """The failed conditions of the closed paths, most common first, without repeats."""
    p, a = result.policy, result.answers
    counts: Counter[str] = Counter()
    for r in result.runs:
        path, target = r[0], run_target(r, a)
        for cond, state in zip(path.checked_order, r[3], strict=False):
            if state is False:
                counts[f"{fill(p, cond.failed, a, target)}（{cond.clause}）"] += 1
    return [reason for reason, _ in counts.most_common(_MAX_REASONS)]
