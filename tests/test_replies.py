"""Text replies are wechatpy's TextReply character for character, but never broken XML."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET  # noqa: S405 - our own output

from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.replies import TextReply

from bot.messages import Incoming, Text

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                       blacklist_characters="\r\x00"), max_size=40)


def _incoming(account: str, openid: str) -> Incoming:
    return Incoming(openid=openid, account=account, type="text", create_time=1, msg_id=1)


@settings(max_examples=500, deadline=None)
@given(texts, texts, texts)
def test_text_reply_is_what_wechatpy_renders(content, account, openid):
    if "]]>" in content + account + openid:
        return  # wechatpy writes broken XML there: see the next test
    reference = TextReply(content=content)
    reference.source, reference.target = account, openid
    before = int(time.time())
    ours = Text(content).to_xml(_incoming(account, openid))
    for stamp in range(before, int(time.time()) + 1):  # the second may turn meanwhile
        reference.time = stamp
        if reference.render() == ours:
            return
    raise AssertionError(f"{ours!r} != {reference.render()!r}")


def test_a_cdata_terminator_in_the_text_stays_text():
    content = "答复]]><b>&amp;]]]>"
    root = ET.fromstring(Text(content).to_xml(_incoming("gh_1", "o]]>1")))  # noqa: S314
    assert root.findtext("Content") == content
    assert root.findtext("ToUserName") == "o]]>1"
    assert root.findtext("MsgType") == "text"
