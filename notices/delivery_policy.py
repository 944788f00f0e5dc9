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
the platform accepted the message. What happens then depends on the channel (`in_doubt_for`):

- template messages (`cgi-bin/message/template/send`): WeChat documents `client_msg_id`
  (防重入id: one message per openid + client_msg_id, "10分钟有效"), so they are resent under
  the row's key, as long as the resend comes within that window (`dedup_problem` refuses a
  configuration that could resend later);
- subscribe notifications (`cgi-bin/message/subscribe/bizsend`): the API has no such field,
  so a resend could be a duplicate. By default (`auto`) they become `unknown` (held for an
  officer, who may resend them: then at most one duplicate each); `resend` resends them
  anyway, `hold` holds every channel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SENT, RETRY, FAILED, UNKNOWN = "sent", "retry", "failed", "unknown"
RESEND, HOLD, AUTO = "resend", "hold", "auto"
IN_DOUBT_POLICIES = (AUTO, RESEND, HOLD)

# Channels whose send API deduplicates on our idempotency key (notices.payloads.TEMPLATE).
IDEMPOTENT_CHANNELS = frozenset({"template"})
# How long WeChat honours a template send's client_msg_id ("10分钟有效"), and the margin
# a resend must keep from it (clock skew, the platform's own processing time).
WECHAT_DEDUP_WINDOW_S = 600.0
DEDUP_MARGIN_S = 60.0

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


def in_doubt_for(channel: str, policy: str, *, idempotent: bool = True) -> str:
    """RESEND or HOLD for an in-doubt message on `channel` under `policy` (auto/resend/hold).
    `idempotent=False`: no idempotency key is sent at all, so no channel is protected."""
    if policy == AUTO:
        return RESEND if idempotent and channel in IDEMPOTENT_CHANNELS else HOLD
    return policy


def takeover_every_s(lease_s: float) -> float:
    """How often a worker looks for expired leases."""
    return min(5.0, max(0.2, lease_s / 4))


def resend_gap_s(*, lease_s: float, backoff_max_s: float, poll_interval_s: float,
                 api_timeout_s: float) -> float:
    """The longest time from an attempt the platform may have accepted to the resend of the
    same row. After a crash: the rest of the dead worker's lease (at most a lease), the
    takeover poll, and the new lease within which the resend goes out. After a timeout:
    the call itself, the backoff, the claim poll and the lease of the claim."""
    after_crash = 2 * lease_s + takeover_every_s(lease_s)
    after_timeout = api_timeout_s + backoff_max_s + poll_interval_s + lease_s
    return max(after_crash, after_timeout)


def dedup_problem(*, lease_s: float, backoff_max_s: float, poll_interval_s: float,
                  api_timeout_s: float, window_s: float = WECHAT_DEDUP_WINDOW_S) -> str | None:
    """Why this configuration could resend a template message after WeChat forgot its
    client_msg_id (a possible duplicate), or None when every resend falls in the window."""
    gap = resend_gap_s(lease_s=lease_s, backoff_max_s=backoff_max_s,
                       poll_interval_s=poll_interval_s, api_timeout_s=api_timeout_s)
    limit = window_s - DEDUP_MARGIN_S
    if gap <= limit:
        return None
    return (f"a message in doubt could be resent {gap:.0f} s after the platform accepted it "
            f"(max of 2 x DELIVERY_LEASE + takeover poll, and WECHAT_API_TIMEOUT + "
            f"DELIVERY_BACKOFF_MAX + DELIVERY_POLL_INTERVAL + DELIVERY_LEASE); WeChat "
            f"deduplicates client_msg_id for {window_s:.0f} s, so keep it under {limit:.0f} s "
            f"(or set DELIVERY_IN_DOUBT=hold)")


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
