"""The eligibility check over HTTP, for a mini-program or any other front end.

    POST /api/v1/eligibility             {"answers": {...}, "policy": "nmg-2020", "save": false}
    GET  /api/v1/eligibility/questions   ?policy=nmg-2020

The contract is ../shared/spec/eligibility.md: 200 is exactly `Result.to_dict()` (partial
answers give `needs`, the questions still worth asking, in order); 422 is
`{"errors": [{"field", "message"}]}` naming every bad field at once (unknown field,
wrong type, value outside its enum, negative or absurd years, unknown policy). A body
that is not JSON is 400; one over ELIGIBILITY_API_MAX_BODY is 413.

`"save": true` also stores the result as a page and returns its address in the
`Content-Location` header (the body stays exactly the contract); nothing is stored for a
rejected request, because validation runs before anything is written.

Anyone may call this: it is rate-limited per IP (ELIGIBILITY_API_RATE_LIMIT a minute,
shared with the questions endpoint and by all workers; tokens are taken from the shared
counter in chunks, see handlers.eligibility_api_limits), the body is capped before it is
read, and nothing a stranger sends can make it a 500.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

import eligibility
from bot.appkeys import SETTINGS, STORE
from bot.ratelimit import enforce
from eligibility.registry import default_registry
from handlers import json_body
from handlers.eligibility_api_limits import LeasedRateLimiter
from handlers.result_page import page_url, save_page

EVALUATE_PATH = "/api/v1/eligibility"
QUESTIONS_PATH = "/api/v1/eligibility/questions"
BODY_KEYS = ("answers", "policy", "save")
RATE_NAME = "eligibility_api"
RATE_WINDOW = 60.0
API_LIMITER: web.AppKey[LeasedRateLimiter] = web.AppKey("eligibility_api_limiter")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # orjson: the result is ~6 KB of JSON and the stdlib encoder would be half the cost
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def _errors(status: int, errors: list[dict[str, str]]) -> web.Response:
    return _json({"errors": errors}, status=status)


async def _limit(request: web.Request) -> None:
    await enforce(request, request.app[API_LIMITER], RATE_NAME,
                  limit=request.app[SETTINGS].eligibility_api_rate_limit, window=RATE_WINDOW)


async def _read_body(request: web.Request, cap: int) -> bytes | web.Response:
    """The whole body, or a 413 response when it is over the cap.

    A declared length over the cap is refused before reading; a chunked body is read
    whole (the app's client_max_size bounds it) and then measured. Not `content.read(n)`:
    that returns what has arrived so far, which may be only the first TCP segment.
    """
    if request.content_length is not None and request.content_length > cap:
        return _too_large(cap)
    body = await request.read()
    if len(body) > cap:
        return _too_large(cap)
    return body


def _too_large(cap: int) -> web.Response:
    # built only when needed: a Response and its JSON on every request cost ~10% of one
    return _errors(413, [{"field": "body", "message": f"请求体过大：不能超过 {cap} 字节"}])


def _policy_error(policy: Any, available: list[str]) -> dict[str, str]:
    return {"field": "policy",
            "message": f"未知的政策：{policy!r}（可用：{'、'.join(available) or '无'}）"}


def _unpack(body: Any) -> tuple[Any, str, bool, list[dict[str, str]]]:
    """(answers, policy, save, errors) of the request's JSON object; policy "" if bad."""
    if not isinstance(body, dict):
        return None, "", False, [{"field": "body", "message":
                                  '请求体应为 JSON 对象，如 {"answers": {…}}'}]
    errors = [{"field": str(k), "message": f"未知字段：{k}（可用：{'、'.join(BODY_KEYS)}）"}
              for k in body if k not in BODY_KEYS]
    if "answers" not in body:
        errors.append({"field": "answers", "message": "缺少 answers（可以是空对象 {}）"})
    policy = body.get("policy", eligibility.DEFAULT_POLICY)
    if not isinstance(policy, str):
        errors.append({"field": "policy", "message": "类型错误：应为字符串，如 \"nmg-2020\""})
        policy = ""
    save = body.get("save", False)
    if not isinstance(save, bool):
        errors.append({"field": "save", "message": "类型错误：应为 true 或 false"})
        save = False
    return body.get("answers", {}), policy, save, errors


async def evaluate_answers(request: web.Request) -> web.Response:
    await _limit(request)
    settings = request.app[SETTINGS]
    body = await _read_body(request, settings.eligibility_api_max_body)
    if isinstance(body, web.Response):
        return body
    try:
        data = json_body.loads(body)
    except json_body.JsonBodyError as exc:
        return _errors(400, [{"field": "body", "message": exc.message}])
    answers, policy, save, errors = _unpack(data)
    try:
        if errors:  # name the answers' problems too, all in one answer
            if policy:
                errors += eligibility.validate_answers(answers, policy)[1]
            return _errors(422, errors)
        result = eligibility.evaluate(answers, policy)
    except eligibility.AnswersError as exc:
        return _errors(422, exc.errors)
    except eligibility.UnknownPolicyError as exc:
        return _errors(422, [*errors, _policy_error(policy, exc.available)])
    headers = None
    if save:
        page_id, _ = await save_page(result, answers, source="api")
        headers = {"Content-Location": page_url(settings.public_base_url, page_id)}
    return _json(result.to_dict(), headers=headers)


async def question_catalogue(request: web.Request) -> web.Response:
    await _limit(request)
    policy = request.query.get("policy", eligibility.DEFAULT_POLICY)
    try:
        catalogue = eligibility.questions(policy)
    except eligibility.UnknownPolicyError as exc:
        return _errors(404, [_policy_error(policy, exc.available)])
    return _json({"policy": policy, "questions": catalogue},
                 headers={"Cache-Control": "public, max-age=300"})


def setup(app: web.Application) -> None:
    # Compile the default policy now: a broken policy file stops the service at start,
    # and the first applicant does not wait ~0.1 s for the rules to be generated.
    default_registry().get(eligibility.DEFAULT_POLICY)
    app[API_LIMITER] = LeasedRateLimiter(app[STORE])
    app.router.add_post(EVALUATE_PATH, evaluate_answers)
    app.router.add_get(QUESTIONS_PATH, question_catalogue)
