"""Small factories for incoming messages (aiogram style)."""

from __future__ import annotations

import itertools
import time

from bot.messages import Incoming

_ids = itertools.count(int(time.time() * 1000) * 1000)


def text(content: str, openid: str = "o_user", *, msg_id: int | None = None,
         create_time: int | None = None) -> Incoming:
    return Incoming(openid=openid, account="gh_test", type="text",
                    create_time=create_time or int(time.time()),
                    msg_id=msg_id if msg_id is not None else next(_ids), content=content)


def event(name: str, openid: str = "o_user", key: str | None = None) -> Incoming:
    return Incoming(openid=openid, account="gh_test", type="event",
                    create_time=int(time.time()), event=name.lower(), event_key=key)


def text_xml(content: str, openid: str = "o_user", *, msg_id: int | None = None,
             create_time: int | None = None) -> bytes:
    mid = msg_id if msg_id is not None else next(_ids)
    ct = create_time or int(time.time())
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{ct}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{mid}</MsgId></xml>"
    ).encode()


def event_xml(name: str, key: str | None = None, openid: str = "o_user", *,
              create_time: int | None = None) -> bytes:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>{key_xml}</xml>"
    ).encode()


def next_msg_id() -> int:
    return next(_ids)
