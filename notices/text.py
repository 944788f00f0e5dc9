"""Control characters in text an officer, applicant or imported file supplies: the one
rule, used by notices and certificates alike.

Why refuse them: PostgreSQL cannot store NUL (U+0000) in text at all (the insert fails, and
the request was a 500 there while SQLite took it); the other C0 characters and DEL are
invisible in the console, in WeChat messages and on the public pages, so they are typos or
probes, never content; and half a surrogate pair has no UTF-8 form at all. A multi-line
field (a notice's body, an objection's reason) keeps tab, line feed and carriage return; a
one-line field (a title, a name, a spreadsheet cell) keeps none.
"""

from __future__ import annotations

import re

_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_control_chars(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a control character (or half a surrogate pair) that the field
    may not hold."""
    return (_MULTI_LINE if multiline else _SINGLE_LINE).search(text) is not None


def without_control_chars(text: str, replacement: str = "") -> str:
    """`text` with every character a one-line field may not hold replaced."""
    return _SINGLE_LINE.sub(replacement, text)


def control_chars_message(label: str, *, multiline: bool = False) -> str:
    """What the officer or applicant is told (names the field by its label)."""
    if multiline:
        return f"{label}含有无法保存的控制字符（如 \\u0000），请删除后重新提交。"
    return f"{label}不能包含换行、制表符等控制字符，请删除后重新提交。"
