"""Chat: 订阅 with numbered choices, 我的订阅, 退订; leaving the account stops deliveries."""

from __future__ import annotations

from models import NoticeDelivery, NoticeSubscription, WechatUser
from tests.notices_service.kit import broadcast, chat, publicity


async def test_subscribe_by_numbers_then_show_and_unsubscribe(svc):
    sim, me = chat(svc), "o_chat_sub"
    reply = await sim.say(me, "订阅")
    assert "请选择您所在的盟市" in reply.content and "2 包头市" in reply.content
    assert "0 区直单位" in reply.content
    reply = await sim.say(me, "13")
    assert "没有找到这个盟市" in reply.content
    reply = await sim.say(me, "2")
    assert "请选择您的职称系列" in reply.content and "1 工程技术" in reply.content
    reply = await sim.say(me, "一和二")
    assert "请回复 1 到 27" in reply.content
    reply = await sim.say(me, "1，2 1")
    assert "订阅成功" in reply.content
    assert "盟市：包头市" in reply.content and "系列：工程技术、卫生" in reply.content
    row = await NoticeSubscription.get(openid=me)
    assert (row.league_city, row.series, row.active) == ("baotou", ["engineering", "health"], True)

    reply = await sim.say(me, "我的订阅")
    assert "包头市" in reply.content and "工程技术、卫生" in reply.content

    reply = await sim.say(me, "退订")
    assert "已退订" in reply.content
    assert not (await NoticeSubscription.get(openid=me)).active
    reply = await sim.say(me, "我的订阅")
    assert "您目前没有订阅" in reply.content
    reply = await sim.say(me, "退订")
    assert "您目前没有订阅" in reply.content


async def test_region_level_subscriber_and_changing_the_choice(svc):
    sim, me = chat(svc), "o_chat_region"
    await sim.say(me, "订阅")
    await sim.say(me, "0")
    reply = await sim.say(me, "19")
    assert "盟市：区直单位（不限盟市）" in reply.content and "系列：中小学教师" in reply.content
    await sim.say(me, "订阅")
    await sim.say(me, "呼和浩特")
    await sim.say(me, "4")
    row = await NoticeSubscription.get(openid=me)
    assert (row.league_city, row.series) == ("hohhot", ["accounting"])


async def test_cancel_leaves_the_subscription_unchanged(svc):
    sim, me = chat(svc), "o_chat_cancel"
    await sim.say(me, "订阅")
    reply = await sim.say(me, "取消")
    assert "已取消" in reply.content
    assert await NoticeSubscription.get_or_none(openid=me) is None
    reply = await sim.say(me, "2")  # no conversation any more: not a city choice
    assert "订阅成功" not in (reply.content or "")


async def test_subscribers_get_the_broadcast_and_leaving_the_account_stops_it(quiet):
    sim = chat(quiet)
    for me in ("o_chat_stay", "o_chat_leave"):
        await sim.event(me, "subscribe")
        await sim.say(me, "订阅")
        await sim.say(me, "2")
        await sim.say(me, "1")
    send_id = await broadcast(quiet, publicity(league_cities=["baotou"], series=["engineering"]))
    await sim.event("o_chat_leave", "unsubscribe")
    assert not (await WechatUser.get(openid="o_chat_leave")).subscribed
    await quiet.deliver()
    statuses = dict(await NoticeDelivery.filter(send_id=send_id).values_list("openid", "status"))
    assert statuses == {"o_chat_stay": "sent", "o_chat_leave": "cancelled"}
