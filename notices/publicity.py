"""Publicity (公示) windows: their length in working days and when they are open.

Why: the policy makes publicity a condition of approval ("对未经公示的申报人员及评审结果，
人力资源社会保障部门一律不予核准备案", 二(四)), and the review-result publicity of the senior
review committees must last at least five working days (二(四)3). A window entered too
short is refused before the notice goes out, with the earliest valid end date in the message.

A window is the calendar days `start`..`end`, both included, in Asia/Shanghai: it opens at
`start` 00:00 and stays open up to and including `end` 23:59:59.999999, i.e. it is the
half-open interval [start 00:00, end+1 00:00). `is_open` needs an aware datetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from notices.errors import FieldError, NoticeValidationError
from notices.local_time import end_of_day, require_aware, start_of_day
from notices.workdays import WorkdayCalendar, default_calendar

REVIEW_RESULT_MIN_WORKDAYS = 5
REVIEW_RESULT_CLAUSE = "二(四)3"


@dataclass(frozen=True)
class PublicityWindow:
    """Publicity from `start` to `end`, both whole local days included."""

    start: date
    end: date

    @property
    def opens_at(self) -> datetime:
        return start_of_day(self.start)

    @property
    def closes_at(self) -> datetime:
        """The first instant at which the window is closed (00:00 after `end`)."""
        return end_of_day(self.end)


def window_end(start: date, workdays: int, *, calendar: WorkdayCalendar | None = None) -> date:
    """Last day of a window of `workdays` working days from `start` (counted if a workday)."""
    return (calendar or default_calendar()).add_workdays(start, workdays)


def is_open(window: PublicityWindow, at: datetime) -> bool:
    """Whether the publicity is running at instant `at` (aware; any zone)."""
    require_aware(at, "at")
    return window.opens_at <= at < window.closes_at


def validate_review_result_window(
    start: date,
    end: date,
    *,
    calendar: WorkdayCalendar | None = None,
    end_field: str = "publicity_end",
) -> PublicityWindow:
    """The window of a review-result publicity, or `NoticeValidationError` naming the field.

    Refused: an end before the start, or fewer than five working days (二(四)3). A year with
    no holiday data raises `CalendarYearUnknown` (its message asks for the data, which the
    officer cannot fix from the form).
    """
    if end < start:
        raise NoticeValidationError(
            FieldError(
                end_field,
                f"公示结束日期（{end.isoformat()}）不能早于公示开始日期（{start.isoformat()}）。",
            )
        )
    cal = calendar or default_calendar()
    counted = cal.workdays_between(start, end)
    if counted < REVIEW_RESULT_MIN_WORKDAYS:
        earliest = cal.add_workdays(start, REVIEW_RESULT_MIN_WORKDAYS)
        raise NoticeValidationError(
            FieldError(
                end_field,
                f"公示结束日期有误：评审结果公示期不少于{REVIEW_RESULT_MIN_WORKDAYS}个工作日"
                f"（{REVIEW_RESULT_CLAUSE}），{start.isoformat()} 至 {end.isoformat()} "
                f"只有 {counted} 个工作日，公示结束日期最早为 {earliest.isoformat()}。",
            )
        )
    return PublicityWindow(start, end)
