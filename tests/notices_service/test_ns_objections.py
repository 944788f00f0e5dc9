"""Objections: filed in chat only while the publicity window is open (edges at 00:00 Beijing
time), stored with openid, time and a reference; HR lists, assigns and closes them, and the
applicant is told the outcome."""

from __future__ import annotations

import pytest

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from models import Objection
from tests.notices_service.kit import chat, publicity


async def make_publicity(service, **overrides) -> int:
    """2020-10-12 (Mon) .. 2020-10-16 (Fri): five working days, for baotou."""
    resp = await service.api("POST", "/notices", role="league_city_officer",
                             league_city="baotou",
                             json=publicity(league_cities=["baotou"], **overrides))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["notice"]["id"]


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ((2020, 10, 11, 23, 59, 59), False),
        ((2020, 10, 12, 0, 0, 0), True),
        ((2020, 10, 16, 23, 59, 59), True),
        ((2020, 10, 17, 0, 0, 0), False),
    ],
)
async def test_the_window_opens_and_closes_at_midnight_beijing_time(svc, moment, is_open):
    notice_id = await make_publicity(svc)
    svc.clock.set_local(*moment)
    reply = await chat(svc).say("o_obj_edge", f"异议 {notice_id}")
    if is_open:
        assert "请写明异议针对的对象或事项" in reply.content
    else:
        assert "公示期为 2020-10-12 至 2020-10-16" in reply.content
        assert "异议需在公示期内提出，现在无法受理" in reply.content


async def test_filing_an_objection_in_chat(svc):
    notice_id = await make_publicity(svc)
    svc.clock.set_local(2020, 10, 14, 10, 30)
    talk, me = chat(svc), "o_objector"
    reply = await talk.say(me, "异议")
    assert "正在公示的事项如下" in reply.content
    assert f"1 【公示{notice_id}】2020年度工程技术系列高级职称评审结果公示（公示至 10月16日）" \
        in reply.content
    reply = await talk.say(me, "1")
    assert "请写明异议针对的对象或事项" in reply.content
    reply = await talk.say(me, "第3名 张某某（某某设计院）")
    assert "异议的理由" in reply.content
    reply = await talk.say(me, "论文为他人代写，有聊天记录为证。")
    assert "联系方式" in reply.content
    reply = await talk.say(me, "13800001234")
    assert "已收到您的异议，受理编号：YY20201014-" in reply.content
    row = await Objection.get(openid=me)
    assert reply.content.split("受理编号：")[1].split("\n")[0] == row.reference
    assert (row.notice_id, row.item, row.contact, row.status) == (
        notice_id, "第3名 张某某（某某设计院）", "13800001234", "open")
    assert row.reason == "论文为他人代写，有聊天记录为证。"
    assert row.created_at is not None


async def test_a_conversation_that_runs_past_midnight_is_refused(svc):
    notice_id = await make_publicity(svc)
    svc.clock.set_local(2020, 10, 16, 23, 58)
    talk, me = chat(svc), "o_late"
    await talk.say(me, f"异议 {notice_id}")
    await talk.say(me, "张某某")
    await talk.say(me, "业绩造假")
    svc.clock.set_local(2020, 10, 17, 0, 0, 1)
    reply = await talk.say(me, "无")
    assert "异议需在公示期内提出" in reply.content
    assert not await Objection.filter(openid=me).exists()


async def test_nothing_open_and_unknown_numbers_are_answered_politely(svc):
    await make_publicity(svc)
    svc.clock.set_local(2020, 11, 1, 9)
    talk = chat(svc)
    assert "目前没有正在公示的事项" in (await talk.say("o_none", "异议")).content
    assert "没有找到编号为 999999 的公示" in (await talk.say("o_none", "异议 999999")).content
    general = await svc.api("POST", "/notices", json=publicity(kind="general"))
    general_id = (await general.json())["notice"]["id"]
    assert "没有找到编号为" in (await talk.say("o_none", f"异议 {general_id}")).content


async def test_objections_are_rate_limited_per_person(svc):
    talk = chat(svc)
    for _ in range(10):
        assert "异议较多" not in (await talk.say("o_spam", "异议")).content
    assert "异议较多" in (await talk.say("o_spam", "异议")).content


async def test_hr_lists_assigns_and_closes_and_the_applicant_is_told(svc):
    notice_id = await make_publicity(svc)
    svc.clock.set_local(2020, 10, 13, 15)
    talk, me = chat(svc), "o_told"
    for text in (f"异议 {notice_id}", "李某", "学历不符", "li@example.com"):
        await talk.say(me, text)
    row = await Objection.get(openid=me)

    own = dict(role="league_city_officer", league_city="baotou")
    other = dict(role="league_city_officer", league_city="chifeng")
    listed = await (await svc.api("GET", "/objections?status=open", **own)).json()
    (item,) = [o for o in listed["objections"] if o["id"] == row.id]
    assert item["contact"] == "li@********com" and item["notice_title"].startswith("2020年度")
    assert all(o["id"] != row.id
               for o in (await (await svc.api("GET", "/objections", **other)).json())
               ["objections"])
    assert (await svc.api("POST", f"/objections/{row.id}/close", json={"resolution": "x"},
                          **other)).status == 403

    resp = await svc.api("POST", f"/objections/{row.id}/assign", json={"assignee": "王科长"},
                         **own)
    assert (await resp.json())["objection"]["status"] == "assigned"
    resp = await svc.api("POST", f"/objections/{row.id}/close", json={"resolution": ""}, **own)
    assert resp.status == 422
    resp = await svc.api("POST", f"/objections/{row.id}/close",
                         json={"resolution": "经核实，学历证书真实有效，异议不成立。"}, **own)
    closed = (await resp.json())["objection"]
    assert closed["status"] == "closed" and closed["closed_by"] == "baotou经办人"
    progress = await svc.wait_sent(closed["reply_send_id"])
    assert progress["sent"] == 1
    (msg,) = await FakeWeChatControl(svc.client.session, svc.app[FAKE_BASE]).messages(me)
    assert msg["template_id"] == "dev-template-objection"
    assert msg["data"]["keyword1"]["value"] == row.reference
    assert msg["data"]["keyword2"]["value"] == "经核实，学历证书真实有效，异议不成立。"
    again = await svc.api("POST", f"/objections/{row.id}/close", json={"resolution": "再次"},
                          **own)
    assert again.status == 422 and "已办结" in (await again.text())

