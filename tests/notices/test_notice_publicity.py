"""Publicity windows: the 5-working-day minimum of 二(四)3 and the open/closed edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notices.errors import NoticeValidationError
from notices.local_time import REGION_TZ
from notices.publicity import (
    PublicityWindow,
    is_open,
    validate_review_result_window,
    window_end,
)
from notices.workdays import CalendarYearUnknown


def test_window_end_counts_working_days_across_national_day(calendar):
    # 9/28, 9/29, 9/30, 10/9 and the make-up Saturday 10/10
    assert window_end(date(2020, 9, 28), 5, calendar=calendar) == date(2020, 10, 10)
    assert window_end(date(2020, 9, 28), 5) == date(2020, 10, 10)  # default calendar


def test_exactly_five_working_days_is_accepted(calendar):
    window = validate_review_result_window(date(2020, 9, 28), date(2020, 10, 10), calendar=calendar)
    assert window == PublicityWindow(date(2020, 9, 28), date(2020, 10, 10))


def test_five_calendar_days_in_an_ordinary_week_are_accepted(calendar):
    validate_review_result_window(date(2020, 11, 2), date(2020, 11, 6), calendar=calendar)


def test_four_working_days_are_refused_naming_the_field(calendar):
    # Eleven calendar days, but only four are working days because of the holiday.
    with pytest.raises(NoticeValidationError) as info:
        validate_review_result_window(date(2020, 9, 28), date(2020, 10, 9), calendar=calendar)
    (error,) = info.value.errors
    assert error.field == "publicity_end"
    assert error.message.startswith("公示结束日期")
    for part in ("不少于5个工作日", "二(四)3", "只有 4 个工作日", "最早为 2020-10-10"):
        assert part in error.message
    assert info.value.as_dicts() == [{"field": "publicity_end", "message": error.message}]


def test_the_form_can_name_its_own_field(calendar):
    with pytest.raises(NoticeValidationError) as info:
        validate_review_result_window(
            date(2020, 11, 2), date(2020, 11, 5), calendar=calendar, end_field="end"
        )
    assert info.value.errors[0].field == "end"


def test_end_before_start_is_refused(calendar):
    with pytest.raises(NoticeValidationError) as info:
        validate_review_result_window(date(2020, 11, 6), date(2020, 11, 2), calendar=calendar)
    assert "不能早于公示开始日期" in info.value.errors[0].message


def test_window_in_a_year_without_holiday_data_is_refused(calendar):
    with pytest.raises(CalendarYearUnknown):
        validate_review_result_window(date(2028, 3, 1), date(2028, 3, 10), calendar=calendar)


WINDOW = PublicityWindow(date(2020, 9, 28), date(2020, 10, 10))


def local(*args) -> datetime:
    return datetime(*args, tzinfo=REGION_TZ)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2020, 9, 27, 23, 59, 59, 999999), False),
        (local(2020, 9, 28, 0, 0), True),
        (local(2020, 10, 1, 12, 0), True),  # holidays inside the window still count as open
        (local(2020, 10, 10, 23, 59, 59), True),
        (local(2020, 10, 10, 23, 59, 59, 999999), True),
        (local(2020, 10, 11, 0, 0), False),
        # the same edges seen from a server clock in UTC
        (datetime(2020, 9, 27, 15, 59, 59, tzinfo=UTC), False),
        (datetime(2020, 9, 27, 16, 0, tzinfo=UTC), True),
        (datetime(2020, 10, 10, 15, 59, 59, tzinfo=UTC), True),
        (datetime(2020, 10, 10, 16, 0, tzinfo=UTC), False),
    ],
)
def test_window_edges_in_asia_shanghai(at, expected):
    assert is_open(WINDOW, at) is expected


def test_edges_are_exposed_as_instants():
    assert WINDOW.opens_at == local(2020, 9, 28)
    assert WINDOW.closes_at == local(2020, 10, 11)
    assert WINDOW.closes_at - WINDOW.opens_at == timedelta(days=13)


def test_naive_instant_is_refused():
    with pytest.raises(ValueError):
        is_open(WINDOW, datetime(2020, 10, 1, 12, 0))
