"""Deadline reminders as outbox sends: 7 and 1 days before each deadline, once each.

Why the unique `dedup_key` on the send is the whole guarantee: the scheduler may run in
every server process and restart at any moment; each due reminder becomes one send whose
key is unique in the database, written in the same transaction as its delivery rows. A
second scheduler (or the same one after a restart) hits the constraint and moves on, so a
reminder is queued once, and the outbox sends each of its messages once.

Who gets what. Absolute deadlines of the policy year (二(八), 二(六)3) reach every active
subscriber. Relative deadlines (二(五)4, 二(五)7, 二(十)1) count from a committee's event
date, entered per series (or "*" for all series) as `DeadlineEvent` rows; their reminders
reach the subscribers of that series (all subscribers for "*"). Every deadline reminds
applicants, whoever must act (HR, committee): they follow their unit's progress; the text
names the deadline and its clause.

Reminder key stored: `notices.reminders.reminder_key` + "@" + the series group ("*" or a
code), e.g. "nmg-2020:application_complete:2020-06-30:7d@*".

One reminder per person: a subscriber of several series (or a "*" date and a series date
that agree) is reached by several groups for the same reminder key; the later groups'
sends leave out whoever an earlier send of that key already queued.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime

from tortoise.exceptions import IntegrityError

from models import DeadlineEvent, NoticeDelivery, NoticeSend
from notices import outbox
from notices.payloads import Templates, reminder_message
from notices.reminders import due_reminders
from notices.schedule import Deadline, Schedule
from notices.targeting import NoticeScope

log = logging.getLogger("notices.reminders")

ALL_SERIES = "*"


def _stored_key(key: str, group: str) -> str:
    return f"{key}@{group}"


def _reminder_of(stored_key: str) -> str:
    return stored_key.rsplit("@", 1)[0]


async def _already_reached(key: str, stored_keys: set[str]) -> set[str]:
    """Who a send of reminder `key` (in any series group) has queued already."""
    same = [k for k in stored_keys if _reminder_of(k) == key]
    if not same:
        return set()
    return set(await NoticeDelivery.filter(send__dedup_key__in=same).values_list(
        "openid", flat=True))


async def _groups(schedule: Schedule, policy: str) -> dict[str, list[Deadline]]:
    """Deadlines per series group: "*" holds the absolute ones and those dated for all."""
    absolute = schedule.deadlines(policy)
    absolute_codes = {d.code for d in absolute}
    events: dict[str, dict[str, date]] = defaultdict(dict)
    for row in await DeadlineEvent.filter(policy=policy):
        events[row.series][row.code] = row.day
    groups: dict[str, list[Deadline]] = {ALL_SERIES: list(absolute)}
    for series, dated in events.items():
        relative = [d for d in schedule.deadlines(policy, dated) if d.code not in absolute_codes]
        groups.setdefault(series, []).extend(relative)
    return groups


async def run_due_reminders(
    now: datetime, *, schedule: Schedule, policy: str, templates: Templates, base_url: str
) -> list[NoticeSend]:
    """Queue every reminder due at `now` that was not queued before; returns the new sends."""
    sent_keys = set(
        await NoticeSend.filter(dedup_key__startswith=f"{policy}:").values_list(
            "dedup_key", flat=True
        )
    )
    created: list[NoticeSend] = []
    for group, deadlines in (await _groups(schedule, policy)).items():
        suffix = f"@{group}"
        already = {k.removesuffix(suffix) for k in sent_keys if k.endswith(suffix)}
        scope = NoticeScope() if group == ALL_SERIES else NoticeScope(series=frozenset({group}))
        for reminder in due_reminders(deadlines, now, already):
            channel, payload = reminder_message(reminder, url=f"{base_url}/deadlines",
                                                templates=templates)
            reached = await _already_reached(reminder.key, sent_keys)
            openids = [o for o in await outbox.recipients(scope) if o not in reached]
            stored = _stored_key(reminder.key, group)
            try:
                send = await outbox.create_send(
                    purpose="reminder", channel=channel, payload=payload,
                    openids=openids, created_by="reminders", dedup_key=stored,
                )
            except IntegrityError:
                log.info("reminder already queued elsewhere", extra={"key": reminder.key})
                sent_keys.add(stored)
                continue
            sent_keys.add(stored)
            log.info("reminder queued", extra={"key": reminder.key, "group": group,
                                               "recipients": send.total})
            created.append(send)
    return created
