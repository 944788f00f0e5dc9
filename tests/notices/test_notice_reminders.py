"""Deadline reminders: 7 and 1 days before, stable keys, no repeats, catch-up after downtime."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from notices.local_time import REGION_TZ
from notices.reminders import due_reminders, planned_reminders
from notices.schedule import Deadline, Schedule

EVENTS = {
    "review_start": date(2020, 9, 20),
    "review_end": date(2020, 9, 22),
    "approval_document_issued": date(2020, 12, 15),
}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=REGION_TZ)


def application(offsets=(7, 1), due=date(2020, 6, 30)) -> Deadline:
    return Deadline(
        code="application_complete",
        title_zh="完成组织申报",
        due=due,
        clause="二(八)",
        audience=("league_city_hr",),
        policy="nmg-2020",
        reminder_offsets_days=offsets,
    )


def keys(reminders) -> list[str]:
    return [r.key for r in reminders]


def test_reminders_go_out_7_and_1_days_before_at_nine():
    planned = planned_reminders([application()])
    assert [(r.key, r.send_at) for r in planned] == [
        ("nmg-2020:application_complete:2020-06-30:7d", local(2020, 6, 23, 9)),
        ("nmg-2020:application_complete:2020-06-30:1d", local(2020, 6, 29, 9)),
    ]
    assert "完成组织申报" in planned[0].text_zh and "还有 7 天" in planned[0].text_zh


def test_nothing_is_due_before_the_send_time():
    assert due_reminders([application()], local(2020, 6, 23, 8, 59, 59), set()) == []


def test_due_at_send_time_and_not_again_after_a_restart():
    deadlines = [application()]
    now = local(2020, 6, 23, 9)
    first = due_reminders(deadlines, now, set())
    assert keys(first) == ["nmg-2020:application_complete:2020-06-30:7d"]
    sent = set(keys(first))  # what the delivery layer stored
    # the scheduler restarts: fresh deadlines from the data files, same stored keys
    again = Schedule().deadlines("nmg-2020", EVENTS)
    assert [
        r
        for r in due_reminders(again, now + timedelta(minutes=5), sent)
        if r.deadline.code == "application_complete"
    ] == []


def test_keys_are_stable_and_unique_across_the_whole_schedule():
    one = planned_reminders(Schedule().deadlines("nmg-2020", EVENTS))
    two = planned_reminders(Schedule().deadlines("nmg-2020", dict(EVENTS)))
    assert keys(one) == keys(two)
    assert len(set(keys(one))) == len(one) == 16


def test_late_reminder_is_still_sent_while_the_deadline_is_open():
    got = due_reminders([application()], local(2020, 6, 26, 15), set())
    assert keys(got) == ["nmg-2020:application_complete:2020-06-30:7d"]


def test_after_a_long_outage_only_the_latest_reminder_is_sent():
    now = local(2020, 6, 29, 10)  # down since before 6/23: both 7d and 1d are overdue
    got = due_reminders([application()], now, set())
    assert keys(got) == ["nmg-2020:application_complete:2020-06-30:1d"]
    # and the superseded 7d one never comes back
    assert due_reminders([application()], now + timedelta(hours=1), set(keys(got))) == []


def test_nothing_is_sent_once_the_deadline_has_ended():
    assert keys(due_reminders([application()], local(2020, 6, 30, 23, 59, 59), set())) == [
        "nmg-2020:application_complete:2020-06-30:1d"
    ]
    assert due_reminders([application()], local(2020, 7, 1, 0, 0), set()) == []


def test_simulated_scheduler_with_restarts_sends_each_reminder_once():
    deadlines = Schedule().deadlines("nmg-2020", EVENTS)
    stored: list[str] = []
    now = local(2020, 6, 1)
    while now < local(2021, 2, 1):
        down = local(2020, 9, 1) <= now < local(2020, 9, 28, 12)  # outage over two deadlines
        if not down:
            stored += keys(due_reminders(deadlines, now, set(stored)))
        now += timedelta(hours=1)
    assert len(stored) == len(set(stored))
    # plan due 9/13 ended during the outage: both of its reminders are dropped
    assert not [k for k in stored if k.startswith("nmg-2020:evaluation_plan_filed:")]
    # publicity due 9/29 is still open after it: 7d (9/22) superseded by 1d (9/28), sent late
    assert "nmg-2020:result_publicity_started:2020-09-29:7d" not in stored
    assert "nmg-2020:result_publicity_started:2020-09-29:1d" in stored
    assert "nmg-2020:application_complete:2020-06-30:7d" in stored
    assert "nmg-2020:certificates_printed:2021-01-15:1d" in stored
    assert len(stored) == 16 - 3


def test_a_moved_deadline_gets_fresh_reminders():
    sent = {"nmg-2020:application_complete:2020-06-30:1d"}
    moved = application(due=date(2020, 7, 15))
    got = due_reminders([moved], local(2020, 7, 14, 9), sent)
    assert keys(got) == ["nmg-2020:application_complete:2020-07-15:1d"]


def test_offsets_and_send_time_are_configurable():
    got = planned_reminders([application(offsets=(3, 0))], send_time=time(8, 30))
    assert [(r.offset_days, r.send_at) for r in got] == [
        (3, local(2020, 6, 27, 8, 30)),
        (0, local(2020, 6, 30, 8, 30)),
    ]
    assert "今天截止" in got[1].text_zh


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        due_reminders([application()], datetime(2020, 6, 29, 10), set())
