"""UserSimulator: signatures, plain/compat/safe XML, WeChat-style resends, reply checks.

The webhook here is a small echo handler built on wechatpy (an independent implementation
of WeChat's scheme), so these tests check the simulator against it, plus against published
WeChat test vectors.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy import create_reply, parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from bot.fake_platform.simulator import (
    SimulatorError,
    UserSimulator,
    aes_key_bytes,
    parse_xml,
    sign,
    verify_and_decrypt,
)

TOKEN = "spamtest"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APPID = "wx2c2769f8efd9abc2"
OPENID = "oUser-0000000000000000001"


class EchoWebhook:
    """Verifies like a real webhook (via wechatpy), records pushes, echoes text back."""

    def __init__(self, *, slow_first: float = 0.0, slow_all: float = 0.0, reply: str = "auto"):
        self.pushes: list[dict] = []
        self.slow_first = slow_first
        self.slow_all = slow_all
        self.reply = reply  # "auto" | "plain" | "bad-signature"
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)

    async def handle(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
        except (InvalidSignatureException, KeyError):
            return web.Response(status=403, text="bad signature")
        body = await request.read()
        encrypted = q.get("encrypt_type") == "aes"
        if encrypted:
            xml = self.crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
        else:
            xml = body.decode()
        msg = parse_message(xml)
        self.pushes.append({"query": dict(q), "body": body, "xml": xml, "msg": msg})
        if self.slow_all or (self.slow_first and len(self.pushes) == 1):
            await asyncio.sleep(self.slow_all or self.slow_first)
        if msg.type != "text":
            return web.Response(text="success")
        rendered = create_reply(f"echo: {msg.content}", msg, render=True)
        if encrypted and self.reply != "plain":
            rendered = self.crypto.encrypt_message(rendered, q["nonce"], q["timestamp"])
            if self.reply == "bad-signature":
                rendered = rendered.replace("<MsgSignature><![CDATA[", "<MsgSignature><![CDATA[0")
        return web.Response(text=rendered, content_type="application/xml")


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def start(aiohttp_server, hook: EchoWebhook) -> str:
    app = web.Application()
    app.router.add_post("/wechat", hook.handle)
    server = await aiohttp_server(app)
    return f"http://{server.host}:{server.port}/wechat"


def sim(session, url, mode="plain", **kw) -> UserSimulator:
    aes = None if mode == "plain" else AES_KEY
    return UserSimulator(session, url, token=TOKEN, appid=APPID, aes_key=aes, mode=mode, **kw)


# --- round trips through a wechatpy-based webhook -----------------------------------------
@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_text_round_trip(aiohttp_server, session, mode):
    hook = EchoWebhook()
    url = await start(aiohttp_server, hook)
    reply = await sim(session, url, mode).send_text(OPENID, "你好 <b>&", msg_id=1234567890123)
    assert reply.status == 200 and reply.attempts == 1
    assert reply.content == "echo: 你好 <b>&"
    assert reply.encrypted is (mode != "plain")
    assert reply.reply["ToUserName"] == OPENID
    (push,) = hook.pushes
    msg = push["msg"]
    assert (msg.type, msg.source, msg.id, msg.content) == (
        "text",
        OPENID,
        1234567890123,
        "你好 <b>&",
    )
    assert msg.target == "gh_0fakeaccount"
    assert abs(msg.create_time.timestamp() - time.time()) < 60
    q = push["query"]
    assert q["openid"] == OPENID
    if mode == "plain":
        assert "encrypt_type" not in q and "msg_signature" not in q
        return
    assert q["encrypt_type"] == "aes"
    doc = parse_xml(push["body"])
    assert q["msg_signature"] == sign(TOKEN, q["timestamp"], q["nonce"], doc["Encrypt"])
    if mode == "safe":
        assert set(doc) == {"ToUserName", "Encrypt"}
    else:  # compat: plaintext fields and ciphertext in one document
        assert doc["Content"] == "你好 <b>&" and doc["Encrypt"]
        assert doc["MsgId"] == "1234567890123"


@pytest.mark.parametrize(
    ("event", "key", "expected_type"),
    [
        ("subscribe", None, "subscribe"),
        ("subscribe", "qrscene_42", "subscribe_scan"),
        ("unsubscribe", None, "unsubscribe"),
        ("CLICK", "POLICY_QUERY", "click"),
        ("SCAN", "42", "scan"),
        ("VIEW", "https://example.com/apply", "view"),
    ],
)
async def test_events(aiohttp_server, session, event, key, expected_type):
    hook = EchoWebhook()
    url = await start(aiohttp_server, hook)
    reply = await sim(session, url, "safe").send_event(OPENID, event, key)
    assert reply.status == 200 and reply.reply is None and reply.content is None
    msg = hook.pushes[0]["msg"]
    assert msg.type == "event" and msg.event == expected_type and msg.source == OPENID
    doc = parse_xml(hook.pushes[0]["xml"])
    assert doc["Event"] == event
    assert doc.get("EventKey") == key
    assert "MsgId" not in doc  # events carry no MsgId; WeChat dedups them by user+time


async def test_image(aiohttp_server, session):
    hook = EchoWebhook()
    url = await start(aiohttp_server, hook)
    reply = await sim(session, url, "compat").send_image(OPENID, "MEDIA_123")
    assert reply.status == 200 and reply.reply is None
    msg = hook.pushes[0]["msg"]
    assert msg.type == "image" and msg.media_id == "MEDIA_123" and msg.image.startswith("http")


async def test_cdata_terminator_in_content_survives():
    s = UserSimulator(None, "http://x", token=TOKEN, appid=APPID)
    xml = s.text_xml(OPENID, "a]]>b", msg_id=1)
    assert parse_xml(xml)["Content"] == "a]]>b"
    assert parse_message(xml).content == "a]]>b"


def test_message_xml_field_order_matches_wechat():
    s = UserSimulator(None, "http://x", token=TOKEN, appid=APPID)
    xml = s.text_xml(OPENID, "hi", msg_id=42, create_time=1348831860)
    assert xml == (
        "<xml><ToUserName><![CDATA[gh_0fakeaccount]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>"
    )


# --- resends --------------------------------------------------------------------------------
async def test_resends_same_message_when_the_answer_is_late(aiohttp_server, session):
    hook = EchoWebhook(slow_first=0.6)
    url = await start(aiohttp_server, hook)
    reply = await sim(session, url, "safe", reply_timeout=0.25).send_text(OPENID, "late?")
    assert reply.attempts == 2 and reply.status == 200
    assert reply.content == "echo: late?"
    first, second = (p["msg"] for p in hook.pushes)
    assert first.id == second.id and first.create_time == second.create_time
    assert hook.pushes[0]["query"]["nonce"] != hook.pushes[1]["query"]["nonce"]


async def test_gives_up_after_three_attempts(aiohttp_server, session):
    hook = EchoWebhook(slow_all=0.5)
    url = await start(aiohttp_server, hook)
    reply = await sim(session, url, reply_timeout=0.15).send_text(OPENID, "anyone?")
    assert reply.timed_out and reply.status is None and reply.reply is None
    assert reply.attempts == 3 and len(reply.timings) == 3
    assert len({p["msg"].id for p in hook.pushes}) == 1 and len(hook.pushes) == 3


# --- build() for forged requests, reply verification -----------------------------------------
async def test_build_and_forged_signature(aiohttp_server, session):
    hook = EchoWebhook()
    url = await start(aiohttp_server, hook)
    s = sim(session, url, "safe")
    xml = s.text_xml(OPENID, "x")
    params, body = s.build(xml, timestamp=1_000_000_000, nonce="123")
    assert params["timestamp"] == "1000000000" and params["nonce"] == "123"
    assert params["openid"] == OPENID
    expected = hashlib.sha1(
        "".join(sorted([TOKEN, "1000000000", "123"])).encode(), usedforsecurity=False
    ).hexdigest()
    assert params["signature"] == expected
    async with session.post(url, params={**params, "signature": "0" * 40}, data=body) as resp:
        assert resp.status == 403
    assert hook.pushes == []
    async with session.post(url, params=params, data=body) as resp:
        assert resp.status == 200  # old timestamp: rejecting it is the webhook's job
    assert hook.pushes[0]["msg"].content == "x"


async def test_reply_with_bad_msg_signature_is_rejected(aiohttp_server, session):
    url = await start(aiohttp_server, EchoWebhook(reply="bad-signature"))
    with pytest.raises(SimulatorError, match="msg_signature"):
        await sim(session, url, "safe").send_text(OPENID, "hi")


async def test_plaintext_reply_in_safe_mode_is_rejected(aiohttp_server, session):
    url = await start(aiohttp_server, EchoWebhook(reply="plain"))
    with pytest.raises(SimulatorError, match="plaintext"):
        await sim(session, url, "safe").send_text(OPENID, "hi")
    # compat mode tolerates a plaintext reply
    reply = await sim(session, url, "compat").send_text(OPENID, "hi")
    assert reply.content == "echo: hi" and not reply.encrypted


async def test_send_raw_and_non_200(aiohttp_server, session):
    async def teapot(request):
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_post("/wechat", teapot)
    server = await aiohttp_server(app)
    s = sim(session, f"http://{server.host}:{server.port}/wechat")
    reply = await s.send_raw(s.text_xml(OPENID, "x").encode())
    assert reply.status == 500 and reply.body == b"boom" and reply.reply is None
    assert reply.attempts == 1  # an answer, even an error, is not resent


def test_constructor_checks():
    with pytest.raises(ValueError):
        UserSimulator(None, "http://x", token=TOKEN, appid=APPID, mode="safe")
    with pytest.raises(ValueError):
        UserSimulator(None, "http://x", token=TOKEN, appid=APPID, mode="weird")
    with pytest.raises(ValueError):
        UserSimulator(None, "http://x", token=TOKEN, appid=APPID, aes_key="abc", mode="safe")


# --- published vectors --------------------------------------------------------------------
# WeChat's official message-crypto sample (WXBizMsgCrypt demo, as in the SDK downloads).
OFFICIAL = {
    "token": "spamtest",
    "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "appid": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmB"
        "M4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyy"
        "Xwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrC"
        "VKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD"
        "1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9G"
        "hglF2PE="
    ),
}

# wechatpy's tests/test_crypto.py (the EncodingAESKey named in our brief).
WECHATPY = {
    "token": "123456",
    "aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "appid": "wx49f0ab532d5d035a",
    "timestamp": "1411525903",
    "nonce": "461056294",
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "encrypt": (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu"
        "6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm"
        "7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e2"
        "9mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
        "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdC"
        "RxthuL0="
    ),
}


def test_official_wechat_sample_decrypts_with_our_key_handling():
    plain = verify_and_decrypt(
        OFFICIAL["encrypt"],
        token=OFFICIAL["token"],
        aes_key=OFFICIAL["aes_key"],
        appid=OFFICIAL["appid"],
        msg_signature=OFFICIAL["msg_signature"],
        timestamp=OFFICIAL["timestamp"],
        nonce=OFFICIAL["nonce"],
    )
    doc = parse_xml(plain)
    assert doc["Content"] == "abcdteT"
    assert doc["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert doc["MsgId"] == "6054768590064713728"


def test_wechatpy_sample_decrypts_with_our_key_handling():
    kw = {k: v for k, v in WECHATPY.items() if k != "encrypt"}
    doc = parse_xml(verify_and_decrypt(WECHATPY["encrypt"], **kw))
    assert doc["Content"] == "test" and doc["FromUserName"] == "messense"
    with pytest.raises(SimulatorError):
        verify_and_decrypt(WECHATPY["encrypt"], **{**kw, "nonce": "461056295"})
    with pytest.raises(SimulatorError):  # the appid inside the ciphertext is checked
        verify_and_decrypt(
            WECHATPY["encrypt"],
            **{**kw, "appid": "wxother", "msg_signature": WECHATPY["msg_signature"]},
        )


def test_key_known_answer():
    """Published PrpCrypto vector: "test" for id "rust" with a fixed 16-byte prefix."""

    class FixedPrefix(PrpCrypto):
        def get_random_string(self):
            return "1234567890123456"

    out = FixedPrefix(aes_key_bytes(WECHATPY["aes_key"])).encrypt("test", "rust")
    assert out == b"9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY="


def test_brief_parameters_round_trip_through_wechatpy():
    """Brief's set: token spamtest, wechatpy's key, wx2c2769f8efd9abc2, 1411034505, 1351554359.

    No ciphertext was ever published for this exact combination (see report), so this checks
    our safe-mode push against wechatpy's WeChatCrypto.decrypt_message instead.
    """
    s = UserSimulator(None, "http://x", token=TOKEN, appid=APPID, aes_key=AES_KEY, mode="safe")
    xml = s.text_xml(OPENID, "职称申报", msg_id=6060349595123187712, create_time=1411035097)
    params, body = s.build(xml, timestamp="1411034505", nonce="1351554359")
    assert (
        params["signature"]
        == hashlib.sha1(b"13515543591411034505spamtest", usedforsecurity=False).hexdigest()
    )
    plain = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(
        body, params["msg_signature"], "1411034505", "1351554359"
    )
    assert plain == xml


@settings(max_examples=60, deadline=None)
@given(
    content=st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\n\t"),
        min_size=1,
        max_size=300,
    )
)
def test_safe_mode_round_trip_property(content):
    s = UserSimulator(None, "http://x", token=TOKEN, appid=APPID, aes_key=AES_KEY, mode="safe")
    xml = s.text_xml(OPENID, content, msg_id=1)
    params, body = s.build(xml)
    plain = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(
        body, params["msg_signature"], params["timestamp"], params["nonce"]
    )
    assert plain == xml
    assert parse_xml(plain)["Content"] == content
