"""What a delivery worker does with the platform's answer: sent, retry later, failed, unknown.

Why pure: the rule decides whether a person can get a message twice or not at all, so it
is a table with tests, not branches spread through the worker.

- 0: sent.
- Transient (retried with exponential backoff and jitter, at most `max_attempts` attempts
  in all): -1 system busy, 45009/45011 quota, HTTP 5xx (our -5xx), timeouts and dropped
  connections (-1000/-1001), an unreadable answer (-1002), the token lock (-1003) and token
  errors still failing after the client's one refresh (40001/40014/42001).
- Anything else is permanent (43004 not following the account, 43101 refused, 40003 bad
  openid, 40037 bad template...): recorded with its errcode, never retried.

Ambiguous outcomes: a timeout, a dropped connection or an unreadable answer may come after
the platform accepted the message. With `in_doubt="resend"` they are retried like any
transient error, under the same idempotency key; with `in_doubt="hold"` they become
`unknown` and are not sent again unless an officer asks for it (at most once).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SENT, RETRY, FAILED, UNKNOWN = "sent", "retry", "failed", "unknown"
RESEND, HOLD = "resend", "hold"

ERR_TIMEOUT = -1000
ERR_CONNECTION = -1001
ERR_BAD_RESPONSE = -1002
ERR_TOKEN_LOCK = -1003

TRANSIENT = frozenset(
    {-1, 45009, 45011, 40001, 40014, 42001, ERR_TIMEOUT, ERR_CONNECTION, ERR_BAD_RESPONSE,
     ERR_TOKEN_LOCK}
)
AMBIGUOUS = frozenset({ERR_TIMEOUT, ERR_CONNECTION, ERR_BAD_RESPONSE})

# How the console and the CLI name the errcodes an officer will meet.
ERRCODE_LABELS_ZH: dict[int, str] = {
    -1: "微信系统繁忙",
    40001: "access_token 无效",
    40003: "openid 无效",
    40037: "模板 ID 无效",
    43004: "用户未关注服务号",
    43101: "用户拒收（未订阅该消息）",
    45009: "接口调用超过每日限额",
    45011: "接口调用过于频繁",
    47001: "数据格式错误",
    ERR_TIMEOUT: "超时，结果未知",
    ERR_CONNECTION: "连接中断，结果未知",
    ERR_BAD_RESPONSE: "平台应答无法解析",
}


def errcode_label(errcode: int | None) -> str:
    if errcode is None:
        return "未发送"
    if -599 <= errcode <= -500:
        return f"平台 HTTP {-errcode} 错误"
    return ERRCODE_LABELS_ZH.get(errcode, f"错误码 {errcode}")


def is_transient(errcode: int) -> bool:
    return errcode in TRANSIENT or -599 <= errcode <= -500


@dataclass(frozen=True)
class Verdict:
    status: str  # SENT | RETRY | FAILED | UNKNOWN
    delay_s: float = 0.0  # for RETRY: how long to wait before the next attempt


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay after the `attempt`-th failed attempt: exponential, capped, "equal jitter"
    (half fixed, half random), so delays grow but workers do not retry in lockstep."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def classify(
    errcode: int,
    *,
    attempts: int,
    max_attempts: int,
    in_doubt: str = RESEND,
    backoff_base: float = 2.0,
    backoff_max: float = 300.0,
    rng: random.Random | None = None,
) -> Verdict:
    """The verdict for one attempt (`attempts` counts it) that ended with `errcode`."""
    if errcode == 0:
        return Verdict(SENT)
    if in_doubt == HOLD and errcode in AMBIGUOUS:
        return Verdict(UNKNOWN)
    if is_transient(errcode) and attempts < max_attempts:
        return Verdict(RETRY, backoff_s(attempts, backoff_base, backoff_max, rng))
    return Verdict(FAILED)
