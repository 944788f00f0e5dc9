"""Property: whatever a correctly signed sender posts, the webhook answers 200 or a 4xx,
never a 500 and never a crash (and a valid message afterwards still works)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.signature import wechat_signature
from tests.conftest import TOKEN

TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
        "EventKey", "Encrypt", "MediaId"]

xmlish = st.recursive(
    st.text(max_size=40),
    lambda inner: st.builds(
        lambda tag, body: f"<{tag}>{body}</{tag}>",
        st.sampled_from(TAGS + ["xml", "a"]),
        st.lists(inner, max_size=4).map("".join),
    ),
    max_leaves=12,
)

bodies = st.one_of(
    st.binary(max_size=600),
    xmlish.map(lambda s: f"<xml>{s}</xml>".encode()),
    st.builds(
        lambda t, mt, c, mid: (
            f"<xml><ToUserName>gh</ToUserName><FromUserName>o_fuzz</FromUserName>"
            f"<CreateTime>{t}</CreateTime><MsgType>{mt}</MsgType><Content>{c}</Content>"
            f"<MsgId>{mid}</MsgId></xml>"
        ).encode(),
        st.one_of(st.integers(), st.text(max_size=5)),
        st.one_of(st.sampled_from(["text", "event", "image", "voice", "x"]), st.text(max_size=6)),
        st.text(max_size=30).filter(lambda s: "<" not in s and "&" not in s),
        st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=5)),
    ),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, encrypted=st.booleans())
async def test_signed_garbage_never_causes_a_500(service, body, encrypted):
    ts = str(int(time.time()))
    q = {"signature": wechat_signature(TOKEN, ts, "fz"), "timestamp": ts, "nonce": "fz"}
    if encrypted:
        q.update(encrypt_type="aes", msg_signature="0" * 40)
    resp = await service.post("/wechat", params=q, data=body)
    assert resp.status in (200, 400, 403, 413), (resp.status, body)


async def test_service_still_answers_after_fuzzing(service, sim_for):
    reply = await sim_for().send_text("o_after_fuzz", "帮助")
    assert reply.status == 200 and "自测" in reply.content
