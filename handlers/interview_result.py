"""What the chat says at the end of the interview, and the 政策要点 menu text.

WeChat caps a text reply at about 2,048 bytes and the full result is larger (~3 KB), so
the chat gives a summary that always fits in one message (the conclusion, the routes
with target level and clause, or the reasons) and a link to the result page, which has
everything: requirements, notes, the materials checklist and the key dates. Lines that
would not fit are counted ("……另有 N 条"), never cut mid-line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eligibility.explanation import date_text
from eligibility.registry import default_registry

MAX_BYTES = 2048  # WeChat's limit for one text reply (UTF-8 bytes)
MAX_REASONS = 3

_MORE = {
    "routes": "每条途径的依据",
    "reasons": "全部原因",
    "requirements": "申报要求",
    "notes": "注意事项",
    "materials": "材料清单",
    "key_dates": "关键日期",
}


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(head: list[str], items: list[str], tail: list[str], limit: int) -> str:
    """head + as many items as fit + tail, within `limit` bytes; says how many were left."""
    fixed = nbytes("\n".join(head + tail)) + 1
    kept: list[str] = []
    used = fixed
    for i, line in enumerate(items):
        left = len(items) - i - 1
        reserve = nbytes(f"\n……另有 {left} 条，见完整结果") if left else 0
        if used + nbytes(line) + 1 + reserve > limit:
            kept.append(f"……另有 {len(items) - i} 条，见完整结果")
            break
        kept.append(line)
        used += nbytes(line) + 1
    return "\n".join(head + kept + tail)


def summary(view: Mapping[str, Any], url: str, *, limit: int = MAX_BYTES) -> str:
    """The result in one text message: conclusion, routes (or why not), the page link."""
    head = ["资格自测结果", view["conclusion"]]
    sections = {s["key"]: s for s in view["sections"]}
    items: list[str] = []
    if "blocked" in sections:
        items += [f"原因：{it['head']}" for it in sections["blocked"]["items"]]
    if "routes" in sections:
        items.append(sections["routes"]["heading"] + "：")
        items += [it["head"] for it in sections["routes"]["items"]]
    elif "reasons" in sections:
        items.append(sections["reasons"]["heading"] + "：")
        items += [f"- {it['head']}" for it in sections["reasons"]["items"][:MAX_REASONS]]
    more = "、".join(label for key, label in _MORE.items() if key in sections)
    tail = ["", f"完整结果{f'（{more}）' if more else ''}请点开：", url,
            "回复“自测”可以重新测试。"]
    return _fit(head, items, tail, limit)


def policy_summary(policy_id: str, *, limit: int = MAX_BYTES) -> str:
    """政策要点: the policy's routes (title and clause) and the year's key dates."""
    policy = default_registry().get(policy_id)
    head = [f"《{policy.title}》要点", "申报途径："]
    seen: set[str] = set()
    items = []
    for path in policy.paths:
        if path.title not in seen:
            seen.add(path.title)
            items.append(f"- {path.title}（{path.clause}）")
    items.append("今年的关键日期：")
    items += [f"- {date_text(d)}：{label}（{clause}）" for d, label, clause in policy.key_dates]
    tail = ["", "括号里是政策条款编号。回复“自测”，看看您可以走哪些途径。"]
    return _fit(head, items, tail, limit)
