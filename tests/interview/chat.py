"""Playing an applicant through the webhook: send, read which question is asked, answer.

The conversion from a scripted answer to what a person types is written here from the
question catalogue (the contract), not taken from the handler's own parser, so the test
checks the parser rather than repeating it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eligibility
from bot.fake_platform.simulator import UserSimulator
from tests.support import factories as f

MAX_BYTES = 2048
CASES_FILE = Path(__file__).resolve().parents[1] / "cases" / "interview" / "sequences.toml"
_QUESTION = re.compile(r"^第(\d+)题：(.+)$", re.M)
PAGE_LINK = re.compile(r"https?://\S+/r/([A-Za-z0-9_-]+)")


def catalogue() -> dict[str, dict[str, Any]]:
    return {q["field"]: q for q in eligibility.questions()}


def field_by_question() -> dict[str, str]:
    by_text = {q["question"]: q["field"] for q in eligibility.questions()}
    assert len(by_text) == len(eligibility.questions()), "two questions share a wording"
    return by_text


def typed(q: dict[str, Any], value: Any) -> str:
    """What a person types to give `value` to question `q`."""
    t = q["type"]
    if value is None:
        return "0" if t in ("enum", "year") else "无"
    if t == "bool":
        return "1" if value else "2"
    values = [c["value"] for c in q.get("choices", [])]
    if t == "enum":
        return str(values.index(value) + 1)
    if t == "multi":
        return " ".join(str(values.index(v) + 1) for v in value) or "0"
    return str(value)


@dataclass
class Asked:
    number: int
    field: str


def asked(reply: str | None) -> Asked | None:
    """The question a reply asks ("第N题：…"), if any."""
    if not reply:
        return None
    m = _QUESTION.search(reply)
    if m is None:
        return None
    return Asked(int(m.group(1)), field_by_question()[m.group(2)])


def page_id(reply: str) -> str:
    m = PAGE_LINK.search(reply)
    assert m, f"no result link in {reply!r}"
    return m.group(1)


class Chat:
    """One user talking to the webhook; every reply is checked to fit one message."""

    def __init__(self, sim: UserSimulator, openid: str) -> None:
        self.sim = sim
        self.openid = openid
        self.replies: list[str] = []

    async def say(self, text: str, *, msg_id: int | None = None,
                  create_time: int | None = None) -> str | None:
        r = await self.sim.send_text(self.openid, text, msg_id=msg_id or f.next_msg_id(),
                                     create_time=create_time)
        assert r.status == 200, r.body
        return self._check(r.content)

    async def click(self, key: str) -> str | None:
        r = await self.sim.send_event(self.openid, "CLICK", key)
        assert r.status == 200, r.body
        return self._check(r.content)

    def _check(self, content: str | None) -> str | None:
        if content is not None:
            size = len(content.encode("utf-8"))
            assert size <= MAX_BYTES, f"reply of {size} bytes: {content[:200]}"
            self.replies.append(content)
        return content


def load_cases() -> list[dict[str, Any]]:
    with CASES_FILE.open("rb") as fh:
        data = tomllib.load(fh)
    out = []
    for raw in data["cases"]:
        answers = {**data["defaults"], **raw.get("answers", {})}
        answers = {k: (None if v == "null" else v) for k, v in answers.items()}
        out.append({**raw, "answers": answers})
    return out
