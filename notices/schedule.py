"""The policy year's deadlines, kept as data in `config/schedule/<policy>.json`.

Why data: each year's arrangement restates the same kinds of deadlines with new dates, so a
new policy year is a new file, not a code change. Each deadline keeps its clause and the
clause's words next to it, so an HR officer can check the data against the document.

Two kinds of deadline:

- absolute: a date in the text ("6月30日前完成组织申报", 二(八));
- relative: an offset from an event that each committee dates itself, e.g. the review
  ("在评审一周前……备案", 二(五)4). Offsets are calendar days or calendar months, counted as
  civil-law periods are (民法典 第二百零一、二百零二条): the event day itself is not counted,
  "一周内" ends 7 days after it, "一个月内" ends on the same day of the next month (or that
  month's last day). A due date falling on a holiday is *not* moved later (第二百零三条 would
  allow it): reminders err early.

A relative deadline whose event has no date yet is left out: it cannot be due before the
committee has set that date. The due date is the last day included.
"""

from __future__ import annotations

import calendar as month_calendar
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from notices.errors import FieldError, NoticeValidationError

DEFAULT_SCHEDULE_DIR = Path(__file__).resolve().parent.parent / "config" / "schedule"

# Who must act on a deadline; the delivery layer maps these to recipients.
AUDIENCES: dict[str, str] = {
    "league_city_hr": "各盟市人力资源社会保障部门",
    "review_committee": "各高评委会办事机构（含自主评审单位）",
    "committee_organizer": "评委会组建单位",
    "approved_candidate": "评审通过人员",
}


class UnknownPolicy(LookupError):
    """No schedule file for the policy asked for."""

    def __init__(self, policy: str, known: list[str]) -> None:
        self.policy = policy
        listed = "、".join(known) or "无"
        super().__init__(
            f"未找到政策 {policy!r} 的工作进度安排，请在 config/schedule/ 中补充。已有：{listed}。"
        )


class ScheduleDataError(ValueError):
    """A schedule file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Deadline:
    """One deadline of a policy year, dated. `due` is the last day included."""

    code: str
    title_zh: str
    due: date
    clause: str
    audience: tuple[str, ...]
    policy: str
    reminder_offsets_days: tuple[int, ...]


@dataclass(frozen=True)
class DueRule:
    """When a deadline falls: a fixed date, or an offset from a named event."""

    on: date | None = None
    event: str | None = None
    days: int = 0
    months: int = 0

    def resolve(self, events: dict[str, date]) -> date | None:
        if self.on is not None:
            return self.on
        anchor = events.get(self.event)
        if anchor is None:
            return None
        return add_months(anchor, self.months) + timedelta(days=self.days)


@dataclass(frozen=True)
class DeadlineRule:
    code: str
    title_zh: str
    clause: str
    audience: tuple[str, ...]
    due: DueRule
    reminder_offsets_days: tuple[int, ...]


@dataclass(frozen=True)
class PolicySchedule:
    policy: str
    title_zh: str
    events: dict[str, str]
    rules: tuple[DeadlineRule, ...]


def add_months(d: date, months: int) -> date:
    """Same day `months` later; the month's last day when that day does not exist."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    last = month_calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(d.day, last))


def load_schedule_file(path: Path) -> PolicySchedule:
    """Read and check one `<policy>.json`; errors name the file and the field, in Chinese."""
    name = path.name

    def fail(field: str, problem: str) -> ScheduleDataError:
        return ScheduleDataError(f"工作进度文件 {name} 的字段 {field} 有误：{problem}")

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScheduleDataError(f"工作进度文件 {name} 不是有效的 JSON：{exc}") from exc
    if not isinstance(raw, dict):
        raise fail("（顶层）", "应为 JSON 对象")
    policy = raw.get("policy")
    if policy != path.stem:
        raise fail("policy", f"应与文件名一致：{path.stem}")

    def offsets(value: object, field: str) -> tuple[int, ...]:
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
        )
        if not ok or len(set(value)) != len(value):
            raise fail(field, "应为不重复的非负整数天数列表，如 [7, 1]")
        return tuple(sorted(value, reverse=True))

    default_offsets = offsets(raw.get("reminder_offsets_days"), "reminder_offsets_days")
    events = raw.get("events", {})
    if not isinstance(events, dict) or not all(isinstance(v, str) for v in events.values()):
        raise fail("events", "应为 {事件代码: 中文名称}")

    def due_rule(value: object, field: str) -> DueRule:
        if not isinstance(value, dict):
            raise fail(field, '应为 {"date": …} 或 {"event": …, "days"/"months": …}')
        if "date" in value:
            if set(value) != {"date"}:
                raise fail(field, "绝对期限只写 date")
            try:
                return DueRule(on=date.fromisoformat(value["date"]))
            except (TypeError, ValueError):
                raise fail(f"{field}.date", f"{value['date']!r} 不是 YYYY-MM-DD 格式") from None
        event = value.get("event")
        if event not in events:
            raise fail(f"{field}.event", f"{event!r} 不在 events 中")
        amounts = {k: value[k] for k in ("days", "months") if k in value}
        if set(value) - {"event", "days", "months"} or not amounts:
            raise fail(field, "相对期限应写 event 和 days 或 months")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in amounts.values()):
            raise fail(field, "days、months 应为整数")
        return DueRule(event=event, **amounts)

    deadlines = raw.get("deadlines")
    if not isinstance(deadlines, list) or not deadlines:
        raise fail("deadlines", "应为期限列表")
    rules: list[DeadlineRule] = []
    for i, item in enumerate(deadlines):
        where = f"deadlines[{i}]"
        if not isinstance(item, dict):
            raise fail(where, "应为 JSON 对象")
        for key in ("code", "title_zh", "clause"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise fail(f"{where}.{key}", "不能为空")
        if any(r.code == item["code"] for r in rules):
            raise fail(f"{where}.code", f"{item['code']} 重复")
        audience = item.get("audience")
        if not isinstance(audience, list) or not audience or not set(audience) <= set(AUDIENCES):
            raise fail(f"{where}.audience", f"应为以下代码的列表：{'、'.join(AUDIENCES)}")
        rule_offsets = (
            offsets(item["reminder_offsets_days"], f"{where}.reminder_offsets_days")
            if "reminder_offsets_days" in item
            else default_offsets
        )
        rules.append(
            DeadlineRule(
                code=item["code"],
                title_zh=item["title_zh"],
                clause=item["clause"],
                audience=tuple(audience),
                due=due_rule(item.get("due"), f"{where}.due"),
                reminder_offsets_days=rule_offsets,
            )
        )
    return PolicySchedule(
        policy=policy, title_zh=str(raw.get("title_zh", policy)), events=events, rules=tuple(rules)
    )


class Schedule:
    """All policy schedules found in a directory, read once at construction."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        folder = Path(data_dir) if data_dir is not None else DEFAULT_SCHEDULE_DIR
        if not folder.is_dir():
            raise FileNotFoundError(f"schedule data directory not found: {folder}")
        loaded = (load_schedule_file(p) for p in sorted(folder.glob("*.json")))
        self._policies = {s.policy: s for s in loaded}

    def policies(self) -> list[str]:
        return sorted(self._policies)

    def policy(self, policy: str) -> PolicySchedule:
        try:
            return self._policies[policy]
        except KeyError:
            raise UnknownPolicy(policy, self.policies()) from None

    def deadlines(self, policy: str, events: dict[str, date] | None = None) -> list[Deadline]:
        """The policy's deadlines, dated, sorted by due date then code.

        `events` maps event codes of the schedule file (e.g. `review_start`) to their dates;
        an unknown code is refused (a typo would silently drop a deadline).
        """
        plan = self.policy(policy)
        events = events or {}
        known = "、".join(f"{code}（{label}）" for code, label in plan.events.items())
        errors: list[FieldError] = []
        for code, value in sorted(events.items()):
            if code not in plan.events:
                errors.append(FieldError(f"events.{code}", f"未知的事件 {code}，可用：{known}。"))
            elif isinstance(value, datetime) or not isinstance(value, date):
                errors.append(FieldError(f"events.{code}", f"{plan.events[code]}应为日期。"))
        if errors:
            raise NoticeValidationError(*errors)
        dated: list[Deadline] = []
        for rule in plan.rules:
            due = rule.due.resolve(events)
            if due is not None:
                dated.append(
                    Deadline(
                        code=rule.code,
                        title_zh=rule.title_zh,
                        due=due,
                        clause=rule.clause,
                        audience=rule.audience,
                        policy=plan.policy,
                        reminder_offsets_days=rule.reminder_offsets_days,
                    )
                )
        return sorted(dated, key=lambda d: (d.due, d.code))
