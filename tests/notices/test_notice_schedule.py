"""The nmg-2020 schedule: absolute and relative deadlines, and adding a year as data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from notices.errors import NoticeValidationError
from notices.schedule import (
    DEFAULT_SCHEDULE_DIR,
    Schedule,
    ScheduleDataError,
    UnknownPolicy,
    add_months,
)

D = date.fromisoformat


def test_deadlines_match_the_policy_table(schedule, nmg2020_cases):
    events = {k: D(v) for k, v in nmg2020_cases["events"].items()}
    got = [(d.code, d.due.isoformat(), d.clause) for d in schedule.deadlines("nmg-2020", events)]
    want = [(c["code"], c["due"], c["clause"]) for c in nmg2020_cases["expected"]]
    assert got == want


def test_without_events_only_the_absolute_deadlines_are_known(schedule):
    got = {(d.code, d.due) for d in schedule.deadlines("nmg-2020")}
    assert got == {
        ("committee_refiling", date(2020, 6, 30)),
        ("application_complete", date(2020, 6, 30)),
        ("review_and_publicity_complete", date(2020, 10, 30)),
        ("approval_filing_complete", date(2020, 12, 31)),
    }


def test_relative_deadline_needs_only_its_own_event(schedule):
    got = schedule.deadlines("nmg-2020", {"review_start": date(2020, 8, 3)})
    plan = [d for d in got if d.code == "evaluation_plan_filed"]
    assert [d.due for d in plan] == [date(2020, 7, 27)]
    assert "result_publicity_started" not in {d.code for d in got}


def test_deadline_carries_audience_policy_and_reminder_offsets(schedule):
    by_code = {d.code: d for d in schedule.deadlines("nmg-2020")}
    application = by_code["application_complete"]
    assert application.title_zh == "完成组织申报"
    assert application.audience == ("league_city_hr", "review_committee")
    assert application.policy == "nmg-2020"
    assert application.reminder_offsets_days == (7, 1)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2020, 12, 15), 1, date(2021, 1, 15)),
        (date(2021, 1, 31), 1, date(2021, 2, 28)),
        (date(2020, 1, 31), 1, date(2020, 2, 29)),
        (date(2020, 3, 31), -1, date(2020, 2, 29)),
        (date(2020, 8, 31), 1, date(2020, 9, 30)),
    ],
)
def test_one_month_ends_on_the_same_day_or_the_months_last_day(start, months, expected):
    assert add_months(start, months) == expected


def test_certificates_due_at_the_end_of_a_short_month(schedule):
    got = schedule.deadlines("nmg-2020", {"approval_document_issued": date(2021, 1, 31)})
    assert {d.code: d.due for d in got}["certificates_printed"] == date(2021, 2, 28)


def test_unknown_event_is_refused_naming_it(schedule):
    with pytest.raises(NoticeValidationError) as info:
        schedule.deadlines("nmg-2020", {"review_date": date(2020, 9, 20)})
    (error,) = info.value.errors
    assert error.field == "events.review_date"
    assert "review_start（评审开始日期）" in error.message


def test_unknown_policy_is_refused(schedule):
    with pytest.raises(UnknownPolicy) as info:
        schedule.deadlines("nmg-2021")
    assert "nmg-2021" in str(info.value)
    assert "config/schedule/" in str(info.value)
    assert "nmg-2020" in str(info.value)


def copy_policy(folder: Path, policy: str, edit=None) -> Path:
    raw = json.loads((DEFAULT_SCHEDULE_DIR / "nmg-2020.json").read_text(encoding="utf-8"))
    raw["policy"] = policy
    if edit:
        edit(raw)
    path = folder / f"{policy}.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_later_year_is_a_data_file(tmp_path):
    def move_to_2021(raw):
        for item in raw["deadlines"]:
            if "date" in item["due"]:
                item["due"]["date"] = item["due"]["date"].replace("2020", "2021")
        raw["reminder_offsets_days"] = [14, 3]

    copy_policy(tmp_path, "nmg-2021", move_to_2021)
    schedule = Schedule(tmp_path)
    assert schedule.policies() == ["nmg-2021"]
    first = schedule.deadlines("nmg-2021")[0]
    assert (first.policy, first.due, first.reminder_offsets_days) == (
        "nmg-2021",
        date(2021, 6, 30),
        (14, 3),
    )


def set_first(key, value):
    def edit(raw):
        raw["deadlines"][0][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "field_named"),
    [
        (set_first("audience", ["everyone"]), "deadlines[0].audience"),
        (set_first("due", {"event": "review_date", "days": -7}), "deadlines[0].due.event"),
        (set_first("due", {"date": "2020-06-31"}), "deadlines[0].due.date"),
        (set_first("due", {"event": "review_start"}), "deadlines[0].due"),
        (set_first("title_zh", ""), "deadlines[0].title_zh"),
        (set_first("reminder_offsets_days", [1, 1]), "deadlines[0].reminder_offsets_days"),
        (set_first("code", "application_complete"), "deadlines[1].code"),
    ],
)
def test_malformed_schedule_is_refused_naming_the_field(tmp_path, edit, field_named):
    copy_policy(tmp_path, "nmg-2020", edit)
    with pytest.raises(ScheduleDataError) as info:
        Schedule(tmp_path)
    assert f"字段 {field_named} " in str(info.value)


def test_policy_must_match_the_file_name(tmp_path):
    path = copy_policy(tmp_path, "nmg-2020")
    path.rename(tmp_path / "nmg-2022.json")
    with pytest.raises(ScheduleDataError, match="字段 policy"):
        Schedule(tmp_path)


def test_event_must_be_a_date(schedule):
    with pytest.raises(NoticeValidationError) as info:
        schedule.deadlines("nmg-2020", {"review_start": "2020-09-20"})
    assert info.value.as_dicts() == [
        {"field": "events.review_start", "message": "评审开始日期应为日期。"}
    ]
