"""Which deadline reminders are due now, each with a key that is the same after a restart.

Why keys: the scheduler is a loop that may stop and start at any time; the delivery layer
stores each sent key under a unique constraint, and this module only ever proposes reminders
whose key is not stored yet. The key is derived from the inputs alone:

    f"{policy}:{deadline_code}:{due}:{offset}d"
    e.g. "nmg-2020:application_complete:2020-06-30:7d"

The due date is part of the key on purpose: if a deadline moves (a committee reschedules its
review, or the schedule file is corrected), the reminders for the new date are new reminders
and go out again; for unchanged inputs the key never changes. The key names a reminder, not
a recipient: a layer sending one reminder to many people stores (recipient, key).

Send time: `offset` days before the due date, at `send_time` (09:00 Asia/Shanghai).
A deadline ends at 24:00 of its due day.

Catch-up (the scheduler was down): a reminder whose send time has passed is still sent,
however late, as long as its deadline has not ended. If several reminders of one deadline
are due at once, only the latest (smallest offset) is sent; the earlier ones are superseded
for good, so a scheduler back from a week's outage sends "1 day left", not also "7 days left".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from notices.local_time import at_local, end_of_day, require_aware
from notices.schedule import Deadline

DEFAULT_SEND_TIME = time(9, 0)


@dataclass(frozen=True)
class Reminder:
    """One planned reminder of one deadline."""

    key: str
    deadline: Deadline
    offset_days: int
    send_at: datetime

    @property
    def text_zh(self) -> str:
        d = self.deadline
        left = "今天截止" if self.offset_days == 0 else f"还有 {self.offset_days} 天"
        due = d.due.isoformat()
        return f"【职称工作提醒】{d.title_zh}：截止 {due}（{left}），依据 {d.clause}。"


def reminder_key(deadline: Deadline, offset_days: int) -> str:
    return f"{deadline.policy}:{deadline.code}:{deadline.due.isoformat()}:{offset_days}d"


def planned_reminders(
    deadlines: Iterable[Deadline], *, send_time: time = DEFAULT_SEND_TIME
) -> list[Reminder]:
    """Every reminder of the deadlines, sent or not, in send order (duplicates dropped)."""
    by_key: dict[str, Reminder] = {}
    for deadline in deadlines:
        for offset in deadline.reminder_offsets_days:
            key = reminder_key(deadline, offset)
            send_at = at_local(deadline.due - timedelta(days=offset), send_time)
            by_key[key] = Reminder(key, deadline, offset, send_at)
    return sorted(by_key.values(), key=lambda r: (r.send_at, r.key))


def due_reminders(
    schedule_deadlines: Iterable[Deadline],
    now: datetime,
    already_sent: set[str],
    *,
    send_time: time = DEFAULT_SEND_TIME,
) -> list[Reminder]:
    """Reminders to send at `now` (aware): send time passed, deadline not ended, not sent,
    not superseded by a later reminder of the same deadline that is due too."""
    require_aware(now, "now")
    latest_due: dict[tuple[str, str, date], Reminder] = {}
    for reminder in planned_reminders(schedule_deadlines, send_time=send_time):
        d = reminder.deadline
        if reminder.send_at <= now < end_of_day(d.due):
            # planned_reminders is in send order, so the last one seen is the latest due.
            latest_due[(d.policy, d.code, d.due)] = reminder
    unsent = (r for r in latest_due.values() if r.key not in already_sent)
    return sorted(unsent, key=lambda r: (r.send_at, r.key))
