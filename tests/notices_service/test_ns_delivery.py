"""Broadcast delivery against the fake platform: who gets what, errcode handling (retry with
backoff, bounded; permanent codes never retried), ambiguous outcomes, takeover after a
lease expires, and unsubscribing before a message goes out."""

from __future__ import annotations

import asyncio

import pytest

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from models import NoticeDelivery, NoticeSubscription, WechatUser
from notices.delivery_store import DeliveryStore, Outcome
from notices.outbox import now_ms
from tests.notices_service.kit import add_subscriber, broadcast, publicity

TEMPLATE = "/cgi-bin/message/template/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/bizsend"


def fake(service) -> FakeWeChatControl:
    return FakeWeChatControl(service.client.session, service.app[FAKE_BASE])


async def one_subscriber(openid: str = "o_one") -> str:
    await add_subscriber(openid, "baotou", ["engineering"])
    return openid


async def delivery_of(send_id: int) -> NoticeDelivery:
    return await NoticeDelivery.get(send_id=send_id)


async def test_broadcast_reaches_each_subscriber_in_scope_exactly_once(svc):
    await add_subscriber("o_bt_eng", "baotou", ["engineering"])
    await add_subscriber("o_bt_health", "baotou", ["health"])
    await add_subscriber("o_cf_eng", "chifeng", ["engineering"])
    await add_subscriber("o_region_eng", None, ["engineering", "health"])
    await add_subscriber("o_bt_left", "baotou", ["engineering"], following=False)
    await NoticeSubscription.create(openid="o_bt_stopped", league_city="baotou",
                                    series=["engineering"], active=False)

    narrow = await broadcast(svc, publicity(league_cities=["baotou"], series=["engineering"]))
    wide = await broadcast(svc, publicity(title="全区卫生系列评审结果公示", series=["health"]))
    assert (await svc.wait_sent(narrow))["sent"] == 1
    assert (await svc.wait_sent(wide))["sent"] == 2

    platform = fake(svc)
    expected = {"o_bt_eng": 1, "o_bt_health": 1, "o_region_eng": 1, "o_cf_eng": 0,
                "o_bt_left": 0, "o_bt_stopped": 0}
    for openid, count in expected.items():
        assert len(await platform.messages(openid)) == count, openid
    (msg,) = await platform.messages("o_bt_eng")
    assert msg["kind"] == "template" and msg["template_id"] == "dev-template-notice"
    assert msg["data"]["first"]["value"].startswith("【公示】2020年度工程技术系列")
    assert "2020-10-12 至 2020-10-16（5个工作日）" in msg["data"]["keyword2"]["value"]
    assert msg["url"].startswith("http://testserver.local/n/")
    calls = await platform.calls(TEMPLATE)
    keys = [c["body"]["client_msg_id"] for c in calls]
    assert len(keys) == len(set(keys)) == 3  # one call per message: no retry, no duplicate


async def test_deadline_notice_goes_as_subscribe_notification(svc):
    openid = await one_subscriber()
    send_id = await broadcast(svc, {
        "kind": "deadline", "title": "包头市2020年度专业技术职称申报材料报送截止提醒",
        "body": "请于截止前报送。",
        "department": "包头市人社局", "league_cities": ["baotou"], "series": "all",
        "deadline": "2020-06-20"}, role="league_city_officer", league_city="baotou")
    await svc.wait_sent(send_id)
    (msg,) = await fake(svc).messages(openid)
    assert msg["kind"] == "subscribe" and msg["template_id"] == "dev-subscribe-deadline"
    assert msg["data"]["thing1"]["value"] == "包头市2020年度专业技术职称申报材料…"  # 20 chars
    assert msg["data"]["time2"]["value"] == "2020年6月20日"


async def test_transient_errors_are_retried_until_sent(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    for errcode in (45009, 45011, -1):
        await platform.inject(TEMPLATE, errcode=errcode)
    await platform.inject(TEMPLATE, status=502)
    send_id = await broadcast(quiet, publicity())
    await quiet.deliver()
    row = await delivery_of(send_id)
    assert (row.status, row.attempts) == ("sent", 5)
    assert [c["errcode"] for c in await platform.calls(TEMPLATE)] == [45009, 45011, -1, None, 0]
    assert len(await platform.messages(openid)) == 1


async def test_retries_are_bounded(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(TEMPLATE, errcode=45011, times=3)
    send_id = await broadcast(quiet, publicity())
    await quiet.deliver(delivery_max_attempts=3)
    row = await delivery_of(send_id)
    assert (row.status, row.errcode, row.attempts) == ("failed", 45011, 3)
    assert len(await platform.calls(TEMPLATE)) == 3
    assert await platform.messages(openid) == []


async def test_backoff_waits_before_the_next_attempt(quiet):
    await one_subscriber()
    await fake(quiet).inject(TEMPLATE, errcode=45011)
    send_id = await broadcast(quiet, publicity())
    before = now_ms()
    await quiet.worker(delivery_backoff_base=60, delivery_backoff_max=120).drain()
    row = await delivery_of(send_id)
    assert row.status == "pending" and row.errcode == 45011
    assert before + 30_000 <= row.due_ms <= now_ms() + 60_000  # half fixed, half jitter


@pytest.mark.parametrize("errcode", [43004, 43101, 40003])
async def test_permanent_errors_are_recorded_and_never_retried(quiet, errcode):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(TEMPLATE, errcode=errcode)
    send_id = await broadcast(quiet, publicity())
    await quiet.deliver()
    row = await delivery_of(send_id)
    assert (row.status, row.errcode, row.attempts) == ("failed", errcode, 1)
    assert len(await platform.calls(TEMPLATE)) == 1
    assert await platform.messages(openid) == []
    progress = (await (await quiet.api("GET", f"/sends/{send_id}")).json())["send"]["progress"]
    assert progress["failed"] == 1 and progress["failures"][0]["errcode"] == errcode


async def test_progress_counts_failures_by_errcode(svc):
    for openid in ("o_p1", "o_p2", "o_p3"):
        await add_subscriber(openid, "hohhot", ["accounting"])
    await fake(svc).add_user("o_p3", subscribe=0)  # left the account on the platform side
    send_id = await broadcast(svc, publicity())
    progress = await svc.wait_sent(send_id)
    assert (progress["total"], progress["sent"], progress["failed"]) == (3, 2, 1)
    assert progress["failures"] == [
        {"status": "failed", "errcode": 43004, "label": "用户未关注服务号", "count": 1}
    ]
    assert progress["percent"] == 100.0


async def test_a_timeout_is_resent_under_the_same_key_and_delivered_once(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(TEMPLATE, delay=0.6)  # the platform accepts it, but too late
    send_id = await broadcast(quiet, publicity())
    await quiet.deliver(wechat_api_timeout=0.3)
    await asyncio.sleep(0.5)  # let the slow first call finish on the platform
    row = await delivery_of(send_id)
    assert (row.status, row.attempts) == ("sent", 2)
    calls = await platform.calls(TEMPLATE)
    assert [c["body"]["client_msg_id"] for c in calls] == [row.key, row.key]
    assert len(await platform.messages(openid)) == 1
    assert (await platform.message_counts())[1] == 1  # the platform answered one from memory


async def test_hold_mode_marks_a_timeout_unknown_until_an_officer_resends(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(TEMPLATE, delay=0.6)
    send_id = await broadcast(quiet, publicity())
    await quiet.deliver(wechat_api_timeout=0.3, delivery_in_doubt="hold")
    row = await delivery_of(send_id)
    assert (row.status, row.errcode) == ("unknown", -1000)
    progress = (await (await quiet.api("GET", f"/sends/{send_id}")).json())["send"]["progress"]
    assert progress["unknown"] == 1 and progress["finished"]
    assert len(await platform.calls(TEMPLATE)) == 1
    resp = await quiet.api("POST", f"/sends/{send_id}/requeue-unknown")
    assert (await resp.json())["requeued"] == 1
    await quiet.deliver(delivery_in_doubt="hold")
    await asyncio.sleep(0.5)
    assert (await delivery_of(send_id)).status == "sent"
    assert len(await platform.messages(openid)) == 1  # the fake deduplicated the resend


async def _crash_after_sending(service, send_id: int | None, *, sent: int) -> list[int]:
    """A worker claims the rows (of `send_id`, or of every send), calls the platform for the
    first `sent` of them, and dies before recording anything (its 0.2 s lease runs out)."""
    store = DeliveryStore()
    claims = await store.claim("dead:1", 100, now_ms(), lease_ms=200)
    if send_id is not None:
        assert len(claims) == await NoticeDelivery.filter(send_id=send_id).count()
    worker = service.worker()
    for claim in claims[:sent]:
        worker._sends.update(await store.sends({claim.send_id}))
        outcome = await worker._deliver(claim)
        assert outcome.status == "sent"
    await asyncio.sleep(0.25)
    return [c.id for c in claims]


async def test_takeover_after_a_crash_sends_every_message_once(quiet):
    openids = [f"o_crash_{i}" for i in range(6)]
    for openid in openids:
        await add_subscriber(openid, "wuhai", ["audit"])
    send_id = await broadcast(quiet, publicity())
    await _crash_after_sending(quiet, send_id, sent=3)
    stats = await quiet.worker().drain()
    assert stats.taken_over == 6 and stats.sent == 6
    platform = fake(quiet)
    for openid in openids:
        assert len(await platform.messages(openid)) == 1, openid
    counts, replayed = await platform.message_counts()
    assert replayed == 3  # the three sent before the crash were answered from memory
    rows = await NoticeDelivery.filter(send_id=send_id)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 2)}


async def test_hold_mode_takeover_marks_in_doubt_rows_unknown(quiet):
    for openid in ("o_hold_1", "o_hold_2"):
        await add_subscriber(openid, "wuhai", ["audit"])
    send_id = await broadcast(quiet, publicity())
    await _crash_after_sending(quiet, send_id, sent=1)
    await quiet.worker(delivery_in_doubt="hold").drain()
    rows = await NoticeDelivery.filter(send_id=send_id)
    assert {r.status for r in rows} == {"unknown"}
    assert len(await fake(quiet).calls(TEMPLATE)) == 1  # nothing sent twice


async def test_an_expired_lease_cannot_overwrite_the_newer_outcome(quiet):
    await one_subscriber()
    send_id = await broadcast(quiet, publicity())
    store = DeliveryStore()
    (old,) = await store.claim("slow:1", 10, now_ms(), lease_ms=1)
    await asyncio.sleep(0.01)
    (new,) = await store.take_over("fast:1", 10, now_ms(), lease_ms=60_000)
    await store.finish([Outcome(new, "sent", errcode=0)])
    written = await store.finish([Outcome(old, "failed", errcode=45011)])
    assert written in (set(), None)  # None: SQLite cannot say
    row = await delivery_of(send_id)
    assert (row.status, row.errcode) == ("sent", 0)


async def test_unsubscribing_before_delivery_cancels_the_message(quiet):
    await add_subscriber("o_stays", "alxa", ["water"])
    await add_subscriber("o_leaves", "alxa", ["water"])
    await add_subscriber("o_unfollows", "alxa", ["water"])
    send_id = await broadcast(quiet, publicity())
    await NoticeSubscription.filter(openid="o_leaves").update(active=False)
    await WechatUser.filter(openid="o_unfollows").update(subscribed=False)
    await quiet.deliver()
    statuses = dict(await NoticeDelivery.filter(send_id=send_id).values_list("openid", "status"))
    assert statuses == {"o_stays": "sent", "o_leaves": "cancelled", "o_unfollows": "cancelled"}
    assert len(await fake(quiet).calls(TEMPLATE)) == 1


def deadline_notice() -> dict:
    return {"kind": "deadline", "title": "2020年度职称申报材料报送截止提醒",
            "body": "请于截止前报送。", "department": "自治区人社厅",
            "league_cities": "all", "series": "all", "deadline": "2020-06-30"}


async def test_template_sends_carry_the_row_key_and_bizsend_none(quiet):
    openid = await one_subscriber()
    notice_send = await broadcast(quiet, publicity())
    deadline_send = await broadcast(quiet, deadline_notice())
    await quiet.deliver()
    platform = fake(quiet)
    (template_call,) = await platform.calls(TEMPLATE)
    row = await delivery_of(notice_send)
    # Deterministic per delivery row: the same key on every attempt of this row.
    assert template_call["body"]["client_msg_id"] == row.key == f"s{notice_send}:{openid}"
    (subscribe_call,) = await platform.calls(SUBSCRIBE)
    assert "client_msg_id" not in subscribe_call["body"]  # bizsend documents no such field
    assert (await delivery_of(deadline_send)).status == "sent"


async def test_a_bizsend_timeout_is_held_not_resent_until_an_officer_resends(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(SUBSCRIBE, delay=0.6)  # accepted, but after our timeout
    send_id = await broadcast(quiet, deadline_notice())
    await quiet.deliver(wechat_api_timeout=0.3)  # DELIVERY_IN_DOUBT=auto, the default
    await asyncio.sleep(0.5)
    row = await delivery_of(send_id)
    assert (row.status, row.errcode, row.attempts) == ("unknown", -1000, 1)
    assert len(await platform.calls(SUBSCRIBE)) == 1
    assert len(await platform.messages(openid)) == 1  # it did arrive: no resend, no duplicate
    resp = await quiet.api("POST", f"/sends/{send_id}/requeue-unknown")
    assert (await resp.json())["requeued"] == 1
    await quiet.deliver()
    assert (await delivery_of(send_id)).status == "sent"
    # The officer's resend is the documented risk: bizsend has no key, so a message that
    # had in fact arrived arrives a second time (once more at most: the row is now sent).
    assert len(await platform.messages(openid)) == 2


async def test_resend_mode_resends_bizsend_and_may_duplicate(quiet):
    openid = await one_subscriber()
    platform = fake(quiet)
    await platform.inject(SUBSCRIBE, delay=0.6)
    send_id = await broadcast(quiet, deadline_notice())
    await quiet.deliver(wechat_api_timeout=0.3, delivery_in_doubt="resend")
    await asyncio.sleep(0.5)
    assert ((await delivery_of(send_id)).status, (await delivery_of(send_id)).attempts) == (
        "sent", 2)
    assert len(await platform.messages(openid)) == 2  # no loss, but a duplicate


async def test_after_a_crash_template_rows_are_resent_and_bizsend_rows_held(quiet):
    for openid in ("o_mix_1", "o_mix_2"):
        await add_subscriber(openid, "wuhai", ["audit"])
    notice_send = await broadcast(quiet, publicity())
    deadline_send = await broadcast(quiet, deadline_notice())
    claimed = await _crash_after_sending(quiet, None, sent=4)  # all called, none recorded
    assert len(claimed) == 4
    stats = await quiet.worker().drain()
    assert stats.taken_over == 2 and stats.sent == 2
    notice_rows = await NoticeDelivery.filter(send_id=notice_send)
    deadline_rows = await NoticeDelivery.filter(send_id=deadline_send)
    assert {(r.status, r.attempts) for r in notice_rows} == {("sent", 2)}
    assert {r.status for r in deadline_rows} == {"unknown"}
    platform = fake(quiet)
    assert len(await platform.calls(SUBSCRIBE)) == 2  # held: not called again
    for openid in ("o_mix_1", "o_mix_2"):
        kinds = sorted(m["kind"] for m in await platform.messages(openid))
        assert kinds == ["subscribe", "template"], openid  # once each, none twice
    progress = (await (await quiet.api("GET", f"/sends/{deadline_send}")).json())["send"]
    assert progress["progress"]["unknown"] == 2 and progress["progress"]["finished"]


async def test_the_send_and_its_rows_are_written_together_or_not_at_all(quiet, monkeypatch):
    from models import NoticeSend
    from notices import outbox

    original = NoticeDelivery.bulk_create
    calls = 0

    async def fail_on_the_second_chunk(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database went away mid-send")
        return await original(*args, **kwargs)

    monkeypatch.setattr(NoticeDelivery, "bulk_create", fail_on_the_second_chunk)
    sends_before = await NoticeSend.all().count()
    rows_before = await NoticeDelivery.all().count()
    openids = [f"o_atomic_{i}" for i in range(outbox.INSERT_CHUNK + 1)]
    with pytest.raises(RuntimeError):
        await outbox.create_send(purpose="notice", channel="template", payload={},
                                 openids=openids, created_by="test")
    assert calls == 2  # the first chunk was written inside the transaction...
    assert await NoticeSend.all().count() == sends_before  # ...and rolled back with the send
    assert await NoticeDelivery.all().count() == rows_before
