"""The fake WeChat API server (aiohttp), for development and tests.

Like the real platform, template sends that carry a `client_msg_id` are deduplicated per
(openid, client_msg_id): a repeat gets the first answer and adds no message (WeChat keeps
the key 10 minutes; the fake keeps it for its lifetime). Subscribe notifications (bizsend)
have no such field on the real platform, so the fake does not deduplicate them either.

Why: the real platform cannot be driven into timeouts, 5xx, quota errors or expired tokens
on demand, and it needs a public server. This app answers the endpoints WeChatClient uses
with WeChat's JSON shapes and errcodes, records every call (the token stripped from the
query), keeps the messages sent to each openid, and takes faults through `/_fake/inject`.

Mind the access log of whatever runner serves this app: aiohttp's default format logs the
request line, query (and so the fake token) included.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from bot.fake_platform.state import ERRMSGS, FakeWeChatState, Injection, error

FAKE_STATE_KEY = web.AppKey("fake_wechat_state", FakeWeChatState)

DEFAULT_APPID = "wxfakeappid000000"
DEFAULT_SECRET = "fake-app-secret-0000000000000000"  # noqa: S105 (the fake's own default)

MSG_TYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard"}
MEDIA_TYPES = {"image", "voice", "video", "thumb"}

Handler = Callable[[web.Request, FakeWeChatState, Any], Awaitable[dict]]
_dumps = partial(json.dumps, ensure_ascii=False)
_INVALID_JSON = object()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _read_body(request: web.Request, kind: str) -> Any:
    """JSON body, multipart parts ({name: {filename, content_type, data}}) or None."""
    if kind == "none":
        return None
    if kind == "multipart":
        parts: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                parts[part.name or ""] = {
                    "filename": part.filename,
                    "content_type": part.headers.get("Content-Type"),
                    "data": bytes(await part.read(decode=False)),
                }
        return parts
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _for_record(body: Any) -> Any:
    """What the call log keeps: JSON as sent (secret masked), file parts without bytes."""
    if body is _INVALID_JSON:
        return "<invalid JSON>"
    if isinstance(body, dict):
        out = {}
        for k, v in body.items():
            if k == "secret":
                out[k] = "***"
            elif isinstance(v, dict) and isinstance(v.get("data"), bytes):
                out[k] = {"filename": v["filename"], "size": len(v["data"])}
            else:
                out[k] = v
        return out
    return body


def api(handler: Handler, *, token: bool = True, body: str = "json") -> Callable:
    """Wrap an endpoint: record the call, apply injected faults, check the token."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[FAKE_STATE_KEY]
        payload = await _read_body(request, body)
        call = state.record(request.path, request.method, dict(request.query), _for_record(payload))
        inj = state.take_injection(request.path)
        if inj is not None and inj.delay > 0:
            await asyncio.sleep(inj.delay)
        if inj is not None and inj.status != 200:
            call.update(status=inj.status, errcode=None)
            return web.Response(status=inj.status, text=f"fake HTTP {inj.status}")
        if inj is not None and inj.errcode is not None:
            result = error(inj.errcode, inj.errmsg)
        elif token and (code := state.check_token(request.query.get("access_token"))):
            result = error(code)
        elif payload is _INVALID_JSON:
            result = error(47001)
        else:
            result = await handler(request, state, payload)
        call.update(status=200, errcode=int(result.get("errcode", 0)))
        return _json(result)

    return endpoint


# --- token endpoints ---------------------------------------------------------------------
def _check_credentials(state: FakeWeChatState, appid: Any, secret: Any) -> dict | None:
    if appid != state.appid:
        return error(40013)
    if secret != state.secret:
        return error(40125)
    return None


async def stable_token(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    body = body if isinstance(body, dict) else {}
    if body.get("grant_type") != "client_credential":
        return error(40002)
    if bad := _check_credentials(state, body.get("appid"), body.get("secret")):
        return bad
    token, expires_in = state.stable_token(force=bool(body.get("force_refresh")))
    return {"access_token": token, "expires_in": expires_in}


async def legacy_token(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    q = request.query
    if q.get("grant_type") != "client_credential":
        return error(40002)
    if bad := _check_credentials(state, q.get("appid"), q.get("secret")):
        return bad
    token, expires_in = state.legacy_token()
    return {"access_token": token, "expires_in": expires_in}


# --- API endpoints -----------------------------------------------------------------------
def _openid(state: FakeWeChatState, body: dict, field: str = "touser") -> tuple[str, dict | None]:
    openid = body.get(field)
    if not isinstance(openid, str) or not openid:
        return "", error(40003)
    if state.is_unsubscribed(openid):
        return openid, error(43004)
    return openid, None


async def custom_send(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    body = body if isinstance(body, dict) else {}
    openid, bad = _openid(state, body)
    if bad:
        return bad
    msgtype = body.get("msgtype")
    if msgtype not in MSG_TYPES or not isinstance(body.get(msgtype), dict):
        return error(40008)
    if msgtype == "text" and not body["text"].get("content"):
        return error(44003, "empty content")
    state.add_message(openid, "custom", {"msgtype": msgtype, msgtype: body[msgtype]})
    return error(0)


async def template_send(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    body = body if isinstance(body, dict) else {}
    openid, bad = _openid(state, body)
    if bad:
        return bad
    if not body.get("template_id"):
        return error(40037)
    if (seen := state.replay("template", openid, body)) is not None:
        return seen
    fields = {k: body[k] for k in ("template_id", "url", "miniprogram", "data") if k in body}
    msg = state.add_message(openid, "template", fields)
    return state.remember("template", openid, body, {**error(0), "msgid": msg["msgid"]})


async def subscribe_send(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    body = body if isinstance(body, dict) else {}
    openid, bad = _openid(state, body)
    if bad:
        return bad
    if not body.get("template_id"):
        return error(40037)
    if (seen := state.replay("subscribe", openid, body)) is not None:  # never: see state
        return seen
    fields = {k: body[k] for k in ("template_id", "page", "miniprogram", "data") if k in body}
    state.add_message(openid, "subscribe", fields)
    return state.remember("subscribe", openid, body, error(0))


async def menu_create(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    buttons = body.get("button") if isinstance(body, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return error(40016)
    state.menu = {"button": buttons}
    return error(0)


async def menu_get(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    if state.menu is None:
        return error(46003)
    return {"menu": state.menu}


async def user_info(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    openid = request.query.get("openid")
    if not openid:
        return error(40003)
    user = state.user(openid) or {}
    if not int(user.get("subscribe", 1)):
        return {"subscribe": 0, "openid": openid}
    info = {
        "subscribe": 1,
        "openid": openid,
        "language": request.query.get("lang", "zh_CN"),
        "subscribe_time": 1_700_000_000,
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 0,
        "qr_scene_str": "",
    }
    return {**info, **user}


async def media_upload(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    media_type = request.query.get("type")
    if media_type not in MEDIA_TYPES:
        return error(40004)
    part = body.get("media") if isinstance(body, dict) else None
    if not part or not part["data"]:
        return error(41005)
    media_id = secrets.token_urlsafe(48)
    created_at = int(time.time())
    state.media[media_id] = {
        "type": media_type,
        "filename": part["filename"],
        "size": len(part["data"]),
        "created_at": created_at,
    }
    return {"type": media_type, "media_id": media_id, "created_at": created_at}


async def qrcode_create(request: web.Request, state: FakeWeChatState, body: Any) -> dict:
    body = body if isinstance(body, dict) else {}
    action = body.get("action_name")
    if action not in {"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}:
        return error(40097, "invalid args")
    scene = (body.get("action_info") or {}).get("scene") or {}
    ticket = "gQ" + secrets.token_urlsafe(60)
    result: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}"}
    if "LIMIT" not in action:
        result["expire_seconds"] = int(body.get("expire_seconds") or 60)
    state.qrcodes[ticket] = {"action_name": action, "scene": scene, **result}
    return result


# --- control API -------------------------------------------------------------------------
async def fake_calls(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE_KEY]
    if request.method == "DELETE":
        state.reset_calls()
        return _json({"ok": True})
    return _json({"calls": state.calls_for(request.query.get("path"))})


async def fake_messages(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE_KEY]
    openid = request.query.get("openid")
    if request.query.get("summary"):  # {openid: count}: cheap for 100,000 messages
        return _json({"counts": {o: len(m) for o, m in state.messages.items()},
                      "replayed": state.replayed})
    if openid is None:
        return _json({"messages": state.messages})
    return _json({"messages": state.messages.get(openid, [])})


async def fake_inject(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE_KEY]
    try:
        spec = await request.json()
        inj = Injection(
            path=str(spec["path"]),
            errcode=None if spec.get("errcode") is None else int(spec["errcode"]),
            errmsg=spec.get("errmsg"),
            status=int(spec.get("status", 200)),
            delay=float(spec.get("delay", 0)),
            times=int(spec.get("times", 1)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        return _json({"error": f"bad injection: {exc!r}"}, status=400)
    if inj.times < 1 or inj.delay < 0 or not 100 <= inj.status <= 599:
        return _json({"error": "times >= 1, delay >= 0, 100 <= status <= 599"}, status=400)
    state.inject(inj)
    return _json({"ok": True, "pending": state.pending_injections()})


async def fake_expire_tokens(request: web.Request) -> web.Response:
    return _json({"ok": True, "expired": request.app[FAKE_STATE_KEY].expire_tokens()})


async def fake_menu(request: web.Request) -> web.Response:
    return _json({"menu": request.app[FAKE_STATE_KEY].menu})


async def fake_users(request: web.Request) -> web.Response:
    state = request.app[FAKE_STATE_KEY]
    if request.method == "GET":
        return _json({"users": state.users})
    try:
        data = await request.json()
    except ValueError:
        return _json({"error": "body must be JSON"}, status=400)
    users = data if isinstance(data, list) else data.get("users", [data])
    for user in users:
        if not isinstance(user, dict) or not user.get("openid"):
            return _json({"error": "each user needs an openid"}, status=400)
        state.users[user["openid"]] = {**state.users.get(user["openid"], {}), **user}
    return _json({"ok": True, "count": len(users)})


def create_fake_app(
    *,
    appid: str = DEFAULT_APPID,
    secret: str = DEFAULT_SECRET,
    token_ttl: int = 7200,
    renew_before: int = 300,
) -> web.Application:
    """A fresh fake platform with its own FakeWeChatState at app[FAKE_STATE_KEY]."""
    app = web.Application()
    app[FAKE_STATE_KEY] = FakeWeChatState(
        appid=appid, secret=secret, token_ttl=token_ttl, renew_before=renew_before
    )
    r = app.router
    r.add_post("/cgi-bin/stable_token", api(stable_token, token=False))
    r.add_get("/cgi-bin/token", api(legacy_token, token=False, body="none"))
    r.add_post("/cgi-bin/message/custom/send", api(custom_send))
    r.add_post("/cgi-bin/menu/create", api(menu_create))
    r.add_get("/cgi-bin/menu/get", api(menu_get, body="none"))
    r.add_get("/cgi-bin/user/info", api(user_info, body="none"))
    r.add_post("/cgi-bin/message/template/send", api(template_send))
    r.add_post("/cgi-bin/message/subscribe/bizsend", api(subscribe_send))
    r.add_post("/cgi-bin/media/upload", api(media_upload, body="multipart"))
    r.add_post("/cgi-bin/qrcode/create", api(qrcode_create))
    r.add_get("/_fake/calls", fake_calls)
    r.add_delete("/_fake/calls", fake_calls)
    r.add_get("/_fake/messages", fake_messages)
    r.add_post("/_fake/inject", fake_inject)
    r.add_post("/_fake/expire_tokens", fake_expire_tokens)
    r.add_get("/_fake/menu", fake_menu)
    r.add_get("/_fake/users", fake_users)
    r.add_post("/_fake/users", fake_users)
    return app


__all__ = ["DEFAULT_APPID", "DEFAULT_SECRET", "ERRMSGS", "FAKE_STATE_KEY", "create_fake_app"]
