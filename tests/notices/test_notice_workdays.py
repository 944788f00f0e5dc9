"""Working days: package years, the 2027 data file, precedence, refusal of unknown years."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from notices.workdays import (
    CalendarYearUnknown,
    HolidayDataError,
    WorkdayCalendar,
    package_arrangements,
)

D = date.fromisoformat


def test_case_table_is_workday(calendar, workday_cases):
    wrong = [
        (c["date"], c["why"])
        for c in workday_cases["is_workday"]
        if calendar.is_workday(D(c["date"])) is not c["workday"]
    ]
    assert wrong == []


def test_case_table_add_workdays(calendar, workday_cases):
    for c in workday_cases["add_workdays"]:
        assert calendar.add_workdays(D(c["start"]), c["n"]) == D(c["expected"]), c["why"]


def test_case_table_workdays_between(calendar, workday_cases):
    for c in workday_cases["workdays_between"]:
        got = calendar.workdays_between(D(c["start"]), D(c["end"]))
        assert got == c["expected"], c["why"]


def test_2020_spring_festival_runs_to_2_february(calendar):
    holiday = [date(2020, 1, 24) + timedelta(days=k) for k in range(10)]
    assert holiday[-1] == date(2020, 2, 2)
    assert not any(calendar.is_workday(d) for d in holiday)
    assert calendar.is_workday(date(2020, 2, 3))


def test_2020_national_day_holiday_is_1_to_8_october(calendar):
    assert [calendar.is_workday(date(2020, 10, day)) for day in range(1, 9)] == [False] * 8


def test_make_up_saturday_counts_as_a_workday(calendar):
    saturday = date(2020, 10, 10)
    assert saturday.weekday() == 5
    assert calendar.is_workday(saturday)
    assert calendar.add_workdays(date(2020, 10, 9), 2) == saturday


def test_start_counts_only_when_it_is_a_workday(calendar):
    assert calendar.add_workdays(date(2020, 9, 30), 1) == date(2020, 9, 30)
    assert calendar.add_workdays(date(2020, 10, 3), 1) == date(2020, 10, 9)


def test_known_years_are_the_package_years_and_2027(calendar):
    years = calendar.known_years()
    assert years == list(range(2004, 2028))


def test_2027_comes_from_the_provisional_file(calendar):
    # If this fails after upgrading chinesecalendar, the package now knows 2027: the file is
    # ignored (no override) and should be deleted or marked override.
    assert 2027 not in package_arrangements()
    arrangement = calendar.arrangement(2027)
    assert arrangement.provisional
    assert "暂定" in arrangement.source
    assert calendar.arrangement(2026).source == "chinesecalendar"


def test_year_without_data_is_refused_with_the_chinese_message(calendar):
    with pytest.raises(CalendarYearUnknown) as info:
        calendar.is_workday(date(2028, 3, 1))
    assert str(info.value) == (
        "2028 年的节假日安排尚未录入，无法计算工作日，请先在 config/holidays/ 中补充。"
    )
    assert info.value.year == 2028


def test_counting_into_a_year_without_data_is_refused(calendar):
    with pytest.raises(CalendarYearUnknown):
        calendar.add_workdays(date(2027, 12, 20), 30)
    with pytest.raises(CalendarYearUnknown):
        calendar.workdays_between(date(2027, 12, 1), date(2028, 1, 10))
    with pytest.raises(CalendarYearUnknown):
        calendar.is_workday(date(2003, 12, 31))


def test_bad_arguments_are_refused(calendar):
    with pytest.raises(ValueError):
        calendar.add_workdays(date(2020, 1, 2), 0)
    with pytest.raises(ValueError):
        calendar.workdays_between(date(2020, 1, 2), date(2020, 1, 1))
    with pytest.raises(TypeError):
        calendar.is_workday(datetime(2020, 10, 10, 12))


# --- data files: precedence and validation -------------------------------------------------


def write_year(folder: Path, file_year: int, **fields) -> Path:
    year = file_year
    body = {
        "year": year,
        "source": "测试数据",
        "festivals": [{"name": "测试", "off": [f"{year}-02-24", f"{year}-02-24"]}],
    } | fields
    path = folder / f"{year}.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def test_file_for_a_package_year_is_ignored_without_override(tmp_path):
    write_year(tmp_path, 2026)
    assert WorkdayCalendar(tmp_path).is_workday(date(2026, 2, 24))


def test_file_with_override_replaces_the_package_year(tmp_path):
    write_year(tmp_path, 2026, override=True)
    cal = WorkdayCalendar(tmp_path)
    assert not cal.is_workday(date(2026, 2, 24))
    # whole-year replacement: the package's Spring Festival is gone from this calendar
    assert cal.is_workday(date(2026, 2, 16))
    assert cal.arrangement(2026).source == "测试数据"


def test_file_for_an_unknown_year_is_authoritative(tmp_path):
    write_year(tmp_path, 2030, festivals=[{"off": ["2030-02-26", "2030-02-26"]}])
    cal = WorkdayCalendar(tmp_path)
    assert 2030 in cal.known_years()
    assert not cal.is_workday(date(2030, 2, 26))  # a Tuesday off
    assert cal.is_workday(date(2030, 2, 25))
    assert 2027 not in cal.known_years()


@pytest.mark.parametrize(
    ("fields", "field_named"),
    [
        ({"year": 2031}, "year"),
        ({"source": ""}, "source"),
        ({"provisional": "yes"}, "provisional"),
        ({"festivals": [{"off": ["2029-02-24", "2030-01-01"]}]}, "festivals[0].off"),
        ({"festivals": [{"off": ["2030-02-24", "2030-02-20"]}]}, "festivals[0].off"),
        (
            {
                "festivals": [
                    {"off": ["2030-02-24", "2030-02-24"], "makeup_workdays": ["2030-02-25"]}
                ]
            },
            "festivals[0].makeup_workdays",
        ),
        (
            {
                "festivals": [
                    {"off": ["2030-02-23", "2030-02-24"], "makeup_workdays": ["2030-02-23"]}
                ]
            },
            "festivals",
        ),
    ],
)
def test_malformed_file_is_refused_naming_the_field(tmp_path, fields, field_named):
    write_year(tmp_path, 2030, **fields)
    with pytest.raises(HolidayDataError) as info:
        WorkdayCalendar(tmp_path)
    assert "2030.json" in str(info.value)
    assert f"字段 {field_named} " in str(info.value)


def test_missing_data_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        WorkdayCalendar(tmp_path / "nope")
