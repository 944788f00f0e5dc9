"""The public certificate API: published keys and machine-readable verification.

* ``GET /api/v1/keys``: the public keys document (certificates.signing): what the
  offline verifier and an employer's own system check QR tokens against.
* ``GET /api/v1/certificates/verify/{token}``: the verdict as JSON with a signed
  statement (certificates.statement) the caller can keep as proof. Revoked and void
  certificates answer 200 with their status; unknown and forged tokens answer the same
  404 problem (code ``certificate_not_found``).
* ``POST /api/v1/certificates/verify/{token}/match`` with ``{"name": ...}`` or
  ``{"id_number": ...}``: ``{"matches": true|false}`` only.

Errors are problem details (``application/problem+json``) with a stable ``code``:
certificate_not_found (404), invalid_request (422, with ``errors``), rate_limited and
match_rate_limited (429, Retry-After).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from certificates.registry import CertificateGone
from certificates.signing import KeyRing, SigningKeyUnavailable
from certificates.statement import sign_verdict
from certificates.status import LEVEL_LABELS, OBTAINED_BY_LABELS, Level, ObtainedBy, Verdict
from handlers import json_body
from handlers.certificates_common import (
    AnswerProblem,
    HolderAnswer,
    RateLimited,
    match_and_log,
    not_found_problem,
    problem,
    rate_limited_problem,
    read_answer,
    verify_and_log,
)
from handlers.certificates_keys import CERT_PAGE_CACHE, CERTS

log = logging.getLogger("handlers.certificates_api")
routes = web.RouteTableDef()


@routes.get("/api/v1/keys")
async def public_keys(request: web.Request) -> web.Response:
    document = request.app[CERTS].keyring.public_keys_document()
    return web.json_response(
        document, dumps=lambda d: json.dumps(d, ensure_ascii=False),
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


def _certificate_json(data: dict[str, Any]) -> dict[str, Any]:
    level, obtained = Level(data["level"]), ObtainedBy(data["obtained_by"])
    committee = data["committee"]
    return {
        "public_id": data["public_id"],
        "number": data["number"],
        "holder_name": data["holder"],  # masked
        "series": data["series"],
        "specialty": data["specialty"],
        "qualification": data["qualification"],
        "level": level.value,
        "level_label": LEVEL_LABELS[level],
        "obtained_by": obtained.value,
        "obtained_by_label": OBTAINED_BY_LABELS[obtained],
        "committee": None if committee is None else {
            "name": committee["name"], "filing_number": committee["filing_number"],
            "filed_on": committee["filed_on"], "valid_until": committee["valid_until"],
        },
        "approval_document": data["approval_document"],
        "approved_on": data["approved_on"],
        "issued_on": data["issued_on"],
        "revocation": data["revocation"],
    }


@routes.get("/api/v1/certificates/verify/{token}")
async def verify(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        outcome = await verify_and_log(request, token, "api")
    except RateLimited as exc:
        return rate_limited_problem(exc)
    if outcome.certificate_id is None:
        return not_found_problem()
    verdict = outcome.verdict
    key = ("api", token, verdict.status, verdict.checked_on, verdict.reasons, verdict.display)
    cache = request.app[CERT_PAGE_CACHE]
    text = cache.get(key)
    if text is None:  # same verdict, same answer: built and signed once (LRU)
        service = request.app[CERTS]
        data = outcome.record
        text = json.dumps({
            "status": verdict.status.value,
            "status_label": verdict.label,
            "checked_on": verdict.checked_on.isoformat(),
            "reasons": list(verdict.reasons),
            "certificate": _certificate_json(data) if data else None,
            "fields": [list(pair) for pair in verdict.display],
            "signed_statement": _statement(verdict, service.keyring),
        }, ensure_ascii=False)
        cache.put(key, text)
    return web.Response(text=text, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _statement(verdict: Verdict, keyring: KeyRing) -> dict[str, Any] | None:
    """The signed statement, or None (logged) when no private key is valid today: the
    verdict itself must never fail for want of a signature."""
    try:
        return sign_verdict(verdict, keyring)
    except SigningKeyUnavailable:
        log.error("no signing key valid today: verification statements go out unsigned")
        return None


def _invalid(field: str, message: str) -> web.Response:
    return problem(422, "invalid_request", "请求内容有误", message,
                   errors=[{"field": field, "message": message}])


def _answer(body: Any) -> HolderAnswer:
    if not isinstance(body, dict):
        raise AnswerProblem("body", "请求体应为 JSON 对象")
    unknown = set(body) - {"name", "id_number"}
    if unknown:
        raise AnswerProblem(sorted(unknown)[0], "未知字段")
    given = [k for k in ("name", "id_number") if body.get(k) not in (None, "")]
    if len(given) != 1:
        raise AnswerProblem("name", "请提供 name（持证人全名）或 id_number（身份证号码）之一")
    field = given[0]
    value = body[field]
    if not isinstance(value, str):
        raise AnswerProblem(field, "应为字符串")
    answer = read_answer(value)
    if answer.field != field:
        message = "身份证号码格式不正确" if field == "id_number" else "姓名中不应含有数字"
        raise AnswerProblem(field, message)
    return answer


@routes.post("/api/v1/certificates/verify/{token}/match")
async def match(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        body = await json_body.read_json(request)
    except json_body.JsonBodyError as exc:
        return _invalid("body", exc.message)
    try:
        outcome = await verify_and_log(request, token, "api", comparing=True)
        if outcome.certificate_id is None:
            return not_found_problem()
        try:
            answer = _answer(body)
        except AnswerProblem as exc:
            return _invalid(exc.field, exc.message)
        same = await match_and_log(request, token, outcome, answer, "api")
    except RateLimited as exc:
        return rate_limited_problem(exc)
    except CertificateGone:
        return not_found_problem()
    return web.json_response({"matches": same, "field": answer.field},
                             headers={"Cache-Control": "no-store"})
