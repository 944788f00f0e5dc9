"""Properties of working-day arithmetic over every year with data."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notices.workdays import WorkdayCalendar

CALENDAR = WorkdayCalendar()
# Late enough starts would run past 2027 into a year without data.
starts = st.dates(min_value=date(2004, 1, 1), max_value=date(2027, 6, 30))
counts = st.integers(min_value=1, max_value=120)


@given(start=starts, n=counts)
def test_add_workdays_lands_on_a_workday_n_workdays_on(start, n):
    end = CALENDAR.add_workdays(start, n)
    assert CALENDAR.is_workday(end)
    assert CALENDAR.workdays_between(start, end) == n
    if end > start:
        assert CALENDAR.workdays_between(start, end - timedelta(days=1)) == n - 1


@given(start=starts, n=counts)
def test_add_workdays_is_monotonic_in_n(start, n):
    assert CALENDAR.add_workdays(start, n) < CALENDAR.add_workdays(start, n + 1)
