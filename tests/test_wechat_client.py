"""WeChatClient against the fake platform served over real HTTP.

Every test runs on the in-process store, and on Redis too when REDIS_URL is set. The
cross-process test needs Redis (two OS processes share nothing else).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.fake_platform import FAKE_STATE_KEY, FakeWeChatControl, Injection, create_fake_app
from bot.storage import MemoryStore
from bot.wechat_client import (
    ERR_CONNECTION,
    ERR_TIMEOUT,
    STABLE_TOKEN_PATH,
    WeChatAPIError,
    WeChatClient,
)

APPID = "wxtestclient00001"
SECRET = "client-test-secret-0123456789abcd"
SEND = "/cgi-bin/message/custom/send"
REDIS_URL = os.environ.get("REDIS_URL")
BACKENDS = ["memory", "redis"] if REDIS_URL else ["memory"]
ROOT = Path(__file__).resolve().parents[1]


async def _make_store(kind: str, namespace: str):
    if kind == "memory":
        return MemoryStore(namespace=namespace)
    from bot.storage.redis import RedisStore

    return RedisStore.from_url(REDIS_URL, namespace=namespace)


async def _drop_store(store) -> None:
    client = getattr(store, "client", None)
    if client is not None:  # Redis: remove this test's keys, then disconnect
        keys = [k async for k in client.scan_iter(match=f"{store.namespace}:*")]
        if keys:
            await client.delete(*keys)
    await store.close()


@pytest.fixture(params=BACKENDS)
async def store(request):
    s = await _make_store(request.param, f"t-wx-{uuid.uuid4().hex[:12]}")
    yield s
    await _drop_store(s)


@pytest.fixture
async def server(aiohttp_server):
    return await aiohttp_server(create_fake_app(appid=APPID, secret=SECRET))


@pytest.fixture
def state(server):
    return server.app[FAKE_STATE_KEY]


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def base_url(server) -> str:
    return f"http://{server.host}:{server.port}"


def make_client(session, store, server, **kw) -> WeChatClient:
    opts = dict(timeout=2.0, max_retries=3, backoff_base=0.001, backoff_max=0.005)
    opts.update(kw)
    return WeChatClient(
        session, store, appid=APPID, secret=SECRET, base_url=base_url(server), **opts
    )


def count(state, path: str) -> int:
    return len(state.calls_for(path))


async def prefetched(client, state) -> str:
    """Fetch the token first, then forget the calls so a test counts only its own."""
    token = await client.get_access_token()
    state.reset_calls()
    return token


# --- token cache --------------------------------------------------------------------------
async def test_token_cached_and_reused(session, store, server, state):
    client = make_client(session, store, server)
    for i in range(3):
        assert (await client.send_text("o-user", f"hello {i}"))["errcode"] == 0
    assert count(state, STABLE_TOKEN_PATH) == 1
    assert count(state, SEND) == 3
    cached = await store.get_json(f"wechat:token:{APPID}")
    assert cached["token"] == await client.get_access_token()
    assert cached["expires_at"] > time.time() + 7000
    assert await store.ttl(f"wechat:token:{APPID}") > 7000
    assert count(state, STABLE_TOKEN_PATH) == 1
    assert [m["text"]["content"] for m in state.messages["o-user"]] == [
        "hello 0",
        "hello 1",
        "hello 2",
    ]
    assert all("access_token" not in c["query"] for c in state.calls)


async def test_token_refreshed_before_expiry(session, store, server, state, monkeypatch):
    client = make_client(session, store, server)  # refresh_margin=300, fake ttl 7200
    first = await client.get_access_token()
    real_time = time.time
    # 6950 s later: inside the 300 s margin, 250 s before expiry.
    monkeypatch.setattr(time, "time", lambda: real_time() + 6950)
    second = await client.get_access_token()
    assert second != first
    assert count(state, STABLE_TOKEN_PATH) == 2
    assert state.check_token(first) == 0  # the old token had not expired yet
    assert await client.get_access_token() == second
    assert count(state, STABLE_TOKEN_PATH) == 2


async def test_refresh_failure_keeps_valid_cached_token(session, store, server, state, monkeypatch):
    client = make_client(session, store, server, max_retries=1)
    first = await client.get_access_token()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 6950)
    state.inject(_inj(STABLE_TOKEN_PATH, status=503, times=5))
    assert await client.get_access_token() == first  # still valid for 250 s: keep using it
    assert (await client.send_text("o-user", "still works"))["errcode"] == 0


async def test_200_concurrent_calls_fetch_token_once(session, store, server, state, monkeypatch):
    ops = []
    for name in ("get", "set"):
        original = getattr(store, name)

        async def counted(*a, _original=original, _name=name, **kw):
            ops.append(_name)
            return await _original(*a, **kw)

        monkeypatch.setattr(store, name, counted)
    client = make_client(session, store, server)
    results = await asyncio.gather(*(client.send_text(f"o-{i}", "hi") for i in range(200)))
    assert all(r["errcode"] == 0 for r in results)
    assert count(state, STABLE_TOKEN_PATH) == 1
    assert count(state, SEND) == 200
    # De-duplicated in-process too: a few store operations, not one (or a lock poll) each.
    assert len(ops) <= 4, ops


async def test_two_clients_sharing_a_store_fetch_once(session, store, server, state):
    """Two instances = two in-process de-duplicators: only the store lock serialises them."""
    a = make_client(session, store, server)
    b = make_client(session, store, server)
    calls = [c.send_text(f"o-{i}", "hi") for i in range(100) for c in (a, b)]
    await asyncio.gather(*calls)
    assert count(state, STABLE_TOKEN_PATH) == 1
    assert count(state, SEND) == 200


_WORKER = """
import asyncio, sys, time
import aiohttp
from bot.storage.redis import RedisStore
from bot.wechat_client import WeChatClient

async def main(base, redis_url, ns, appid, secret, start_at, n):
    store = RedisStore.from_url(redis_url, namespace=ns)
    async with aiohttp.ClientSession() as session:
        client = WeChatClient(session, store, appid=appid, secret=secret, base_url=base,
                              backoff_base=0.01, backoff_max=0.05)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        results = await asyncio.gather(*(client.send_text(f"p-{i}", "hi") for i in range(n)))
    await store.close()
    print(sum(r["errcode"] == 0 for r in results))

a = sys.argv[1:]
asyncio.run(main(a[0], a[1], a[2], a[3], a[4], float(a[5]), int(a[6])))
"""


# Cross-process sharing needs a shared store: defined for the Redis pass (CI pass 2).
if REDIS_URL:

    async def test_two_processes_fetch_token_once(server, state):
        namespace = f"t-wx-xp-{uuid.uuid4().hex[:12]}"
        start_at = time.time() + 1.5  # both processes fire at the same moment
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [base_url(server), REDIS_URL, namespace, APPID, SECRET, str(start_at), "50"]
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                *args,
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        try:
            outputs = await asyncio.wait_for(
                asyncio.gather(*(p.communicate() for p in procs)), timeout=60
            )
        finally:
            await _drop_store(await _make_store("redis", namespace))
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()
            assert out.decode().strip() == "50"
        assert count(state, SEND) == 100
        assert count(state, STABLE_TOKEN_PATH) == 1


# --- invalid tokens -----------------------------------------------------------------------
async def test_40001_once_refreshes_once_and_retries_once(session, store, server, state):
    client = make_client(session, store, server)
    old = await prefetched(client, state)
    state.inject(_inj(SEND, errcode=40001))
    assert (await client.send_text("o-user", "hi"))["errcode"] == 0
    assert count(state, SEND) == 2
    fetches = state.calls_for(STABLE_TOKEN_PATH)
    # The normal fetch returned the rejected token again, so the client forced a new one.
    assert [c["body"]["force_refresh"] for c in fetches] == [False, True]
    new = await client.get_access_token()
    assert new != old
    assert state.check_token(old) == 40001
    assert count(state, STABLE_TOKEN_PATH) == 2


async def test_expired_token_is_replaced_by_a_normal_fetch(session, store, server, state):
    client = make_client(session, store, server)
    await prefetched(client, state)
    await FakeWeChatControl(session, base_url(server)).expire_tokens()
    state.reset_calls()
    assert (await client.send_text("o-user", "hi"))["errcode"] == 0
    assert [c["errcode"] for c in state.calls_for(SEND)] == [42001, 0]
    assert [c["body"]["force_refresh"] for c in state.calls_for(STABLE_TOKEN_PATH)] == [False]


async def test_40001_every_time_never_loops(session, store, server, state):
    client = make_client(session, store, server)
    await prefetched(client, state)
    state.inject(_inj(SEND, errcode=40001, times=100))
    with pytest.raises(WeChatAPIError) as err:
        await client.send_text("o-user", "hi")
    assert err.value.errcode == 40001
    assert err.value.path == SEND
    assert count(state, SEND) == 2
    assert count(state, STABLE_TOKEN_PATH) <= 2


async def test_concurrent_40001_refresh_once(session, store, server, state):
    client = make_client(session, store, server)
    await prefetched(client, state)
    state.inject(_inj(SEND, errcode=40001, times=50))
    results = await asyncio.gather(*(client.send_text(f"o-{i}", "hi") for i in range(50)))
    assert all(r["errcode"] == 0 for r in results)
    assert count(state, SEND) == 100
    assert count(state, STABLE_TOKEN_PATH) == 2  # one normal, one forced: for all 50


async def test_cache_compare_and_delete_keeps_a_newer_token(session, store, server, state):
    """A stale rejection must not drop a token another process has just stored."""
    client = make_client(session, store, server)
    old = await client.get_access_token()
    newer = (await _stable(session, server, force=True))["access_token"]
    await store.set_json(
        f"wechat:token:{APPID}",
        {"token": newer, "expires_at": time.time() + 7000, "refresh_at": time.time() + 6700},
        ttl=7000,
    )
    state.reset_calls()
    assert await client._replace_rejected(old) == newer
    assert count(state, STABLE_TOKEN_PATH) == 0
    assert (await store.get_json(f"wechat:token:{APPID}"))["token"] == newer


# --- transient and permanent errors --------------------------------------------------------
async def test_45009_twice_then_ok(session, store, server, state):
    client = make_client(session, store, server)
    state.inject(_inj(SEND, errcode=45009, times=2))
    assert (await client.send_text("o-user", "hi"))["errcode"] == 0
    assert [c["errcode"] for c in state.calls_for(SEND)] == [45009, 45009, 0]
    assert len(state.messages["o-user"]) == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 502}, -502),
        ({"status": 500}, -500),
        ({"errcode": -1}, -1),
        ({"errcode": 45011}, 45011),
    ],
)
async def test_transient_beyond_the_bound_raises(session, store, server, state, fault, expected):
    client = make_client(session, store, server, max_retries=2)
    await prefetched(client, state)
    state.inject(_inj(SEND, times=100, **fault))
    with pytest.raises(WeChatAPIError) as err:
        await client.send_text("o-user", "hi")
    assert err.value.errcode == expected
    assert err.value.retryable
    assert count(state, SEND) == 3  # max_retries + 1


@pytest.mark.parametrize("errcode", [43004, 40003, 43101, 48001])
async def test_permanent_error_is_not_retried(session, store, server, state, errcode):
    client = make_client(session, store, server)
    await prefetched(client, state)
    state.inject(_inj(SEND, errcode=errcode))
    with pytest.raises(WeChatAPIError) as err:
        await client.send_text("o-user", "hi")
    assert err.value.errcode == errcode
    assert not err.value.retryable
    assert "rid:" in err.value.errmsg
    assert count(state, SEND) == 1
    assert count(state, STABLE_TOKEN_PATH) == 0


async def test_slow_answer_times_out_is_retried_then_raises(session, store, server, state):
    client = make_client(session, store, server, timeout=0.15, max_retries=2)
    await prefetched(client, state)
    state.inject(_inj(SEND, delay=0.6, times=100))
    started = time.monotonic()
    with pytest.raises(WeChatAPIError) as err:
        await client.send_text("o-user", "hi")
    assert err.value.errcode == ERR_TIMEOUT
    assert count(state, SEND) == 3
    assert time.monotonic() - started < 1.0  # three 0.15 s timeouts, not three 0.6 s waits


async def test_slow_answer_once_then_ok(session, store, server, state):
    client = make_client(session, store, server, timeout=0.15)
    await prefetched(client, state)
    state.inject(_inj(SEND, delay=0.6))
    assert (await client.send_text("o-user", "hi"))["errcode"] == 0
    assert count(state, SEND) == 2


async def test_connection_refused_is_bounded(session, store):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeChatClient(
        session,
        store,
        appid=APPID,
        secret=SECRET,
        base_url=f"http://127.0.0.1:{port}",
        timeout=0.5,
        max_retries=2,
        backoff_base=0.001,
        backoff_max=0.002,
    )
    with pytest.raises(WeChatAPIError) as err:
        await client.send_text("o-user", "hi")
    assert err.value.errcode == ERR_CONNECTION
    assert err.value.path == STABLE_TOKEN_PATH


async def test_wrong_secret_is_permanent(session, store, server, state):
    client = WeChatClient(session, store, appid=APPID, secret="wrong", base_url=base_url(server))
    with pytest.raises(WeChatAPIError) as err:
        await client.get_access_token()
    assert err.value.errcode == 40125
    assert count(state, STABLE_TOKEN_PATH) == 1


# --- API helpers ----------------------------------------------------------------------------
async def test_api_helpers(session, store, server, state):
    client = make_client(session, store, server)
    menu = {"button": [{"type": "click", "name": "政策查询", "key": "POLICY"}]}
    assert (await client.create_menu(menu))["errcode"] == 0
    assert state.menu == menu
    assert state.calls_for("/cgi-bin/menu/create")[0]["body"] == menu

    state.users["o-1"] = {"openid": "o-1", "nickname": "张三", "subscribe": 1}
    info = await client.get_user_info("o-1")
    assert info["nickname"] == "张三" and info["subscribe"] == 1

    sent = await client.send_template_message(
        "o-1", "TPL1", {"thing1": {"value": "评审通过"}}, url="https://example.com/x"
    )
    assert isinstance(sent["msgid"], int)
    await client.send_subscribe_message("o-1", "SUB1", {"thing2": {"value": "x"}}, page="p/i")
    await client.send_custom_message("o-1", {"msgtype": "image", "image": {"media_id": "M"}})
    kinds = [m["kind"] for m in state.messages["o-1"]]
    assert kinds == ["template", "subscribe", "custom"]
    assert state.messages["o-1"][0]["msgid"] == sent["msgid"]
    assert state.messages["o-1"][1]["page"] == "p/i"

    state.inject(_inj("/cgi-bin/media/upload", status=502))  # multipart body rebuilt on retry
    up = await client.upload_media("image", "card.png", b"\x89PNG fake bytes")
    assert up["type"] == "image" and up["media_id"] and up["created_at"] > 0
    uploads = state.calls_for("/cgi-bin/media/upload")
    assert [c["status"] for c in uploads] == [502, 200]
    assert uploads[1]["body"]["media"] == {"filename": "card.png", "size": 15}
    assert uploads[1]["query"] == {"type": "image"}


async def test_json_body_is_raw_utf8(session, store, aiohttp_server):
    """Chinese goes out as UTF-8, not as \\u escapes (WeChat shows those literally)."""
    seen = []

    async def capture(request):
        seen.append(await request.read())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def token(request):
        return web.json_response({"access_token": "T", "expires_in": 7200})

    app = web.Application()
    app.router.add_post(SEND, capture)
    app.router.add_post(STABLE_TOKEN_PATH, token)
    other = await aiohttp_server(app)
    client = make_client(session, store, other)
    await client.send_text("o-1", "你好")
    assert "你好".encode() in seen[0]


# --- logging --------------------------------------------------------------------------------
async def test_logs_never_contain_token_or_secret(session, store, server, state, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(session, store, server, timeout=0.15, max_retries=1)
    await client.send_text("o-user", "hi")
    state.inject(_inj(SEND, errcode=40001))
    await client.send_text("o-user", "hi")
    state.inject(_inj(SEND, status=500))
    await client.send_text("o-user", "hi")
    state.inject(_inj(SEND, delay=0.5, times=2))
    with pytest.raises(WeChatAPIError) as timeout_err:
        await client.send_text("o-user", "hi")
    state.inject(_inj(SEND, errcode=43004))
    with pytest.raises(WeChatAPIError) as perm_err:
        await client.send_text("o-user", "hi")
    await client.get_access_token(force_refresh=True)

    ours = [r for r in caplog.records if r.name.startswith("bot")]
    assert any(getattr(r, "wx_path", None) == SEND for r in ours)
    lines = [r.getMessage() + repr(r.__dict__) for r in ours]
    lines += [str(timeout_err.value), str(perm_err.value), repr(client)]
    tokens = list(state.tokens)
    assert len(tokens) >= 2
    for line in lines:
        assert SECRET not in line
        assert "access_token=" not in line
        for token in tokens:
            assert token not in line
    messages = [r.getMessage() for r in ours if getattr(r, "wx_path", None) == SEND]
    assert any("attempt=2" in m and "errcode=0" in m for m in messages)
    assert all("elapsed_ms=" in m for m in messages)


# --- helpers --------------------------------------------------------------------------------
def _inj(path, **kw) -> Injection:
    return Injection(path=path, **kw)


async def _stable(session, server, *, force: bool) -> dict:
    body = {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": force,
    }
    async with session.post(base_url(server) + STABLE_TOKEN_PATH, json=body) as resp:
        return await resp.json()
