"""UserSimulator: plays the WeChat server pushing a user's messages to our webhook.

Why: the webhook must be exercised exactly as WeChat calls it (signed query, plain /
compatible / safe-mode XML, resending the same message when no answer comes within 5 s)
without a phone or a public URL. Crypto is wechatpy's PrpCrypto, the algorithm WeChat
publishes; the key is base64-decoded from the 43-character EncodingAESKey plus "=".
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import xml.etree.ElementTree as ET  # noqa: S405 (parses our own webhook's replies)
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from wechatpy.crypto import PrpCrypto

from bot.flat_xml import cdata

Mode = Literal["plain", "compat", "safe"]
MODES = ("plain", "compat", "safe")
DEFAULT_ACCOUNT = "gh_0fakeaccount"  # ToUserName: the official account's original ID


class SimulatorError(Exception):
    """The webhook's answer is one WeChat would reject (bad signature, bad XML, ...)."""


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 over the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


def aes_key_bytes(aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    key = base64.b64decode(aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def encrypt(xml: str, *, aes_key: str, appid: str) -> str:
    return PrpCrypto(aes_key_bytes(aes_key)).encrypt(xml, appid).decode()


def verify_and_decrypt(
    encrypted: str,
    *,
    token: str,
    aes_key: str,
    appid: str,
    msg_signature: str,
    timestamp: str,
    nonce: str,
) -> str:
    """Check msg_signature, decrypt, check the appid inside; the plaintext XML."""
    if sign(token, timestamp, nonce, encrypted) != msg_signature:
        raise SimulatorError("msg_signature does not match")
    try:
        return PrpCrypto(aes_key_bytes(aes_key)).decrypt(encrypted, appid)
    except Exception as exc:  # wechatpy raises bare/various exceptions on bad input
        raise SimulatorError(f"cannot decrypt: {type(exc).__name__}") from exc


def parse_xml(text: str | bytes) -> dict[str, Any]:
    """Flat-ish dict of a WeChat XML document (children of <xml>; nested ones as dicts)."""

    def conv(el: ET.Element) -> Any:
        children = list(el)
        if not children:
            return el.text or ""
        return {c.tag: conv(c) for c in children}

    try:
        root = ET.fromstring(text)  # noqa: S314 (our webhook's replies, size-bounded)
    except ET.ParseError as exc:
        raise SimulatorError(f"reply is not XML: {exc}") from exc
    result = conv(root)
    return result if isinstance(result, dict) else {}


@dataclass
class SimReply:
    """What the webhook answered, as WeChat would see it."""

    status: int | None  # None: no answer within reply_timeout on every attempt
    body: bytes
    reply: dict[str, Any] | None  # parsed (decrypted) reply XML; None for "success"/empty
    attempts: int
    encrypted: bool = False
    request_xml: str = ""
    timings: list[float] = field(default_factory=list)  # seconds per attempt

    @property
    def timed_out(self) -> bool:
        return self.status is None

    @property
    def msg_type(self) -> str | None:
        return None if self.reply is None else self.reply.get("MsgType")

    @property
    def content(self) -> str | None:
        """Text of a text reply, else None."""
        if self.reply is None or self.reply.get("MsgType") != "text":
            return None
        return self.reply.get("Content")


class UserSimulator:
    """Send user messages/events to a webhook the way WeChat does."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        webhook_url: str,
        *,
        token: str,
        appid: str,
        aes_key: str | None = None,
        mode: Mode = "plain",
        reply_timeout: float = 5.0,
        retries: int = 3,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode != "plain" and not aes_key:
            raise ValueError(f"mode {mode!r} needs aes_key")
        self.session = session
        self.webhook_url = webhook_url
        self.token = token
        self.appid = appid
        self.aes_key = aes_key
        self.mode = mode
        self.reply_timeout = reply_timeout
        self.retries = max(1, retries)
        self.account = account
        if aes_key:
            aes_key_bytes(aes_key)  # fail early on a malformed key

    # --- message XML -------------------------------------------------------------------
    def message_xml(
        self, openid: str, msg_type: str, fields: dict[str, Any], create_time: int | None = None
    ) -> str:
        """<xml> with ToUserName, FromUserName, CreateTime, MsgType, then `fields` in order.

        str values become CDATA, ints stay bare, as in WeChat's pushes.
        """
        lines = [
            f"<ToUserName>{cdata(self.account)}</ToUserName>",
            f"<FromUserName>{cdata(openid)}</FromUserName>",
            f"<CreateTime>{int(create_time or time.time())}</CreateTime>",
            f"<MsgType>{cdata(msg_type)}</MsgType>",
        ]
        for name, value in fields.items():
            text = cdata(value) if isinstance(value, str) else str(int(value))
            lines.append(f"<{name}>{text}</{name}>")
        return "<xml>" + "".join(lines) + "</xml>"

    @staticmethod
    def new_msg_id() -> int:
        return 10**18 + secrets.randbelow(9 * 10**18)

    def text_xml(
        self,
        openid: str,
        content: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> str:
        msg_id = msg_id or self.new_msg_id()
        return self.message_xml(openid, "text", {"Content": content, "MsgId": msg_id}, create_time)

    def event_xml(
        self,
        openid: str,
        event: str,
        event_key: str | None = None,
        *,
        ticket: str | None = None,
        create_time: int | None = None,
    ) -> str:
        fields: dict[str, Any] = {"Event": event}
        if event_key is not None:
            fields["EventKey"] = event_key
        if ticket is not None:
            fields["Ticket"] = ticket
        return self.message_xml(openid, "event", fields, create_time)

    def image_xml(
        self,
        openid: str,
        media_id: str,
        *,
        msg_id: int | None = None,
        pic_url: str | None = None,
        create_time: int | None = None,
    ) -> str:
        msg_id = msg_id or self.new_msg_id()
        url = pic_url or f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id[:16]}/0"
        fields = {"PicUrl": url, "MediaId": media_id, "MsgId": msg_id}
        return self.message_xml(openid, "image", fields, create_time)

    # --- sending -----------------------------------------------------------------------
    def build(
        self,
        xml: str | bytes,
        *,
        openid: str | None = None,
        timestamp: int | str | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """(query params, body) of one push, signed (and encrypted) but not sent."""
        xml = xml.decode() if isinstance(xml, bytes) else xml
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(9 * 10**9) + 10**9)
        if openid is None:
            found = re.search(r"<FromUserName><!\[CDATA\[(.*?)\]\]></FromUserName>", xml)
            openid = found.group(1) if found else ""
        params = {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
        }
        if self.mode == "plain":
            return params, xml.encode()
        assert self.aes_key is not None
        enc = encrypt(xml, aes_key=self.aes_key, appid=self.appid)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(self.token, timestamp, nonce, enc)
        enc_el = f"<Encrypt>{cdata(enc)}</Encrypt>"
        if self.mode == "safe":
            body = f"<xml><ToUserName>{cdata(self.account)}</ToUserName>{enc_el}</xml>"
        else:  # compat: the plaintext fields and the ciphertext side by side
            body = xml[: xml.rindex("</xml>")] + enc_el + "</xml>"
        return params, body.encode()

    async def send_raw(self, xml: str | bytes, *, openid: str | None = None) -> SimReply:
        """Push `xml`; resend it (fresh nonce/timestamp/signature) while no answer comes."""
        text = xml.decode() if isinstance(xml, bytes) else xml
        timeout = aiohttp.ClientTimeout(total=self.reply_timeout)
        headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}
        timings: list[float] = []
        for attempt in range(1, self.retries + 1):
            params, body = self.build(text, openid=openid)
            started = time.monotonic()
            try:
                async with self.session.post(
                    self.webhook_url, params=params, data=body, headers=headers, timeout=timeout
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError):
                timings.append(time.monotonic() - started)
                continue
            timings.append(time.monotonic() - started)
            return self._reply(status, raw, attempt, text, timings)
        return SimReply(None, b"", None, self.retries, request_xml=text, timings=timings)

    def read_reply(self, status: int, raw: bytes) -> SimReply:
        """Read an answer to a push that was sent some other way (a test's raw socket):
        the same checks and decryption as for the simulator's own pushes."""
        return self._reply(status, raw, 1, "", [])

    def _reply(
        self, status: int, raw: bytes, attempts: int, request_xml: str, timings: list[float]
    ) -> SimReply:
        result = SimReply(status, raw, None, attempts, request_xml=request_xml, timings=timings)
        stripped = raw.strip()
        if status != 200 or stripped in (b"", b"success"):
            return result
        doc = parse_xml(stripped)
        if "Encrypt" in doc:
            if self.mode == "plain" or not self.aes_key:
                raise SimulatorError("encrypted reply in plain mode")
            plain = verify_and_decrypt(
                doc["Encrypt"],
                token=self.token,
                aes_key=self.aes_key,
                appid=self.appid,
                msg_signature=doc.get("MsgSignature", ""),
                timestamp=doc.get("TimeStamp", ""),
                nonce=doc.get("Nonce", ""),
            )
            result.reply = parse_xml(plain)
            result.encrypted = True
        elif self.mode == "safe":
            raise SimulatorError("plaintext reply in safe mode")
        else:
            result.reply = doc
        return result

    async def send_text(
        self,
        openid: str,
        content: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> SimReply:
        xml = self.text_xml(openid, content, msg_id=msg_id, create_time=create_time)
        return await self.send_raw(xml, openid=openid)

    async def send_event(
        self, openid: str, event: str, event_key: str | None = None, *, ticket: str | None = None
    ) -> SimReply:
        """subscribe / unsubscribe / CLICK / SCAN / VIEW (event_key as WeChat sends it)."""
        xml = self.event_xml(openid, event, event_key, ticket=ticket)
        return await self.send_raw(xml, openid=openid)

    async def send_image(
        self, openid: str, media_id: str, *, msg_id: int | None = None
    ) -> SimReply:
        return await self.send_raw(self.image_xml(openid, media_id, msg_id=msg_id), openid=openid)


__all__ = [
    "SimReply",
    "SimulatorError",
    "UserSimulator",
    "aes_key_bytes",
    "encrypt",
    "parse_xml",
    "sign",
    "verify_and_decrypt",
]
