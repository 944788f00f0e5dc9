"""Incoming messages and replies, as plain dataclasses.

Why our own types: handlers should not depend on wechatpy's classes (or on whether a
reply goes out passively in the HTTP answer or later as a customer-service message).
wechatpy does the XML parsing and rendering at the edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from wechatpy import parse_message
from wechatpy.messages import MESSAGE_TYPES
from wechatpy.replies import ArticlesReply, ImageReply

from bot.flat_xml import cdata, parse_flat, xmltodict_view


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message or event from a user, as WeChat delivered it."""

    openid: str
    account: str  # ToUserName: our account's original id
    type: str  # text, image, voice, video, location, link, event, unknown
    create_time: int
    msg_id: int | None = None
    content: str = ""
    event: str | None = None  # lower-case: subscribe, unsubscribe, click, scan, view
    event_key: str | None = None
    media_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dedup_id(self) -> str:
        """WeChat's retry identity: MsgId, or FromUserName+CreateTime for events (WeChat's
        advice), with the event and its key: two different menu clicks within one second
        are two messages, and a retry repeats both."""
        if self.msg_id is not None:
            return f"m{self.msg_id}"
        return f"e{self.openid}:{self.create_time}:{self.event or ''}:{self.event_key or ''}"

    @property
    def text(self) -> str:
        return self.content.strip()

    @classmethod
    def from_xml(cls, xml: str | bytes) -> Incoming:
        """Parse a message; raises ValueError on XML that is not a WeChat message.

        A flat user message (text, image, ...) takes the fast path of `bot.flat_xml`,
        which gives the same fields xmltodict would (tested); events and anything else
        are read by xmltodict, as wechatpy's `parse_message` reads them, but not through
        it: it rewrites a subscribe whose EventKey holds a QR scene or a barcode into
        'subscribe_scan' (and strips the key), in the very dict it returns, so a user who
        followed through a parametric QR code was not seen as subscribing."""
        flat = parse_flat(xml)
        if flat is not None:
            raw = xmltodict_view(flat)
            declared = raw.get("MsgType")
            if declared is not None and declared.lower() in MESSAGE_TYPES:
                return cls._from_raw(raw, declared.lower())
        try:
            doc = xmltodict.parse(xml)["xml"]
            declared = str(doc["MsgType"]).lower()
            # wechatpy's type only matters beyond events (device_text, unknown types)
            parsed = "event" if declared == "event" else parse_message(xml).type
        except Exception as exc:  # xmltodict raises assorted errors; no <xml>, no MsgType
            raise ValueError("malformed XML") from exc
        return cls._from_raw(dict(doc), parsed)

    @classmethod
    def _from_raw(cls, raw: dict[str, Any], parsed_type: str) -> Incoming:
        if not raw.get("FromUserName") or not raw.get("ToUserName"):
            raise ValueError("message lacks FromUserName/ToUserName")
        try:
            create_time = int(raw.get("CreateTime") or 0)
            msg_id = int(raw["MsgId"]) if raw.get("MsgId") else None
        except (TypeError, ValueError) as exc:
            raise ValueError("CreateTime/MsgId is not a number") from exc
        mtype = str(raw.get("MsgType") or "unknown").lower()
        event = str(raw["Event"]).lower() if raw.get("Event") else None
        key = raw.get("EventKey")
        return cls(
            openid=str(raw["FromUserName"]),
            account=str(raw["ToUserName"]),
            type=_known_type(mtype, parsed_type),
            create_time=create_time,
            msg_id=msg_id,
            content=str(raw.get("Content") or ""),
            event=event,
            event_key=str(key) if key not in (None, "") else None,
            media_id=str(raw["MediaId"]) if raw.get("MediaId") else None,
            raw=raw,
        )


def _known_type(declared: str, parsed: str) -> str:
    """Events stay events; a MsgType wechatpy does not know becomes "unknown"."""
    if declared == "event":
        return "event"
    return declared if parsed != "unknown" else "unknown"


class Reply:
    """A reply a handler returns; renders as passive XML or as a customer-service message."""

    def to_xml(self, incoming: Incoming) -> str:
        raise NotImplementedError

    def to_custom_message(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Text(Reply):
    content: str

    def to_xml(self, incoming: Incoming) -> str:
        """wechatpy's TextReply, character for character (tested), written directly: its
        field objects cost 31 µs per reply in the served webhook. One difference: a
        "]]>" in the text is split across CDATA sections (wechatpy writes broken XML)."""
        return (f"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n"
                f"<Content>{cdata(self.content)}</Content>\n"
                f"<FromUserName>{cdata(incoming.account)}</FromUserName>\n"
                f"<ToUserName>{cdata(incoming.openid)}</ToUserName>\n"
                f"<CreateTime>{int(time.time())}</CreateTime>\n</xml>")

    def to_custom_message(self) -> dict[str, Any]:
        return {"msgtype": "text", "text": {"content": self.content}}


@dataclass(frozen=True, slots=True)
class Image(Reply):
    media_id: str

    def to_xml(self, incoming: Incoming) -> str:
        return _render(ImageReply(media_id=self.media_id), incoming)

    def to_custom_message(self) -> dict[str, Any]:
        return {"msgtype": "image", "image": {"media_id": self.media_id}}


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    description: str
    url: str
    image: str = ""


@dataclass(frozen=True, slots=True)
class News(Reply):
    articles: tuple[Article, ...]

    def to_xml(self, incoming: Incoming) -> str:
        items = [
            {"title": a.title, "description": a.description, "image": a.image, "url": a.url}
            for a in self.articles
        ]
        return _render(ArticlesReply(articles=items), incoming)

    def to_custom_message(self) -> dict[str, Any]:
        a = self.articles[0]
        return {
            "msgtype": "news",
            "news": {
                "articles": [
                    {"title": a.title, "description": a.description, "url": a.url,
                     "picurl": a.image}
                ]
            },
        }


def _render(reply: Any, incoming: Incoming) -> str:
    # The reply goes back from our account to the user.
    reply.source = incoming.account
    reply.target = incoming.openid
    reply.time = int(time.time())
    return reply.render()


def as_replies(result: Any) -> list[Reply]:
    """Normalise what a handler returned: None, a str, a Reply, or a list of them."""
    if result is None:
        return []
    if isinstance(result, str):
        return [Text(result)] if result else []
    if isinstance(result, Reply):
        return [result]
    out: list[Reply] = []
    for item in result:
        out.extend(as_replies(item))
    return out
