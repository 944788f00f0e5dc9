"""The webhook over real HTTP: verification, three modes, signatures, replay, rotation,
retry dedup, the 5-second rule, and bad bodies."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.app import create_app
from bot.appkeys import STORE
from bot.signature import DecryptError, MessageCrypto, wechat_signature
from tests.conftest import AES_KEY, AES_KEY_OLD, APPID, TOKEN
from tests.support import factories as f


def signed_query(token: str = TOKEN, timestamp: int | None = None, nonce: str = "n0nce",
                 **extra) -> dict:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"signature": wechat_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
            **extra}


# --- GET: URL verification ---------------------------------------------------------------
async def test_url_verification_echoes_echostr(service):
    resp = await service.get("/wechat", params=signed_query(echostr="hello123"))
    assert resp.status == 200
    assert await resp.text() == "hello123"


async def test_url_verification_with_bad_signature_is_403(service):
    q = signed_query(echostr="hello123")
    q["signature"] = "0" * 40
    resp = await service.get("/wechat", params=q)
    assert resp.status == 403
    assert "hello123" not in await resp.text()


async def test_url_verification_with_wrong_token_is_403(service):
    resp = await service.get("/wechat", params=signed_query(token="other", echostr="x"))
    assert resp.status == 403


# --- POST: the three modes ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_text_message_round_trip_in_every_mode(sim_for, mode):
    sim = sim_for(mode=mode)
    reply = await sim.send_text("o_mode_user", "帮助")
    assert reply.status == 200
    assert "自测" in reply.content
    assert reply.attempts == 1


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_regression_each_message_left_a_reference_cycle_for_the_collector(sim_for, mode):
    """The claim's `result` is the attempt's bound method, so attempt and claim held each
    other: every message's objects waited for the cyclic collector, which then ran every
    ~25 messages (about a tenth of the webhook's CPU under load, and its gen-2 passes
    were the worst latency). With the collector off, nothing of a message may remain."""
    import gc

    from bot.webhook import _Attempt

    sim = sim_for(mode=mode)
    await sim.send_text("o_cycle_user", "帮助")  # first-seen work (user row) out of the way
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            reply = await sim.send_text("o_cycle_user", "帮助")
            assert "自测" in reply.content
        await asyncio.sleep(0.05)  # the per-message tasks finish
        left = [o for o in gc.get_objects() if isinstance(o, _Attempt)]
    finally:
        gc.enable()
    assert left == []


async def test_safe_mode_body_carries_no_plaintext(sim_for):
    sim = sim_for(mode="safe")
    xml = f.text_xml("帮助", "o_secret")
    _, body = sim.build(xml)
    assert b"o_secret" not in body and "帮助".encode() not in body


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_subscribe_event_welcomes_and_records_user(sim_for, mode):
    from models import WechatUser

    openid = f"o_sub_{mode}_{f.next_msg_id()}"
    reply = await sim_for(mode=mode).send_event(openid, "subscribe")
    assert "欢迎关注" in reply.content
    user = await WechatUser.get(openid=openid)
    assert user.subscribed


@pytest.mark.parametrize("event_key", ["qrscene_42", "scanbarcode|EAN_13|6901234567892"])
async def test_regression_following_by_scanning_a_code_was_not_a_subscribe(sim_for, event_key):
    """wechatpy rewrites a subscribe whose EventKey carries a QR scene (or a barcode) into
    'subscribe_scan' in the dict it parsed, which we read: the user who followed through
    a parametric QR code (the usual way) got no welcome and was never marked subscribed."""
    from models import WechatUser

    openid = f"o_qrsub_{f.next_msg_id()}"
    reply = await sim_for().send_event(openid, "subscribe", event_key, ticket="TICKET")
    assert "欢迎关注" in reply.content
    assert (await WechatUser.get(openid=openid)).subscribed


async def test_a_subscribe_keeps_its_event_key_as_wechat_sent_it():
    from bot.messages import Incoming

    xml = f.event_xml("subscribe", "qrscene_42")
    msg = Incoming.from_xml(xml)
    assert (msg.event, msg.event_key) == ("subscribe", "qrscene_42")


async def test_regression_two_menu_clicks_in_one_second_were_taken_for_a_retry(sim_for):
    """Events are deduplicated by sender and CreateTime (WeChat's advice); the event key
    was left out, so a second, different click in the same second got the first one's
    answer instead of its own."""
    sim = sim_for()
    openid, second = f"o_clicks_{f.next_msg_id()}", int(time.time())
    first = await sim.send_raw(sim.event_xml(openid, "CLICK", "HELP", create_time=second))
    other = await sim.send_raw(sim.event_xml(openid, "CLICK", "POLICY_SUMMARY",
                                             create_time=second))
    assert "自测" in first.content  # the help text
    assert other.content != first.content
    again = await sim.send_raw(sim.event_xml(openid, "CLICK", "HELP", create_time=second))
    assert again.content == first.content  # a real retry still gets the same answer


async def test_unsubscribe_marks_user_and_keeps_the_row(sim_for):
    from models import WechatUser

    sim = sim_for()
    openid = f"o_unsub_{f.next_msg_id()}"
    await sim.send_event(openid, "subscribe")
    reply = await sim.send_event(openid, "unsubscribe")
    assert reply.status == 200
    user = await WechatUser.get(openid=openid)
    assert not user.subscribed and user.unsubscribed_at is not None
    assert user.first_seen is not None


# --- the official sample -----------------------------------------------------------------
# WeChat's published message-encryption sample (the one wechatpy's own tests use): token,
# EncodingAESKey, AppID/CorpID, ciphertext, signatures. Same algorithm for every account kind.
SAMPLE_TOKEN = "123456"
SAMPLE_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
SAMPLE_APPID = "wx49f0ab532d5d035a"
SAMPLE_TIMESTAMP = "1411525903"
SAMPLE_NONCE = "461056294"
SAMPLE_MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
SAMPLE_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
    "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
    "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
    "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
    "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
# The sample reply, its encryption with the sample's fixed random prefix, and its signature.
SAMPLE_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
    "<CreateTime>1411525903</CreateTime>\n</xml>"
)
SAMPLE_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
    "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
    "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
    "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
    "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
SAMPLE_REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


def _sample_request() -> tuple[dict, bytes]:
    q = {"signature": wechat_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE),
         "timestamp": SAMPLE_TIMESTAMP, "nonce": SAMPLE_NONCE, "encrypt_type": "aes",
         "msg_signature": SAMPLE_MSG_SIGNATURE}
    body = (f"<xml><ToUserName><![CDATA[{SAMPLE_APPID}]]></ToUserName>\n"
            f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt>\n"
            f"<AgentID><![CDATA[1]]></AgentID>\n</xml>").encode()
    return q, body


def test_official_sample_decrypts_to_the_published_message():
    text, index = MessageCrypto(SAMPLE_TOKEN, SAMPLE_APPID, [SAMPLE_KEY]).decrypt(SAMPLE_ENCRYPT)
    assert index == 0
    assert "<Content><![CDATA[test]]></Content>" in text
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in text


def test_official_sample_reply_encrypts_to_the_published_ciphertext(monkeypatch):
    from bot.signature import _PrpCrypto

    monkeypatch.setattr(_PrpCrypto, "get_random_string", lambda self: "1234567890123456")
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_APPID, [SAMPLE_KEY])
    xml = crypto.encrypt_reply(SAMPLE_REPLY, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    assert f"<Encrypt>{SAMPLE_REPLY_ENCRYPT}</Encrypt>" in xml
    assert f"<MsgSignature>{SAMPLE_REPLY_SIGNATURE}</MsgSignature>" in xml


def test_each_encrypted_reply_has_its_own_random_prefix_and_wechatpy_reads_it():
    from wechatpy.crypto import WeChatCrypto

    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_APPID, [SAMPLE_KEY])
    first, second = (crypto.encrypt_reply(SAMPLE_REPLY, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
                     for _ in range(2))
    assert first != second
    official = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    for xml in (first, second):
        signature = xml.split("<MsgSignature>")[1].split("<")[0]
        assert official.decrypt_message(xml, signature, SAMPLE_TIMESTAMP,
                                        SAMPLE_NONCE) == SAMPLE_REPLY


@pytest.mark.parametrize("nonce", ["n0nce", "a&b<c>d\"e'f", "随机数", " x "])
def test_reply_envelope_is_what_elementtree_writes(nonce):
    import xml.etree.ElementTree as ET

    from bot.signature import reply_envelope

    values = ("QUJD+/=", "407518b7649e86ef23978113f92d27afa9296533", "1411525903", nonce)
    root = ET.Element("xml")
    for tag, value in zip(("Encrypt", "MsgSignature", "TimeStamp", "Nonce"), values,
                          strict=True):
        ET.SubElement(root, tag).text = value
    assert reply_envelope(*values) == ET.tostring(root, encoding="unicode")


async def test_official_sample_through_the_webhook(aiohttp_client, make_settings):
    """The published ciphertext and signature, posted to our webhook, get an encrypted reply.

    The sample's timestamp is from 2014, so this app allows that clock skew.
    """
    settings = make_settings(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                             wechat_appid=SAMPLE_APPID, wechat_max_clock_skew=10**10)
    client = await aiohttp_client(create_app(settings))
    q, body = _sample_request()
    resp = await client.post("/wechat", params=q, data=body)
    assert resp.status == 200
    reply = await resp.text()
    encrypt = reply.split("<Encrypt>")[1].split("</Encrypt>")[0]
    signature = reply.split("<MsgSignature>")[1].split("</MsgSignature>")[0]
    assert signature == wechat_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, encrypt)
    plain, _ = MessageCrypto(SAMPLE_TOKEN, SAMPLE_APPID, [SAMPLE_KEY]).decrypt(encrypt)
    assert "<ToUserName><![CDATA[messense]]></ToUserName>" in plain  # answered to the sender


async def test_official_sample_with_todays_clock_is_a_replay(aiohttp_client, make_settings):
    settings = make_settings(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                             wechat_appid=SAMPLE_APPID)
    client = await aiohttp_client(create_app(settings))
    q, body = _sample_request()
    resp = await client.post("/wechat", params=q, data=body)
    assert resp.status == 403


async def test_official_sample_url_verification_in_safe_mode(aiohttp_client, make_settings):
    settings = make_settings(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                             wechat_appid=SAMPLE_APPID, wechat_max_clock_skew=10**10)
    client = await aiohttp_client(create_app(settings))
    ts, nonce = "1411443780", "437374425"
    echostr = ("4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7"
               "hOchLF6p+Q==")
    q = {"signature": wechat_signature(SAMPLE_TOKEN, ts, nonce), "timestamp": ts,
         "nonce": nonce, "encrypt_type": "aes",
         "msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "echostr": echostr}
    resp = await client.get("/wechat", params=q)
    assert resp.status == 200
    assert (await resp.text()).isdigit()  # the sample's echostr decrypts to a number
    q["nonce"] = "437374424"  # the sample's "should fail" case
    q["signature"] = wechat_signature(SAMPLE_TOKEN, ts, q["nonce"])
    assert (await client.get("/wechat", params=q)).status == 403


# --- signatures and replay ---------------------------------------------------------------
async def test_bad_signature_is_403_and_nothing_is_processed(service):
    openid = f"o_forged_{f.next_msg_id()}"
    q = signed_query()
    q["signature"] = q["signature"][:-1] + ("0" if q["signature"][-1] != "0" else "1")
    resp = await service.post("/wechat", params=q, data=f.text_xml("count", openid))
    assert resp.status == 403
    from models import WechatUser

    assert not await WechatUser.filter(openid=openid).exists()


async def test_bad_msg_signature_in_safe_mode_is_403(sim_for):
    sim = sim_for(mode="safe")
    params, body = sim.build(f.text_xml("帮助"))
    params["msg_signature"] = "f" * 40
    async with sim.session.post(sim.webhook_url, params=params, data=body) as resp:
        assert resp.status == 403


@pytest.mark.parametrize("skew", [-301, 301, 3600])
async def test_timestamp_outside_five_minutes_is_refused(service, skew):
    q = signed_query(timestamp=int(time.time()) + skew)
    resp = await service.post("/wechat", params=q, data=f.text_xml("帮助"))
    assert resp.status == 403


async def test_timestamp_within_five_minutes_is_accepted(service):
    q = signed_query(timestamp=int(time.time()) - 290)
    resp = await service.post("/wechat", params=q, data=f.text_xml("帮助"))
    assert resp.status == 200


# --- key rotation ------------------------------------------------------------------------
async def test_message_encrypted_with_previous_key_is_answered_with_that_key(
        aiohttp_client, make_settings, sim_for):
    """During a rotation WeChat may still encrypt with the previous EncodingAESKey; the
    reply is encrypted with the key that decrypted the message (the one the sender has),
    and a message with the current key is answered with the current key."""
    settings = make_settings(wechat_aes_key=AES_KEY, wechat_aes_key_previous=AES_KEY_OLD)
    client = await aiohttp_client(create_app(settings))
    sim = sim_for(client, mode="safe", aes_key=AES_KEY_OLD)
    params, body = sim.build(f.text_xml("帮助", "o_rotation"))
    async with client.session.post(sim.webhook_url, params=params, data=body) as resp:
        assert resp.status == 200
        reply = await resp.text()
    encrypt = reply.split("<Encrypt>")[1].split("</Encrypt>")[0]
    plain, index = MessageCrypto(TOKEN, APPID, [AES_KEY_OLD]).decrypt(encrypt)
    assert index == 0 and "自测" in plain
    with pytest.raises(DecryptError):  # not with the current key, which the sender lacks
        MessageCrypto(TOKEN, APPID, [AES_KEY]).decrypt(encrypt)
    # The simulator with the old key reads the answer like WeChat would.
    assert "自测" in (await sim.send_text("o_rotation", "帮助")).content
    current = await sim_for(client, mode="safe", aes_key=AES_KEY).send_text("o_rotation", "帮助")
    assert "自测" in current.content


async def test_message_encrypted_with_unknown_key_is_400(sim_for):
    sim = sim_for(mode="safe", aes_key=AES_KEY_OLD)  # service knows only AES_KEY
    reply = await sim.send_text("o_rotation", "帮助")
    assert reply.status == 400


# --- retry dedup -------------------------------------------------------------------------
async def test_retry_with_same_msgid_is_handled_once_and_gets_same_reply(service, sim_for):
    sim = sim_for()
    mid = f.next_msg_id()
    first = await sim.send_text("o_dedup", "count", msg_id=mid)
    again = await sim.send_text("o_dedup", "count", msg_id=mid)
    assert first.content == again.content == "第1次"
    runs = await service.server.app[STORE].get(f"test:runs:m{mid}")
    assert runs == b"1"


async def test_concurrent_retries_are_handled_once(service, sim_for):
    sim = sim_for(mode="safe")
    mid = f.next_msg_id()
    replies = await asyncio.gather(
        *(sim.send_text("o_dedup2", "count", msg_id=mid) for _ in range(3)))
    assert {r.content for r in replies} == {"第1次"}
    assert await service.server.app[STORE].get(f"test:runs:m{mid}") == b"1"


async def test_distinct_messages_are_each_handled(service, sim_for):
    sim = sim_for()
    a = await sim.send_text("o_dedup3", "count")
    b = await sim.send_text("o_dedup3", "count")
    assert a.content == b.content == "第1次"  # each message id counted on its own


async def test_event_retry_is_deduplicated_by_user_and_create_time(service, sim_for):
    from models import WechatUser

    sim = sim_for()
    openid = f"o_ev_{f.next_msg_id()}"
    ct = int(time.time())
    xml = sim.event_xml(openid, "subscribe", create_time=ct)
    r1 = await sim.send_raw(xml)
    r2 = await sim.send_raw(xml)
    assert r1.content == r2.content
    assert await WechatUser.filter(openid=openid).count() == 1


# --- the 5-second rule -------------------------------------------------------------------
async def test_slow_handler_answers_success_then_sends_customer_service_message(
        aiohttp_client, make_settings, sim_for):
    from bot.appkeys import FAKE_BASE
    from bot.fake_platform import FakeWeChatControl

    client = await aiohttp_client(create_app(make_settings(wechat_reply_deadline=0.3)))
    sim = sim_for(client)
    control = FakeWeChatControl(client.session, client.server.app[FAKE_BASE])
    openid = f"o_slow_{f.next_msg_id()}"
    started = time.monotonic()
    reply = await sim.send_text(openid, "slow 1")
    assert time.monotonic() - started < 0.9
    assert reply.status == 200 and reply.body == b"success"
    for _ in range(50):
        messages = await control.messages(openid)
        if messages:
            break
        await asyncio.sleep(0.1)
    assert [m["text"]["content"] for m in messages] == ["慢回复 1"]


async def test_retry_of_a_deferred_message_does_not_run_it_again(
        aiohttp_client, make_settings, sim_for):
    client = await aiohttp_client(create_app(make_settings(wechat_reply_deadline=0.2)))
    sim = sim_for(client)
    mid = f.next_msg_id()
    r1 = await sim.send_text("o_slow2", "slow 0.5", msg_id=mid)
    r2 = await sim.send_text("o_slow2", "slow 0.5", msg_id=mid)
    assert r1.body == r2.body == b"success"
    await asyncio.sleep(0.6)
    assert await client.server.app[STORE].get(f"test:runs:m{mid}") == b"1"


async def test_retry_while_the_first_waits_for_the_users_lock_runs_once(service, sim_for):
    """The claim is taken in the lock step: a retry that arrives while the first request
    still waits for the user's lock (held by an earlier slow message) waits for its
    answer instead of running the message again."""
    sim = sim_for()
    openid = f"o_queue_{f.next_msg_id()}"
    slow = asyncio.create_task(sim.send_text(openid, "slow 0.4"))
    await asyncio.sleep(0.1)  # the slow message holds the lock now
    mid = f.next_msg_id()
    replies = await asyncio.gather(
        *(sim.send_text(openid, "count", msg_id=mid) for _ in range(3)))
    assert {r.content for r in replies} == {"第1次"}
    assert (await slow).content == "慢回复 0.4"
    assert await service.server.app[STORE].get(f"test:runs:m{mid}") == b"1"


async def test_deadline_while_waiting_for_the_lock_sends_the_reply_later(
        aiohttp_client, make_settings, sim_for):
    """The reply deadline passes while the message waits behind the user's slow earlier
    message: `success` now, the reply as a customer-service message once it ran, once."""
    from bot.appkeys import FAKE_BASE
    from bot.fake_platform import FakeWeChatControl

    client = await aiohttp_client(create_app(make_settings(wechat_reply_deadline=0.3)))
    sim = sim_for(client)
    control = FakeWeChatControl(client.session, client.server.app[FAKE_BASE])
    openid = f"o_behind_{f.next_msg_id()}"
    slow = asyncio.create_task(sim.send_text(openid, "slow 0.6"))
    await asyncio.sleep(0.1)
    mid = f.next_msg_id()
    reply = await sim.send_text(openid, "count", msg_id=mid)
    assert reply.body == b"success"
    again = await sim.send_text(openid, "count", msg_id=mid)  # WeChat's retry
    assert again.body == b"success"
    await slow
    for _ in range(50):
        texts = [m["text"]["content"] for m in await control.messages(openid)]
        if "第1次" in texts:
            break
        await asyncio.sleep(0.1)
    assert texts.count("第1次") == 1
    assert await client.server.app[STORE].get(f"test:runs:m{mid}") == b"1"


async def test_simulator_retries_like_wechat_and_gets_one_answer(
        aiohttp_client, make_settings, sim_for):
    """WeChat gives up on an answer and resends the same MsgId; the retry waits for the
    first run's reply instead of running again. (Scaled down: WeChat waits 5 s, this
    simulator 0.2 s; the handler takes 0.3 s.)"""
    client = await aiohttp_client(create_app(make_settings(wechat_reply_deadline=1.0)))
    sim = sim_for(client, reply_timeout=0.2)
    reply = await sim.send_text("o_patience", "count")
    assert reply.attempts == 2
    assert reply.content == "第1次"


async def test_regression_a_lost_lock_step_made_the_users_next_message_wait_out_the_lock(
        service, sim_for, monkeypatch):
    """The store connection dropped after the lock step ran: the user's lock stayed until
    its TTL (60 s), so their next message waited the lock timeout (20 s), was answered
    `success` at the deadline and then only with an apology."""
    store = service.server.app[STORE]
    ran = store.try_lock_and_get

    async def ran_then_lost(*args, **kwargs):
        monkeypatch.undo()  # once
        await ran(*args, **kwargs)
        raise ConnectionError("connection dropped")

    monkeypatch.setattr(store, "try_lock_and_get", ran_then_lost)
    sim = sim_for()
    openid = f"o_lostlock_{f.next_msg_id()}"
    first = await sim.send_text(openid, "帮助")
    assert first.status == 200
    started = time.monotonic()
    second = await sim.send_text(openid, "帮助")
    assert "自测" in second.content  # answered in the HTTP reply, not after a deadline
    assert time.monotonic() - started < 2


async def test_several_replies_first_passive_rest_as_customer_service(service, sim_for,
                                                                      fake_control):
    openid = f"o_many_{f.next_msg_id()}"
    reply = await sim_for().send_text(openid, "多条")
    assert reply.content == "第一条"
    for _ in range(50):
        messages = await fake_control.messages(openid)
        if len(messages) == 2:
            break
        await asyncio.sleep(0.05)
    assert [m["text"]["content"] for m in messages] == ["第二条", "第三条"]


async def test_regression_more_replies_could_reach_the_user_before_the_first(
        service, sim_for, monkeypatch):
    """The replies after the first went out as customer-service messages as soon as the
    handler returned, racing the passive reply still being written: the user could read
    the second and third before the first. They now wait until it has been written."""
    from aiohttp import web

    from bot.appkeys import CLIENT

    events: list[str] = []
    real_write_eof = web.StreamResponse.write_eof

    async def slow_write_eof(self, data=b""):
        await asyncio.sleep(0.3)  # a slow network under the passive reply
        await real_write_eof(self, data)
        events.append("passive reply written")

    client = service.server.app[CLIENT]
    real_send = client.send_custom_message

    async def send(openid, message):
        events.append("customer-service message")
        return await real_send(openid, message)

    monkeypatch.setattr(web.StreamResponse, "write_eof", slow_write_eof)
    monkeypatch.setattr(client, "send_custom_message", send)
    reply = await sim_for().send_text(f"o_order_{f.next_msg_id()}", "多条")
    assert reply.content == "第一条"
    for _ in range(50):
        if events.count("customer-service message") == 2:
            break
        await asyncio.sleep(0.05)
    assert events[0] == "passive reply written", events
    assert events.count("customer-service message") == 2


async def test_failing_handler_gets_a_polite_reply_not_a_500(sim_for):
    reply = await sim_for().send_text("o_boom", "boom")
    assert reply.status == 200
    assert reply.content == "系统繁忙，请稍后再试。"


# --- bad bodies --------------------------------------------------------------------------
async def test_malformed_xml_is_400(service):
    resp = await service.post("/wechat", params=signed_query(), data=b"<xml><oops")
    assert resp.status == 400


async def test_oversized_body_is_413(service):
    big = f.text_xml("x" * (70 * 1024))
    resp = await service.post("/wechat", params=signed_query(), data=big)
    assert resp.status == 413


async def test_unknown_message_type_gets_success(service):
    xml = (b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
           b"<CreateTime>1</CreateTime><MsgType>hologram</MsgType><MsgId>5</MsgId></xml>")
    resp = await service.post("/wechat", params=signed_query(), data=xml)
    assert resp.status == 200 and await resp.text() == "success"


async def test_doctype_is_refused(service):
    xml = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
           b"<xml><ToUserName>gh</ToUserName></xml>")
    resp = await service.post("/wechat", params=signed_query(), data=xml)
    assert resp.status == 400


async def test_empty_body_is_400(service):
    resp = await service.post("/wechat", params=signed_query(), data=b"")
    assert resp.status == 400


async def _post_in_pieces(client, params: dict, body: bytes, pieces: int, *,
                          chunked: bool) -> tuple[int, bytes]:
    """POST over a raw connection, the body written in `pieces` parts with a pause after
    each (as a slow network delivers a long message), with Content-Length or chunked."""
    url = client.make_url("/wechat").with_query(params)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    framing = ("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    writer.write(f"POST {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
                 f"Content-Type: text/xml\r\nConnection: close\r\n{framing}\r\n\r\n".encode())
    size = -(-len(body) // pieces)
    try:
        for start in range(0, len(body), size):
            part = body[start:start + size]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
            await asyncio.sleep(0.05)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server answered (413) before the whole body was sent
    raw = await reader.read()  # the server closes after its answer (Connection: close)
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_regression_a_body_arriving_in_pieces_was_read_only_in_part(service, sim_for,
                                                                         mode, chunked):
    """`request.content.read(n)` returns what has arrived so far, not the whole body: a
    long message that the network delivered in parts was cut short and refused as
    malformed XML (400)."""
    sim = sim_for(mode=mode)
    params, body = sim.build(sim.text_xml("o_pieces_user", "帮助" + " " * 3000))
    status, payload = await _post_in_pieces(service, params, body, 3, chunked=chunked)
    assert status == 200, payload
    assert "自测" in sim.read_reply(status, payload).content


async def test_oversized_body_in_pieces_without_a_length_is_413(service):
    status, _ = await _post_in_pieces(service, signed_query(), f.text_xml("x" * (70 * 1024)), 4,
                                      chunked=True)
    assert status == 413


async def test_a_body_that_stalls_is_408_not_a_handler_held_forever(service, monkeypatch):
    monkeypatch.setattr("bot.webhook.BODY_TIMEOUT", 0.3)
    url = service.make_url("/wechat").with_query(signed_query())
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"POST {url.raw_path_qs} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                 f"Content-Type: text/xml\r\n\r\n<xml><ToUserName>".encode())
    await writer.drain()
    started = time.monotonic()
    head = await asyncio.wait_for(reader.readline(), 5)  # the sender never sends the rest
    writer.close()
    assert head.split()[1] == b"408"
    assert time.monotonic() - started < 3


async def test_encrypt_type_aes_without_encrypt_field_is_400(service):
    q = signed_query(encrypt_type="aes", msg_signature="0" * 40)
    resp = await service.post("/wechat", params=q, data=f.text_xml("帮助"))
    assert resp.status == 400


# --- events routed by the dispatcher ------------------------------------------------------
async def test_menu_click_is_routed_by_its_key(sim_for):
    reply = await sim_for().send_event("o_click", "CLICK", "HELP")
    assert "可以这样使用本服务号" in reply.content


async def test_scan_event_is_answered(sim_for):
    reply = await sim_for(mode="safe").send_event("o_scan", "SCAN", "123", ticket="tk")
    assert reply.status == 200 and reply.content


async def test_unknown_text_gets_the_fallback_hint(sim_for):
    reply = await sim_for().send_text("o_unknown", "今天天气怎么样")
    assert reply.content == "没有听懂您的意思。回复“帮助”查看可用的功能。"
