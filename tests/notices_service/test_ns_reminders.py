"""Deadline reminders: 7 and 1 days before each deadline, to the subscribers it concerns,
once each even when the scheduler restarts or two schedulers run at once."""

from __future__ import annotations

import asyncio

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from handlers.notices_worker import reminders_once
from models import DeadlineEvent, NoticeDelivery, NoticeSend
from notices.payloads import Templates
from notices.reminder_jobs import run_due_reminders
from notices.schedule import Schedule
from tests.notices_service.kit import add_subscriber

TEMPLATES = Templates("n", "o", "d")


async def queued_keys() -> dict[str, set[str]]:
    sends = await NoticeSend.filter(purpose="reminder", dedup_key__startswith="nmg-2020:")
    out = {}
    for send in sends:
        out[send.dedup_key] = set(
            await NoticeDelivery.filter(send_id=send.id).values_list("openid", flat=True))
    return out


async def test_seven_and_one_day_reminders_once_each_across_restarts(svc):
    await add_subscriber("o_rem_a", "baotou", ["engineering"])
    await add_subscriber("o_rem_b", None, ["health"])
    svc.clock.set_local(2020, 6, 23, 8, 59)
    assert await reminders_once(svc.app) == 0
    svc.clock.set_local(2020, 6, 23, 9, 0)
    assert await reminders_once(svc.app) == 2
    assert await reminders_once(svc.app) == 0  # the same check again: nothing new
    # a restarted scheduler: fresh schedule data, same database
    again = await run_due_reminders(svc.clock(), schedule=Schedule(), policy="nmg-2020",
                                    templates=TEMPLATES, base_url="http://x")
    assert again == []
    svc.clock.set_local(2020, 6, 29, 9, 0)
    assert await reminders_once(svc.app) == 2
    keys = await queued_keys()
    both = {"o_rem_a", "o_rem_b"}
    assert keys == {
        "nmg-2020:application_complete:2020-06-30:7d@*": both,
        "nmg-2020:committee_refiling:2020-06-30:7d@*": both,
        "nmg-2020:application_complete:2020-06-30:1d@*": both,
        "nmg-2020:committee_refiling:2020-06-30:1d@*": both,
    }
    for send in await NoticeSend.filter(purpose="reminder"):
        await svc.wait_sent(send.id)
    messages = await FakeWeChatControl(svc.client.session, svc.app[FAKE_BASE]).messages(
        "o_rem_a")
    assert len(messages) == 4 and {m["kind"] for m in messages} == {"subscribe"}
    texts = sorted(m["data"]["thing3"]["value"] for m in messages)
    assert texts == sorted(["还有1天截止（二(六)3）", "还有1天截止（二(八)）",
                            "还有7天截止（二(六)3）", "还有7天截止（二(八)）"])


async def test_relative_deadlines_remind_the_series_whose_committee_set_the_date(svc):
    await add_subscriber("o_rem_health", "ordos", ["health"])
    await add_subscriber("o_rem_eng", "ordos", ["engineering"])
    await DeadlineEvent.create(policy="nmg-2020", code="review_start", series="health",
                               day="2020-09-20", set_by="test")
    svc.clock.set_local(2020, 9, 6, 9, 0)  # 7 days before 09-13 (a week before the review)
    assert await reminders_once(svc.app) == 1
    keys = await queued_keys()
    assert keys == {"nmg-2020:evaluation_plan_filed:2020-09-13:7d@health": {"o_rem_health"}}


async def test_two_schedulers_at_once_queue_each_reminder_once(svc):
    await add_subscriber("o_rem_race", "alxa", ["water"])
    svc.clock.set_local(2020, 12, 24, 9, 0)
    results = await asyncio.gather(*(
        run_due_reminders(svc.clock(), schedule=Schedule(), policy="nmg-2020",
                          templates=TEMPLATES, base_url="http://x")
        for _ in range(3)
    ))
    assert sum(len(r) for r in results) == 1
    assert list(await queued_keys()) == ["nmg-2020:approval_filing_complete:2020-12-31:7d@*"]
