"""A notice as an officer typed it, checked field by field before anything is stored.

Why one function for the API and the console: both send the same fields, and both must
refuse the same things with the same words: a review-result publicity shorter than five
working days (二(四)3), a window reaching into a year without holiday data, an empty scope.
Every problem is reported at once, each naming its field; a value of the wrong JSON type
(a list for `kind`, an infinite number of working days) is such a problem, never a 500.

Input (JSON, or the console form turned into the same shape):
    kind: "publicity" | "deadline" | "general"; title; body; department;
    league_cities / series: "all" or a list of codes (notices.targeting.parse_scope);
    publicity: publicity_start (YYYY-MM-DD) and either publicity_end or publicity_workdays
    (default 5); review_result (default true: the five-working-day minimum applies);
    deadline: deadline (YYYY-MM-DD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from notices.errors import FieldError, NoticeValidationError
from notices.publicity import (
    REVIEW_RESULT_MIN_WORKDAYS,
    PublicityWindow,
    validate_review_result_window,
    window_end,
)
from notices.targeting import NoticeScope, parse_scope
from notices.text import control_chars_message, has_control_chars
from notices.workdays import CalendarYearUnknown, WorkdayCalendar, default_calendar

KINDS: dict[str, str] = {"publicity": "公示", "deadline": "截止日期", "general": "通知"}
LIMITS = {"title": 120, "body": 5000, "department": 100}
LABELS = {"title": "标题", "body": "正文", "department": "发布单位"}
MULTILINE = frozenset({"body"})  # may hold line breaks and tabs (notices.text)
MAX_WORKDAYS = 60


@dataclass(frozen=True)
class NoticeDraft:
    kind: str
    title: str
    body: str
    department: str
    scope: NoticeScope
    window: PublicityWindow | None = None
    workdays: int | None = None  # working days in the window
    review_result: bool = False
    deadline: date | None = None
    provisional_calendar: bool = False  # the window uses holiday data marked provisional


def _text(raw: Mapping[str, object], field: str, errors: list[FieldError]) -> str:
    value = raw.get(field)
    label, multiline = LABELS[field], field in MULTILINE
    if value is not None and not isinstance(value, str):
        errors.append(FieldError(field, f"{label}应为文字。"))
        return ""
    text = (value or "").strip()
    if not text:
        errors.append(FieldError(field, f"请填写{label}。"))
    elif len(text) > LIMITS[field]:
        errors.append(FieldError(field, f"{label}不能超过 {LIMITS[field]} 个字。"))
    elif has_control_chars(text, multiline=multiline):
        errors.append(FieldError(field, control_chars_message(label, multiline=multiline)))
    return text


def _day(
    raw: Mapping[str, object], field: str, label: str, errors: list[FieldError]
) -> date | None:
    value = raw.get(field)
    if value in (None, ""):
        errors.append(FieldError(field, f"请填写{label}。"))
        return None
    try:
        if isinstance(value, datetime) or not isinstance(value, str | date):
            raise ValueError
        return value if isinstance(value, date) else date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(field, f"{label}应为 YYYY-MM-DD 格式的日期。"))
        return None


_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")


def _flag(
    raw: Mapping[str, object], field: str, label: str, default: bool, errors: list[FieldError]
) -> bool:
    """A yes/no field: JSON true/false (or 1/0), or a form's "on"/"true"/"1" and the like.
    Anything else is refused: a typo must not silently switch a rule off."""
    value = raw.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    errors.append(FieldError(field, f"{label}应填 true 或 false。"))
    return default


def _whole_number(value: object) -> int | None:
    """An integer from JSON or a form, or None for anything else: bool, a fraction, an
    infinite or NaN float (int() would raise OverflowError), a list, "5.0", "+5"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # False for inf and NaN
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
    return None


def unknown_year_error(field: str, exc: CalendarYearUnknown) -> FieldError:
    return FieldError(
        field,
        f"{exc.year} 年的法定节假日安排尚未录入，无法按工作日计算公示期；"
        "请联系系统管理员在 config/holidays/ 补充该年数据后再发布。",
    )


def _window(
    raw: Mapping[str, object], review_result: bool, cal: WorkdayCalendar, errors: list[FieldError]
) -> tuple[PublicityWindow | None, int | None]:
    start = _day(raw, "publicity_start", "公示开始日期", errors)
    has_end = raw.get("publicity_end") not in (None, "")
    end = _day(raw, "publicity_end", "公示结束日期", errors) if has_end else None
    workdays: int | None = None
    if not has_end:
        workdays = _whole_number(raw.get("publicity_workdays", REVIEW_RESULT_MIN_WORKDAYS))
        if workdays is None or not 1 <= workdays <= MAX_WORKDAYS:
            errors.append(
                FieldError("publicity_workdays", f"公示工作日数应为 1 到 {MAX_WORKDAYS} 的整数。")
            )
            return None, None
        if review_result and workdays < REVIEW_RESULT_MIN_WORKDAYS:
            errors.append(
                FieldError(
                    "publicity_workdays",
                    f"评审结果公示期不少于{REVIEW_RESULT_MIN_WORKDAYS}个工作日（二(四)3）。",
                )
            )
            return None, None
    if start is None or (has_end and end is None):
        return None, None
    try:
        if end is None:
            end = window_end(start, workdays or REVIEW_RESULT_MIN_WORKDAYS, calendar=cal)
        if review_result:
            window = validate_review_result_window(start, end, calendar=cal)
        elif end < start:
            errors.append(FieldError("publicity_end", "公示结束日期不能早于公示开始日期。"))
            return None, None
        else:
            window = PublicityWindow(start, end)
        return window, cal.workdays_between(window.start, window.end)
    except NoticeValidationError as exc:
        errors.extend(exc.errors)
    except CalendarYearUnknown as exc:
        field = "publicity_start" if exc.year == start.year else (
            "publicity_end" if has_end else "publicity_workdays"
        )
        errors.append(unknown_year_error(field, exc))
    return None, None


def parse_draft(
    raw: Mapping[str, object], *, calendar: WorkdayCalendar | None = None
) -> NoticeDraft:
    """The checked draft, or `NoticeValidationError` listing every refused field."""
    cal = calendar or default_calendar()
    errors: list[FieldError] = []
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # a list or dict is not hashable
        errors.append(FieldError("kind", "请选择通知类型：公示、截止日期或通知。"))
    title = _text(raw, "title", errors)
    body = _text(raw, "body", errors)
    department = _text(raw, "department", errors)
    scope: NoticeScope | None = None
    try:
        scope = parse_scope(raw)
    except NoticeValidationError as exc:
        errors.extend(exc.errors)
    window = workdays = deadline = None
    review_result = False
    if kind == "publicity":
        review_result = _flag(raw, "review_result", "是否为评审结果公示", True, errors)
        window, workdays = _window(raw, review_result, cal, errors)
    elif kind == "deadline":
        deadline = _day(raw, "deadline", "截止日期", errors)
    if errors:
        raise NoticeValidationError(*errors)
    assert scope is not None and isinstance(kind, str)
    provisional = window is not None and any(
        cal.arrangement(y).provisional for y in range(window.start.year, window.end.year + 1)
    )
    return NoticeDraft(
        kind=kind, title=title, body=body, department=department, scope=scope, window=window,
        workdays=workdays, review_result=review_result, deadline=deadline,
        provisional_calendar=provisional,
    )
