"""What a broadcast puts on the wire: template messages or subscribe notifications.

Why here and pure: the payload is built once per send (stored on the send row) and then
reused for every recipient, so a worker that restarts sends exactly what the officer saw.

Channel per notice type: publicity and general notices go as template messages (模板消息,
`/cgi-bin/message/template/send`); deadline notices and deadline reminders go as subscribe
notifications (`/cgi-bin/message/subscribe/bizsend`), which a user opts into per template;
the answer to an objection goes as a template message.

Subscribe-notification values are short by rule ("thing" ≤ 20 characters), so they are cut
with an ellipsis here rather than refused by the platform with 47003.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from notices.publicity import PublicityWindow
from notices.reminders import Reminder

TEMPLATE, SUBSCRIBE = "template", "subscribe"
CHANNEL_BY_KIND = {"publicity": TEMPLATE, "general": TEMPLATE, "deadline": SUBSCRIBE}
PATHS = {
    TEMPLATE: "/cgi-bin/message/template/send",
    SUBSCRIBE: "/cgi-bin/message/subscribe/bizsend",
}
KIND_LABELS = {"publicity": "公示", "deadline": "截止提醒", "general": "通知"}


@dataclass(frozen=True)
class Templates:
    """Template ids configured in the WeChat console (settings WECHAT_TEMPLATE_*)."""

    notice: str
    objection: str
    deadline: str


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _v(value: str) -> dict[str, str]:
    return {"value": value}


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def window_text(window: PublicityWindow, workdays: int | None = None) -> str:
    days = f"（{workdays}个工作日）" if workdays else ""
    return f"{window.start.isoformat()} 至 {window.end.isoformat()}{days}"


def notice_message(
    *,
    kind: str,
    title: str,
    department: str,
    url: str,
    templates: Templates,
    window: PublicityWindow | None = None,
    workdays: int | None = None,
    deadline: date | None = None,
) -> tuple[str, dict]:
    """(channel, payload) of a notice broadcast."""
    channel = CHANNEL_BY_KIND[kind]
    if channel == SUBSCRIBE:
        when = _cn_date(deadline) if deadline else ""
        data = {"thing1": _v(_cut(title, 20)), "time2": _v(when),
                "thing3": _v(_cut(department, 20))}
        return channel, {"template_id": templates.deadline, "page": url, "data": data}
    if kind == "publicity" and window is not None:
        period = "公示期：" + window_text(window, workdays)
        remark = "点击查看全文。如有异议，请在公示期内回复“异议”。"
    else:
        period, remark = "", "点击查看全文。"
    data = {
        "first": _v(f"【{KIND_LABELS[kind]}】{title}"),
        "keyword1": _v(department),
        "keyword2": _v(period),
        "remark": _v(remark),
    }
    return channel, {"template_id": templates.notice, "url": url, "data": data}


def reminder_message(reminder: Reminder, *, url: str, templates: Templates) -> tuple[str, dict]:
    d = reminder.deadline
    left = "今天截止" if reminder.offset_days == 0 else f"还有{reminder.offset_days}天截止"
    data = {
        "thing1": _v(_cut(d.title_zh, 20)),
        "time2": _v(_cn_date(d.due)),
        "thing3": _v(_cut(f"{left}（{d.clause}）", 20)),
    }
    return SUBSCRIBE, {"template_id": templates.deadline, "page": url, "data": data}


def objection_reply(
    *, reference: str, notice_title: str, resolution: str, url: str, templates: Templates
) -> tuple[str, dict]:
    data = {
        "first": _v(f"您对“{_cut(notice_title, 40)}”提出的异议已办结。"),
        "keyword1": _v(reference),
        "keyword2": _v(_cut(resolution, 200)),
        "remark": _v("感谢您的监督。"),
    }
    return TEMPLATE, {"template_id": templates.objection, "url": url, "data": data}
