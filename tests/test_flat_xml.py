"""The flat-XML fast path gives what wechatpy (xmltodict) and ElementTree give, or gives up.

The documents are generated from a grammar that mixes WeChat's real shape with what XML
allows and forbids around it (entities, CR, forbidden characters, `]]>`, attributes,
nesting, repeats, a prolog, junk after the root), so both "same answer" and "gives up
when unsure" are exercised.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - generated test input

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy import parse_message

from bot.fake_platform.simulator import UserSimulator
from bot.flat_xml import parse_flat, xmltodict_view
from bot.messages import Incoming
from bot.signature import extract_encrypt

TRICKY = "a中 \t\n\r<>&]'\"\x01\u3000\ufffe;#x"
texts = st.text(alphabet=TRICKY, max_size=12)
tags = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content",
                        "MsgId", "Encrypt", "a", "_b1", "1bad", "x-y", "中"])
spaces = st.sampled_from(["", "", " ", "\n", "\t", "\r\n", "\u3000"])


@st.composite
def children(draw) -> str:
    tag = draw(tags)
    kind = draw(st.sampled_from(["text", "cdata", "cdata", "empty", "selfclose", "nested",
                                 "attr", "two_cdata", "entity"]))
    body = draw(texts)
    inner = {
        "text": body,
        "cdata": f"<![CDATA[{body}]]>",
        "empty": "",
        "nested": f"<i>{body}</i>",
        "two_cdata": f"<![CDATA[{body}]]><![CDATA[{body}]]>",
        "entity": f"{body}&amp;&#20013;",
        "attr": body,
        "selfclose": None,
    }[kind]
    if inner is None:
        return f"<{tag}/>"
    open_tag = f'<{tag} k="v">' if kind == "attr" else f"<{tag}>"
    return f"{open_tag}{inner}</{tag}>"


@st.composite
def documents(draw) -> str:
    parts = draw(st.lists(st.tuples(spaces, children()), max_size=6))
    head = draw(st.sampled_from(["<xml>", "<xml>", "<xml>", "<?xml version='1.0'?><xml>",
                                 " <xml>", "<xml a='1'>", "<root>"]))
    tail = draw(st.sampled_from(["</xml>", "</xml>", "</xml>\n", "</xml>x", "</xml><!--c-->",
                                 "\n</xml>", "</root>"]))
    return head + "".join(s + c for s, c in parts) + tail


def _xmltodict(doc: str):
    try:
        return xmltodict.parse(doc)
    except Exception:
        return None


def _etree(doc: str):
    try:
        return ET.fromstring(doc)  # noqa: S314
    except Exception:
        return None


@settings(max_examples=3000, deadline=None)
@given(documents())
def test_fast_path_agrees_with_xmltodict_and_elementtree_or_gives_up(doc: str) -> None:
    for given_doc in (doc, doc.encode("utf-8", "surrogatepass")):
        fast = parse_flat(given_doc)
        if fast is None:
            continue
        slow = _xmltodict(doc)
        assert slow is not None, f"fast path accepted what xmltodict refuses: {doc!r}"
        assert xmltodict_view(fast) == slow["xml"], doc
        root = _etree(doc)
        assert root is not None, f"fast path accepted what ElementTree refuses: {doc!r}"
        assert {child.tag: child.text or "" for child in root} == fast, doc
        assert extract_encrypt(given_doc) == ((root.findtext("Encrypt") or None)
                                              if len(root) else None)


@pytest.mark.parametrize("kind", ["text", "image", "voice", "video", "shortvideo",
                                  "location", "link"])
def test_wechat_message_shapes_take_the_fast_path_with_wechatpys_fields(kind: str) -> None:
    sim = UserSimulator(None, "", token="t", appid="wx1", mode="plain")
    fields = {"Content": " 帮助 ]] > <b>&amp; ", "MediaId": "m1", "MsgId": 7,
              "Location_X": "40.8", "Title": "t", "Url": "u"}
    doc = sim.message_xml("oUser1", kind, fields)
    assert parse_flat(doc) is not None, doc
    slow_msg = parse_message(doc)
    slow = Incoming._from_raw(dict(slow_msg._data), slow_msg.type)
    fast = Incoming.from_xml(doc)
    assert fast == slow
    assert fast.raw == slow.raw
    assert fast.type == kind


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Content", "MediaId", "MsgId", "Extra"]), texts),
                max_size=3),
       st.sampled_from(["text", "TEXT", "image", "event", "device_text", "nosuch"]))
def test_from_xml_is_the_same_message_either_way(fields, msg_type: str) -> None:
    body = "".join(f"<{tag}><![CDATA[{value}]]></{tag}>" for tag, value in dict(fields).items())
    doc = (f"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oU]]>"
           f"</FromUserName><CreateTime>1700000000</CreateTime>"
           f"<MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>")
    try:
        slow_msg = parse_message(doc)
        slow = Incoming._from_raw(dict(slow_msg._data), slow_msg.type)
    except Exception:
        slow = None
    try:
        fast = Incoming.from_xml(doc)
    except ValueError:
        fast = None
    assert fast == slow
    if fast is not None:
        assert fast.raw == slow.raw


def test_empty_root_and_junk_are_left_to_the_full_parsers() -> None:
    assert parse_flat("<xml></xml>") is None  # xmltodict: None, not {}
    assert parse_flat("<xml><a>1</a></xml><b/>") is None
    assert parse_flat(b"<xml><a>\xff</a></xml>") is None  # not UTF-8
    assert parse_flat("<xml><a>1</a><a>2</a></xml>") is None  # xmltodict: a list
    assert parse_flat("<xml><a>x\r\ny</a></xml>") is None  # XML rewrites CR
    assert parse_flat("<xml><a><![CDATA[x]]]></a></xml>") == {"a": "x]"}
