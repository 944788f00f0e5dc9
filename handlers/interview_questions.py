"""How one question of the eligibility interview is put in chat, and how a reply is read.

Why a module of its own: the wording and the choices come from the engine's question
catalogue (eligibility.questions), so the chat, the HTTP API and a mini-program ask the
same thing; what is chat-specific is only the numbering and the reading of what people
type on a phone: full-width digits, "10年", "1，3", "无". Pure functions, no I/O.

Conventions (the same for every question, so users learn them once):
- closed questions: numbered choices 1..n; a nullable one adds "0. 没有";
- yes/no: 1 是 / 2 否 (是/否 typed out work too);
- counts: a whole number in the catalogue's range; a nullable count takes 无/没有;
- a year: the year, or 0 (or 无) for none;
- several choices: numbers separated by spaces or commas, 0 for none.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

NONE_WORDS = frozenset({"无", "没有", "没", "不是", "否", "不适用", "none"})
YES_WORDS = frozenset({"1", "是", "是的", "对", "有", "yes", "y"})
NO_WORDS = frozenset({"2", "否", "不是", "不", "没有", "无", "no", "n"})
_SEPARATORS = re.compile(r"[\s,，、;；/.。]+")
_UNIT = re.compile(r"^(\d+)\s*(年|项|个)?$")
# A number longer than this is out of every range here; it is never converted (int() of
# thousands of digits raises) nor echoed back (the hint must fit one WeChat message).
MAX_DIGITS = 6
TOO_LONG = -1  # what _to_int answers for such a number: below every range, never shown


class BadAnswer(ValueError):
    """The reply does not answer the question; the message is a short hint in Chinese."""


def normalise(text: str) -> str:
    """Full-width to half-width, trimmed, lower-case (so "１０" is 10 and "Ｙ" is y)."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _unit(q: dict[str, Any]) -> str:
    return "年" if q["field"].startswith("years") else "项"


def prompt(q: dict[str, Any], number: int) -> str:
    """The question as sent: "第N题：…", the numbered choices, how to answer."""
    lines = [f"第{number}题：{q['question']}"]
    t = q["type"]
    if t == "bool":
        lines += ["1. 是", "2. 否", "请回复数字 1 或 2。"]
    elif t == "enum":
        lines += [f"{i}. {c['label']}" for i, c in enumerate(q["choices"], 1)]
        if q["nullable"]:
            lines.append(f"0. {q['null_label']}")
        lines.append("请回复数字。")
    elif t == "multi":
        lines += [f"{i}. {c['label']}" for i, c in enumerate(q["choices"], 1)]
        lines.append("可多选：回复一个或几个数字，用空格或逗号隔开，如“1 3”；都没有请回复 0。")
    elif t == "year":
        lines.append(f"没有请回复 0；有的话请回复年份，如 {q['max'] - 3}。")
    else:  # int
        unit = _unit(q)
        if q["nullable"]:
            lines.append(f"没有请回复“无”；有的话请回复{'年数' if unit == '年' else '数量'}"
                         f"（整数，{q['min']} 到 {q['max']}）。")
        else:
            lines.append(f"请回复{'年数' if unit == '年' else '数量'}"
                         f"（整数，{q['min']} 到 {q['max']}）。")
    return "\n".join(lines)


def parse(q: dict[str, Any], text: str) -> Any:
    """The answer value for the engine (contract types), or raise BadAnswer with a hint."""
    s = normalise(text)
    t = q["type"]
    if t == "bool":
        if s in YES_WORDS:
            return True
        if s in NO_WORDS:
            return False
        raise BadAnswer("请回复 1（是）或 2（否）。")
    if t == "enum":
        return _parse_enum(q, s)
    if t == "multi":
        return _parse_multi(q, s)
    if t == "year":
        return _parse_year(q, s)
    return _parse_int(q, s)


def _to_int(s: str) -> int | None:
    """A whole number typed in decimal digits (any script); TOO_LONG when it has more
    than MAX_DIGITS digits; None when it is not one."""
    if not s.isdecimal():  # not isdigit(): "፩" is a digit int() does not take
        return None
    return int(s) if len(s) <= MAX_DIGITS else TOO_LONG


_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNIT = re.compile(r"^([〇零一二两三四五六七八九十百]+)\s*(年|项|个)?$")


def _chinese_number(s: str) -> int | None:
    """A number in Chinese numerals, as people type years and counts: 十, 十五, 二十三,
    两, 一百零五, or digit by digit for a year (二〇一五); None when it is not one."""
    if "十" not in s and "百" not in s:  # digit by digit
        return _to_int("".join(str(_CN_DIGITS[c]) for c in s))
    value, digit = 0, None
    for c in s:
        if c == "百":
            if digit is None or value:
                return None
            value, digit = digit * 100, None
        elif c == "十":
            if value % 100:
                return None  # a second 十
            value, digit = value + (1 if digit is None else digit) * 10, None
        elif digit:  # two digits in a row ("二三十"); after 零 ("一百零五") one may follow
            return None
        else:
            digit = _CN_DIGITS[c]
    return value + (digit or 0)


def _number(s: str, units: tuple[str, ...]) -> int | None:
    """The number of a reply, with or without a unit; None for a unit of another kind
    (3项 to a question about years, 3年 to a count)."""
    m = _UNIT.match(s)
    if m:
        value = _to_int(m.group(1))
    else:
        m = _CN_UNIT.match(s)
        if m is None:
            return None
        value = _chinese_number(m.group(1))
    return value if m.group(2) in (None, *units) else None


def _no_such_choice(k: int) -> str:
    return "数字太长，没有这一项。" if k == TOO_LONG else f"没有第 {k} 项。"


def _parse_enum(q: dict[str, Any], s: str) -> Any:
    choices = q["choices"]
    n = len(choices)
    low = 0 if q["nullable"] else 1
    hint = f"请回复 {low} 到 {n} 之间的数字。"
    if q["nullable"] and s in NONE_WORDS:
        return None
    for c in choices:  # the label typed out in full works too
        if s == normalise(c["label"]):
            return c["value"]
    k = _to_int(s)
    if k is None:
        raise BadAnswer(hint)
    if k == 0 and q["nullable"]:
        return None
    if not 1 <= k <= n:
        raise BadAnswer(f"{_no_such_choice(k)}{hint}")
    return choices[k - 1]["value"]


def _parse_multi(q: dict[str, Any], s: str) -> list[str]:
    choices = q["choices"]
    n = len(choices)
    hint = f"请回复 1 到 {n} 之间的数字，多个用空格或逗号隔开；都没有请回复 0。"
    if s in NONE_WORDS or s == "0":
        return []
    numbers = [_to_int(p) for p in _SEPARATORS.split(s) if p]
    if not numbers or None in numbers:
        raise BadAnswer(hint)
    picked: list[str] = []
    for k in numbers:
        if not 1 <= k <= n:
            raise BadAnswer(f"{_no_such_choice(k)}{hint}")
        value = choices[k - 1]["value"]
        if value not in picked:
            picked.append(value)
    return picked


def _parse_year(q: dict[str, Any], s: str) -> int | None:
    lo, hi = q["min"], q["max"]
    hint = f"请回复 {lo} 到 {hi} 之间的年份；没有请回复 0。"
    if s in NONE_WORDS:
        return None
    k = _number(s, ("年",))
    if k is None:
        raise BadAnswer(hint)
    if k == 0 and q["nullable"]:
        return None
    if not lo <= k <= hi:
        raise BadAnswer(f"{'这个数' if k == TOO_LONG else f'{k} '}不是有效的年份。{hint}")
    return k


def _parse_int(q: dict[str, Any], s: str) -> int | None:
    lo, hi = q["min"], q["max"]
    what = "年数" if _unit(q) == "年" else "数量"
    hint = f"请回复 {lo} 到 {hi} 之间的整数。"
    if q["nullable"]:
        hint += "没有请回复“无”。"
        if s in NONE_WORDS:
            return None
    k = _number(s, ("年",) if _unit(q) == "年" else ("项", "个"))
    if k is None:
        if s.startswith("-") and s[1:].isdigit():
            raise BadAnswer(f"{what}不能是负数。{hint}")
        raise BadAnswer(f"请用数字回复{what}：{hint.removeprefix('请回复 ')}")
    if not lo <= k <= hi:
        raise BadAnswer(f"{'数字太长，' if k == TOO_LONG else f'{k} '}超出了范围。{hint}")
    return k


def answer_label(q: dict[str, Any], value: Any) -> str:
    """A value in words, for "您的回答" on the result page and the chat's echo."""
    if value is None:
        return q.get("null_label") or "没有"
    t = q["type"]
    if t == "bool":
        return "是" if value else "否"
    if t in ("enum", "multi"):
        labels = {c["value"]: c["label"] for c in q["choices"]}
        if t == "enum":
            return labels.get(value, str(value))
        return "、".join(labels.get(v, str(v)) for v in value) or "都没有"
    if t == "year":
        return f"{value}年"
    return f"{value} {_unit(q)}"
