"""What the verification page and the verification API share: rate limits, the
verification log, reading the employer's "full name or ID number" answer, problem details.

Rate limits (state store, so Redis in production: shared by every process): per client
IP and per token for every verification (CERT_VERIFY_LIMIT_IP, CERT_VERIFY_LIMIT_TOKEN
per minute; counted in each process and pushed to the store every 0.1 s, see
certificates.hotpath), and a stricter per-token limit for name/ID comparisons
(CERT_MATCH_LIMIT_TOKEN per hour), since the page shows the masked name and guessing the
hidden characters is cheap. Unknown and forged tokens count and answer exactly alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.appkeys import SETTINGS, STORE
from bot.ratelimit import RateLimiter, client_ip
from certificates.idcard import InvalidIdNumber, validate_id_number
from certificates.registry import VerifyOutcome
from certificates.status import NOT_GENUINE_EXPLANATION
from handlers.certificates_keys import CERT_LOG, CERTS

PROBLEM_JSON = "application/problem+json"


class RateLimited(Exception):
    def __init__(self, retry_after: float, code: str = "rate_limited") -> None:
        super().__init__(code)
        self.retry_after = max(1, math.ceil(retry_after))
        self.code = code


def token_key(token: str) -> str:
    """A short fixed-length key for a token (bounded Redis keys even for garbage)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


def client(request: web.Request) -> tuple[str, str]:
    return client_ip(request), request.headers.get("User-Agent", "")[:256]


def enforce_verify_limits(request: web.Request, token: str) -> None:
    """Count this verification per IP and per token (certificates.hotpath.SharedCounters:
    shared through the state store); RateLimited when over a limit."""
    settings = request.app[SETTINGS]
    limits = request.app[CERTS].limits
    wait = limits.hit(f"certv-ip:{client_ip(request)}", settings.cert_verify_limit_ip)
    if wait:  # an IP over its limit does not get to create per-token counters either
        raise RateLimited(wait)
    wait = limits.hit(f"certv-tok:{token_key(token)}", settings.cert_verify_limit_token)
    if wait:
        raise RateLimited(wait)


async def enforce_match_limits(request: web.Request, token: str) -> None:
    settings = request.app[SETTINGS]
    limiter = RateLimiter(request.app[STORE])
    (ok_token, wait_token), (ok_ip, wait_ip) = await asyncio.gather(
        limiter.hit(f"certm-tok:{token_key(token)}", limit=settings.cert_match_limit_token,
                    window=3600),
        limiter.hit(f"certm-ip:{client_ip(request)}", limit=settings.cert_match_limit_token * 3,
                    window=3600),
    )
    if not ok_token or not ok_ip:
        raise RateLimited(max(wait_ip if not ok_ip else 0, wait_token if not ok_token else 0),
                          "match_rate_limited")


async def verify_and_log(request: web.Request, token: str, channel: str, *,
                         comparing: bool = False) -> VerifyOutcome:
    """Rate limits, the verdict, and one verification-log entry (for a name/ID comparison
    of a genuine certificate the comparison's own entry is written instead)."""
    enforce_verify_limits(request, token)
    outcome = await request.app[CERTS].verify(token)
    if comparing and outcome.certificate_id is not None:
        return outcome
    log_view(request, outcome, channel)
    return outcome


def log_view(request: web.Request, outcome: VerifyOutcome, channel: str) -> None:
    ip, agent = client(request)
    request.app[CERT_LOG].record(outcome.certificate_id, ip=ip, user_agent=agent,
                                 channel=channel, action="view",
                                 outcome=outcome.verdict.status.value)


@dataclass(frozen=True)
class HolderAnswer:
    """What the employer typed: a full name or an ID number (never logged)."""

    field: str  # name | id_number
    value: str


class AnswerProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def read_answer(text: str) -> HolderAnswer:
    """Name or ID number? An answer that looks like an ID number must be a valid one."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    compact = re.sub(r"\s+", "", value).upper()
    if not compact:
        raise AnswerProblem("answer", "请输入持证人的全名或身份证号码")
    if sum(c.isdigit() for c in compact) >= 6:  # names have no digits: an ID attempt
        try:
            return HolderAnswer("id_number", validate_id_number(compact))
        except InvalidIdNumber as exc:
            raise AnswerProblem("id_number", exc.message) from None
    if len(compact) > 30:
        raise AnswerProblem("name", "姓名过长，请输入持证人的全名")
    return HolderAnswer("name", value)


async def match_and_log(request: web.Request, token: str, outcome: VerifyOutcome,
                        answer: HolderAnswer, channel: str) -> bool:
    """The comparison's answer, logged; CertificateGone if the certificate was deleted
    since its record was cached (callers answer as for an unknown token)."""
    certificate_id = outcome.certificate_id
    assert certificate_id is not None
    await enforce_match_limits(request, token)
    service = request.app[CERTS]
    same = await service.holder_matches(certificate_id, public_id=outcome.verdict.public_id,
                                        **{answer.field: answer.value})  # name or id_number
    ip, agent = client(request)
    request.app[CERT_LOG].record(certificate_id, ip=ip, user_agent=agent, channel=channel,
                                 action=f"match_{'id' if answer.field == 'id_number' else 'name'}",
                                 outcome="match" if same else "no_match")
    return same


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> web.Response:
    """RFC 9457 problem details with a stable `code`."""
    body = {"type": f"urn:zhicheng:problem:{code}", "title": title, "status": status,
            "code": code, "detail": detail, **extra}
    headers = {"Cache-Control": "no-store"}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type=PROBLEM_JSON, headers=headers)


def not_found_problem() -> web.Response:
    return problem(404, "certificate_not_found", "查无此证", NOT_GENUINE_EXPLANATION)


def rate_limited_problem(exc: RateLimited) -> web.Response:
    if exc.code == "match_rate_limited":
        detail = "对该证书的核对次数过多，请一小时后再试"
    else:
        detail = "查验过于频繁，请稍后再试"
    return problem(429, exc.code, "请求过于频繁", detail, retry_after=exc.retry_after)
