"""/healthz checks the database and the store; logs are JSON lines with a request id and
never carry secrets."""

from __future__ import annotations

import io
import json
import logging

from bot.app import create_app
from bot.appkeys import STORE
from bot.logs import JsonFormatter
from tests.conftest import SECRET, TOKEN


async def test_healthz_reports_database_and_store(service):
    resp = await service.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "store": "ok"}


async def test_healthz_is_503_when_the_store_is_down(aiohttp_client, make_settings):
    app = create_app(make_settings())
    client = await aiohttp_client(app)

    async def broken() -> bool:
        raise ConnectionError("store unreachable")

    app[STORE].ping = broken
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["store"] == "fail"


async def test_request_id_is_echoed_or_generated(service):
    resp = await service.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert resp.headers["X-Request-Id"] == "abc123"
    resp = await service.get("/healthz")
    assert len(resp.headers["X-Request-Id"]) == 16


async def test_log_lines_are_json_with_request_id_and_no_secrets(service, sim_for,
                                                                 fake_control):
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        # A deferred reply makes the client fetch a token and call the API.
        await service.post("/wechat", headers={"X-Request-Id": "rid-42"})
        reply = await sim_for().send_text("o_logs", "多条")
        assert reply.status == 200
        for _ in range(40):
            if len(await fake_control.messages("o_logs")) == 2:
                break
            import asyncio

            await asyncio.sleep(0.05)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    assert lines, "no log lines captured"
    assert any(r.get("request_id") == "rid-42" for r in lines)
    assert all({"ts", "level", "logger", "msg", "request_id"} <= set(r) for r in lines)
    calls = await fake_control.calls("/cgi-bin/stable_token")
    assert calls, "expected a token fetch"
    text = buf.getvalue()
    assert SECRET not in text and TOKEN not in text
    for call in await fake_control.calls():
        token = (call.get("query") or {}).get("access_token")
        assert not token or token not in text


async def test_embedded_mode_tells_where_its_fake_platform_is(service):
    resp = await service.get("/_dev/fake-wechat")
    assert resp.status == 200
    base = (await resp.json())["fake_wechat"]
    async with service.session.get(f"{base}/_fake/calls") as fake:
        assert fake.status == 200


async def test_no_fake_platform_route_with_a_real_api_base(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(
        wechat_api_base="https://api.weixin.qq.com")))
    assert (await client.get("/_dev/fake-wechat")).status == 404
