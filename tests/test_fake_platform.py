"""The fake WeChat platform over real HTTP: endpoints, token rules, recording, faults."""

from __future__ import annotations

import time

import aiohttp
import pytest

from bot.fake_platform import FAKE_STATE_KEY, FakeWeChatControl, FakeWeChatState, create_fake_app

APPID = "wxfaketest0000001"
SECRET = "fake-test-secret-0123456789abcdef"


@pytest.fixture
async def server(aiohttp_server):
    return await aiohttp_server(create_fake_app(appid=APPID, secret=SECRET))


@pytest.fixture
def state(server) -> FakeWeChatState:
    return server.app[FAKE_STATE_KEY]


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def base(server) -> str:
    return f"http://{server.host}:{server.port}"


@pytest.fixture
def ctl(session, base) -> FakeWeChatControl:
    return FakeWeChatControl(session, base)


async def post(session, url, body=None, **kw) -> tuple[int, dict]:
    async with session.post(url, json=body, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def get(session, url, **kw) -> tuple[int, dict]:
    async with session.get(url, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def stable(
    session, base, *, force=False, appid=APPID, secret=SECRET, grant="client_credential"
):
    body = {"grant_type": grant, "appid": appid, "secret": secret, "force_refresh": force}
    return (await post(session, base + "/cgi-bin/stable_token", body))[1]


async def send_text(session, base, token, openid="o-1", content="hi"):
    body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
    url = base + "/cgi-bin/message/custom/send"
    return (await post(session, url, body, params={"access_token": token}))[1]


# --- tokens -------------------------------------------------------------------------------
async def test_stable_token_normal_mode_reuses_force_mode_replaces(session, base, state):
    first = await stable(session, base)
    assert set(first) == {"access_token", "expires_in"}
    assert first["expires_in"] == 7200
    again = await stable(session, base)
    assert again["access_token"] == first["access_token"]
    forced = await stable(session, base, force=True)
    assert forced["access_token"] != first["access_token"]
    assert (await send_text(session, base, first["access_token"]))["errcode"] == 40001
    assert (await send_text(session, base, forced["access_token"]))["errcode"] == 0


async def test_stable_token_renews_within_the_last_minutes(aiohttp_server, session):
    server = await aiohttp_server(create_fake_app(appid=APPID, secret=SECRET))
    base = f"http://{server.host}:{server.port}"
    state = server.app[FAKE_STATE_KEY]
    first = (await stable(session, base))["access_token"]
    state.tokens[first].expires_at = time.time() + 200  # inside the 300 s renewal window
    second = (await stable(session, base))["access_token"]
    assert second != first
    assert state.check_token(first) == 0  # the old one stays usable until it expires


@pytest.mark.parametrize(
    ("kwargs", "errcode"),
    [({"appid": "wxwrong"}, 40013), ({"secret": "nope"}, 40125), ({"grant": "x"}, 40002)],
)
async def test_stable_token_rejects_bad_credentials(session, base, kwargs, errcode):
    assert (await stable(session, base, **kwargs))["errcode"] == errcode


async def test_legacy_token_endpoint(session, base, state):
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    _, one = await get(session, base + "/cgi-bin/token", params=params)
    _, two = await get(session, base + "/cgi-bin/token", params=params)
    assert one["access_token"] != two["access_token"]
    assert state.check_token(one["access_token"]) == 0  # 5 minutes of overlap
    assert state.tokens[one["access_token"]].expires_at <= time.time() + 300
    _, bad = await get(session, base + "/cgi-bin/token", params={**params, "secret": "x"})
    assert bad["errcode"] == 40125
    # The recorded query keeps the parameters but masks the appsecret.
    assert state.calls[0]["query"] == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": "***",
    }


async def test_token_validation(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    url = base + "/cgi-bin/message/custom/send"
    body = {"touser": "o-1", "msgtype": "text", "text": {"content": "x"}}
    assert (await post(session, url, body))[1]["errcode"] == 41001
    assert (await send_text(session, base, "made-up"))["errcode"] == 40001
    assert (await send_text(session, base, token))["errcode"] == 0
    assert await ctl.expire_tokens() == 1
    answer = await send_text(session, base, token)
    assert answer["errcode"] == 42001
    assert answer["errmsg"].startswith("access_token expired rid: ")
    fresh = (await stable(session, base))["access_token"]  # expired: normal mode issues anew
    assert fresh != token
    assert (await send_text(session, base, fresh))["errcode"] == 0


# --- recording and control API -------------------------------------------------------------
async def test_calls_are_recorded_without_token_or_secret(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    await send_text(session, base, token, content="你好")
    await send_text(session, base, "bogus")
    calls = await ctl.calls()
    assert [c["path"] for c in calls] == [
        "/cgi-bin/stable_token",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/message/custom/send",
    ]
    assert calls[0]["body"]["secret"] == "***"
    assert calls[1]["body"]["text"]["content"] == "你好"
    assert [c["errcode"] for c in calls] == [0, 0, 40001]
    assert all(c["method"] == "POST" and c["status"] == 200 for c in calls)
    assert all(c["time"] <= time.time() for c in calls)
    assert all("access_token" not in c["query"] for c in calls)
    assert token not in str(calls) and SECRET not in str(calls)
    assert len(await ctl.calls("/cgi-bin/message/custom/send")) == 2
    await ctl.reset()
    assert await ctl.calls() == []


async def test_messages_kept_per_openid_in_order(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    q = {"access_token": token}
    await send_text(session, base, token, "o-1", "first")
    _, tpl = await post(
        session,
        base + "/cgi-bin/message/template/send",
        {"touser": "o-1", "template_id": "T1", "url": "https://x", "data": {"a": {"value": 1}}},
        params=q,
    )
    assert tpl["errcode"] == 0 and isinstance(tpl["msgid"], int)
    _, sub = await post(
        session,
        base + "/cgi-bin/message/subscribe/bizsend",
        {"touser": "o-1", "template_id": "S1", "page": "index", "data": {}},
        params=q,
    )
    assert sub == {"errcode": 0, "errmsg": "ok"}
    await send_text(session, base, token, "o-2", "other user")
    msgs = await ctl.messages("o-1")
    assert [m["kind"] for m in msgs] == ["custom", "template", "subscribe"]
    assert msgs[0]["text"] == {"content": "first"}
    assert msgs[1]["msgid"] == tpl["msgid"] and msgs[1]["url"] == "https://x"
    assert msgs[2]["page"] == "index"
    assert [m["text"]["content"] for m in await ctl.messages("o-2")] == ["other user"]
    assert await ctl.messages("nobody") == []


async def test_message_validation(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    url = base + "/cgi-bin/message/custom/send"
    q = {"access_token": token}
    assert (await post(session, url, {"msgtype": "text", "text": {}}, params=q))[1][
        "errcode"
    ] == 40003
    bad_type = {"touser": "o", "msgtype": "fax", "fax": {}}
    assert (await post(session, url, bad_type, params=q))[1]["errcode"] == 40008
    async with session.post(url, data=b"{not json", params=q) as resp:
        assert (await resp.json(content_type=None))["errcode"] == 47001
    tpl = base + "/cgi-bin/message/template/send"
    assert (await post(session, tpl, {"touser": "o"}, params=q))[1]["errcode"] == 40037


async def test_inject_errcode_status_and_delay(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    await ctl.inject("/cgi-bin/message/custom/send", errcode=45009, times=2)
    assert (await send_text(session, base, token))["errcode"] == 45009
    assert (await send_text(session, base, token))["errcode"] == 45009
    assert (await send_text(session, base, token))["errcode"] == 0

    await ctl.inject("/cgi-bin/message/custom/send", status=502)
    async with session.post(
        base + "/cgi-bin/message/custom/send", json={}, params={"access_token": token}
    ) as resp:
        assert resp.status == 502

    await ctl.inject("/cgi-bin/message/custom/send", delay=0.3)
    started = time.monotonic()
    assert (await send_text(session, base, token))["errcode"] == 0
    assert time.monotonic() - started >= 0.3

    calls = await ctl.calls("/cgi-bin/message/custom/send")
    assert [c["errcode"] for c in calls] == [45009, 45009, 0, None, 0]
    assert [c["status"] for c in calls] == [200, 200, 200, 502, 200]
    # Only the delivered message was kept.
    assert len(await ctl.messages("o-1")) == 2


async def test_inject_rejects_bad_specs(session, base):
    for spec in ({}, {"path": "/x", "times": 0}, {"path": "/x", "status": 99}):
        async with session.post(base + "/_fake/inject", json=spec) as resp:
            assert resp.status == 400


async def test_menu(session, base, ctl, state):
    token = (await stable(session, base))["access_token"]
    q = {"access_token": token}
    _, none = await get(session, base + "/cgi-bin/menu/get", params=q)
    assert none["errcode"] == 46003
    menu = {"button": [{"type": "view", "name": "申报", "url": "https://example.com"}]}
    _, ok = await post(session, base + "/cgi-bin/menu/create", menu, params=q)
    assert ok["errcode"] == 0
    assert (await get(session, base + "/cgi-bin/menu/get", params=q))[1] == {"menu": menu}
    assert await ctl.menu() == menu
    too_many = {"button": [{"type": "click", "name": str(i), "key": "k"} for i in range(4)]}
    assert (await post(session, base + "/cgi-bin/menu/create", too_many, params=q))[1][
        "errcode"
    ] == 40016
    assert state.menu == menu


async def test_users(session, base, ctl):
    token = (await stable(session, base))["access_token"]
    q = {"access_token": token}
    await ctl.add_user("o-1", nickname="李四", subscribe=1)
    await ctl.add_user("o-gone", subscribe=0)
    _, info = await get(session, base + "/cgi-bin/user/info", params={**q, "openid": "o-1"})
    assert info["nickname"] == "李四" and info["subscribe"] == 1 and info["openid"] == "o-1"
    _, gone = await get(session, base + "/cgi-bin/user/info", params={**q, "openid": "o-gone"})
    assert gone == {"subscribe": 0, "openid": "o-gone"}
    _, anon = await get(session, base + "/cgi-bin/user/info", params={**q, "openid": "o-x"})
    assert anon["subscribe"] == 1 and anon["language"] == "zh_CN"
    assert (await send_text(session, base, token, "o-gone"))["errcode"] == 43004


async def test_media_upload(session, base, state):
    token = (await stable(session, base))["access_token"]
    url = base + "/cgi-bin/media/upload"
    form = aiohttp.FormData()
    form.add_field("media", b"\x89PNG...", filename="a.png", content_type="image/png")
    async with session.post(url, data=form, params={"access_token": token, "type": "image"}) as r:
        up = await r.json(content_type=None)
    assert up["type"] == "image" and up["media_id"] and up["created_at"] >= int(time.time()) - 5
    assert state.media[up["media_id"]]["size"] == 7
    form = aiohttp.FormData()
    form.add_field("media", b"x", filename="a.exe")
    async with session.post(url, data=form, params={"access_token": token, "type": "exe"}) as r:
        assert (await r.json(content_type=None))["errcode"] == 40004
    form = aiohttp.FormData()
    form.add_field("other", b"x", filename="a.png")
    async with session.post(url, data=form, params={"access_token": token, "type": "image"}) as r:
        assert (await r.json(content_type=None))["errcode"] == 41005


async def test_qrcode_create(session, base):
    token = (await stable(session, base))["access_token"]
    url = base + "/cgi-bin/qrcode/create"
    q = {"access_token": token}
    temp = {
        "expire_seconds": 600,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": "bind-42"}},
    }
    _, t = await post(session, url, temp, params=q)
    assert t["ticket"] and t["url"].startswith("http://weixin.qq.com/q/")
    assert t["expire_seconds"] == 600
    perm = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}}
    _, p = await post(session, url, perm, params=q)
    assert "expire_seconds" not in p
    assert (await post(session, url, {"action_name": "NOPE"}, params=q))[1]["errcode"] == 40097


async def test_apps_do_not_share_state():
    a, b = create_fake_app(), create_fake_app()
    assert a[FAKE_STATE_KEY] is not b[FAKE_STATE_KEY]
    a[FAKE_STATE_KEY].stable_token(force=False)
    assert b[FAKE_STATE_KEY].tokens == {}
