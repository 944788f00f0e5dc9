"""A fast path for WeChat's flat message XML; anything else goes to the usual parsers.

Why: every message WeChat pushes is `<xml>` with one level of children, each holding
plain text or one CDATA section. wechatpy parses it with xmltodict, which builds an
expat parser and runs Python callbacks per element: 43 µs per text message, the largest
single cost of the webhook after aiohttp itself (measured, see the issue 2 note). This
module reads exactly that flat shape with one regular expression per child, and gives up
(returns None) on anything outside it, so the caller falls back to wechatpy/ElementTree:
attributes, nesting, entities or character references, comments, processing
instructions, an XML declaration, repeated children, carriage returns (which XML
normalises), characters XML forbids, and anything after `</xml>` but whitespace.

Inside that shape the result equals the fallback's (tests compare them on generated
documents, hostile ones included): `parse_flat` gives each child's text unstripped, as
ElementTree does; `xmltodict_view` turns that into what xmltodict returns (text stripped
with `str.strip`, empty as None).
"""

from __future__ import annotations

import re

# Characters XML 1.0 forbids, plus CR (expat rewrites CR and CRLF to LF).
_BAD = "\x00-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff"
_CHILD = re.compile(
    r"[ \t\n]*<([A-Za-z_][A-Za-z0-9_]*)>"
    rf"(?:<!\[CDATA\[([^\]{_BAD}]*(?:\](?!\]>)[^\]{_BAD}]*)*)\]\]>|([^<&>{_BAD}]*))"
    r"</\1>"
)
_END = re.compile(r"[ \t\n]*</xml>[ \t\n]*\Z")
_OPEN = "<xml>"


def parse_flat(xml: str | bytes) -> dict[str, str] | None:
    """{child tag: text} of a flat `<xml>` document, or None when it is not one."""
    if isinstance(xml, bytes):
        if not xml.startswith(b"<xml>"):
            return None
        try:
            xml = xml.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif not xml.startswith(_OPEN):
        return None
    out: dict[str, str] = {}
    pos = len(_OPEN)
    match = _CHILD.match
    while True:
        m = match(xml, pos)
        if m is None:
            break
        tag = m[1]
        if tag in out:
            return None  # xmltodict makes a list of repeats: not this path's job
        cdata = m[2]
        out[tag] = cdata if cdata is not None else m[3]
        pos = m.end()
    if not out or _END.match(xml, pos) is None:
        return None  # (an empty <xml/> is None to xmltodict, not {})
    return out


def xmltodict_view(flat: dict[str, str]) -> dict[str, str | None]:
    """What `xmltodict.parse(doc)["xml"]` gives for the same document."""
    return {tag: text.strip() or None for tag, text in flat.items()}


def cdata(value: str) -> str:
    """`value` as CDATA; a "]]>" inside is split across two sections, as XML requires."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
