"""A notice as an officer typed it, checked field by field before anything is stored.

Why one function for the API and the console: both send the same fields, and both must
refuse the same things with the same words: a review-result publicity shorter than five
working days (二(四)3), a window reaching into a year without holiday data, an empty scope.
Every problem is reported at once, each naming its field.

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
from notices.workdays import CalendarYearUnknown, WorkdayCalendar, default_calendar

KINDS: dict[str, str] = {"publicity": "公示", "deadline": "截止日期", "general": "通知"}
LIMITS = {"title": 120, "body": 5000, "department": 100}
LABELS = {"title": "标题", "body": "正文", "department": "发布单位"}
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
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        errors.append(FieldError(field, f"请填写{LABELS[field]}。"))
    elif len(text) > LIMITS[field]:
        errors.append(FieldError(field, f"{LABELS[field]}不能超过 {LIMITS[field]} 个字。"))
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


def _flag(value: object, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.lower() in ("1", "true", "on", "yes")
    return bool(value)


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
        value = raw.get("publicity_workdays", REVIEW_RESULT_MIN_WORKDAYS)
        try:
            workdays = int(value)  # type: ignore[arg-type]
            if isinstance(value, bool) or not 1 <= workdays <= MAX_WORKDAYS:
                raise ValueError
        except (TypeError, ValueError):
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
    if kind not in KINDS:
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
        review_result = _flag(raw.get("review_result"), True)
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
