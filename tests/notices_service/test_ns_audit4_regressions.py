"""Regressions from the delivery/reminder audit: each test failed on the old code.

- a subscriber of two series got the same deadline reminder twice (one send per series
  group dated by its committee);
- 退订 while a claimed message waited in the worker's queue did not stop it (the check ran
  only at claim time);
- progress showed 100.0 % while a message was still pending (rounding up).
"""

from __future__ import annotations

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from handlers.notices_worker import reminders_once
from models import DeadlineEvent, NoticeDelivery, NoticeSend
from notices.outbox import Progress
from tests.notices_service.kit import add_subscriber, broadcast, chat, publicity

TEMPLATE = "/cgi-bin/message/template/send"


async def test_regression_reminder_sent_twice_to_a_subscriber_of_two_series(svc):
    await add_subscriber("o_a4_two", "ordos", ["health", "engineering"])
    await add_subscriber("o_a4_eng", "ordos", ["engineering"])
    for series in ("health", "engineering"):
        await DeadlineEvent.create(policy="nmg-2020", code="review_start", series=series,
                                   day="2020-09-20", set_by="test")
    svc.clock.set_local(2020, 9, 6, 9, 0)  # 7 days before 09-13
    await reminders_once(svc.app)
    keys = await NoticeDelivery.filter(openid="o_a4_two").values_list(
        "send__dedup_key", flat=True)
    assert len(keys) == 1 and keys[0].startswith("nmg-2020:evaluation_plan_filed:2020-09-13:7d@")
    # the engineering-only subscriber still gets it once, whichever group queued first
    assert await NoticeDelivery.filter(openid="o_a4_eng").count() == 1
    # a second check (or a restarted scheduler) adds nothing
    assert await reminders_once(svc.app) == 0
    for send in await NoticeSend.filter(purpose="reminder"):
        await svc.wait_sent(send.id)
    platform = FakeWeChatControl(svc.client.session, svc.app[FAKE_BASE])
    assert len(await platform.messages("o_a4_two")) == 1


async def test_regression_message_sent_after_unsubscribe_while_queued(quiet, monkeypatch):
    """A claim that waited in the queue (behind the rate, for seconds: here the threshold
    is 0) is checked again right before its call."""
    monkeypatch.setattr("notices.delivery.RECHECK_AFTER_S", 0.0)
    await add_subscriber("o_a4_quits", "baotou", ["engineering"])
    send_id = await broadcast(quiet, publicity())
    worker = quiet.worker()
    assert await worker._claim(10) == 1  # claimed and checked: queued for sending
    reply = await chat(quiet).say("o_a4_quits", "退订")
    assert "已退订" in reply.content
    await worker.drain()
    row = await NoticeDelivery.get(send_id=send_id)
    assert row.status == "cancelled"
    platform = FakeWeChatControl(quiet.client.session, quiet.app[FAKE_BASE])
    assert await platform.calls(TEMPLATE) == []
    assert await platform.messages("o_a4_quits") == []


def test_regression_progress_showed_100_percent_before_finished():
    p = Progress(send_id=1, total=2000, sent=1999, pending=1)
    assert not p.finished and p.percent == 99.9
    assert Progress(send_id=1, total=3, sent=3).percent == 100.0
    assert Progress(send_id=1, total=3, sent=1).percent == 33.3


async def test_a_claim_sent_at_once_is_not_checked_twice(quiet, monkeypatch):
    """The second check is for claims that waited: one sent at once costs no extra query
    (it would be one per message on the delivery bench's path)."""
    await add_subscriber("o_a4_stays", "baotou", ["engineering"])
    send_id = await broadcast(quiet, publicity())
    worker = quiet.worker()
    checks = []
    real = worker.store.still_reachable

    async def counted(openids):
        checks.append(list(openids))
        return await real(openids)

    monkeypatch.setattr(worker.store, "still_reachable", counted)
    await worker.drain()
    assert checks == [["o_a4_stays"]]  # the claim-time check only
    assert (await NoticeDelivery.get(send_id=send_id)).status == "sent"


async def test_regression_a_requeued_row_kept_its_attempts_and_failed_on_one_error(quiet):
    """An officer's requeue of `unknown` rows starts a fresh series of attempts: the row
    kept its count (here the maximum), so one transient error failed it at once."""
    await add_subscriber("o_a4_requeue", "baotou", ["engineering"])
    send_id = await broadcast(quiet, publicity())
    row = await NoticeDelivery.get(send_id=send_id)
    await NoticeDelivery.filter(id=row.id).update(status="unknown", attempts=6)
    resp = await quiet.api("POST", f"/sends/{send_id}/requeue-unknown")
    assert (await resp.json())["requeued"] == 1
    platform = FakeWeChatControl(quiet.client.session, quiet.app[FAKE_BASE])
    await platform.inject(TEMPLATE, errcode=-1)  # one transient error (system busy)
    await quiet.deliver()
    assert (await NoticeDelivery.get(id=row.id)).status == "sent"
