"""The full result of the eligibility check as a mobile page: ``/r/{id}``.

Why a page: the whole result (routes with clauses, requirements, notes, the materials
checklist, the key dates) is about 3 KB of Chinese, over WeChat's ~2,048-byte text
reply, so the chat sends a short summary and this link (and the HTTP API can ask for one
with ``"save": true``). The page is made once, when the result is given, and stored
(models.EligibilityResultPage): the link keeps showing what the applicant was told even
if the policy file is corrected later.

The wording is the engine's own: the sections are cut from ``render_text(result)`` at
the policy's headings (policy texts), so chat, page and API never word a rule twice.
Privacy: the id is unguessable (``secrets.token_urlsafe(18)``) and the only key; the row
and the page hold the answers and the result, never an openid. Unknown ids get 404; the
page is rate-limited per IP, not cached and not indexed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

import eligibility
from bot.appkeys import SETTINGS, STORE
from bot.ratelimit import RateLimiter, enforce
from handlers.interview_questions import answer_label
from models import EligibilityResultPage

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PAGE_TEMPLATE = "eligibility_result.html"
NOT_FOUND_TEMPLATE = "eligibility_not_found.html"
RESULT_PAGES_JINJA: web.AppKey[jinja2.Environment] = web.AppKey("eligibility_result_jinja")
PAGE_ID = re.compile(r"[A-Za-z0-9_-]{22,48}")
ID_BYTES = 18  # 24 URL-safe characters, 144 random bits
REGION_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

# render_text's headings (keys of the policy's [texts]) -> section keys of the page
_SECTIONS = ("routes", "reasons", "open_but_pending", "next_questions", "requirements",
             "notes", "materials", "key_dates")


def new_page_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def page_url(base_url: str, page_id: str) -> str:
    return f"{base_url.rstrip('/')}/r/{page_id}"


# --- the page's content ------------------------------------------------------------------
def build_view(result: eligibility.Result, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The page's content as plain JSON: title, conclusion, sections, the answers.

    A section is {key, heading, items: [{head, lines}]}: a numbered or bulleted line of
    render_text is an item's head, its indented lines (a route's why and provisos) follow.
    """
    policy = result.policy
    texts = policy.texts
    headings = {texts[k]: k for k in _SECTIONS if k in texts}
    lines = eligibility.render_text(result).split("\n")
    view: dict[str, Any] = {
        "policy": policy.id,
        "title": lines[0].strip("《》"),
        "conclusion": lines[1] if len(lines) > 1 else "",
        "eligible": result.eligible,
        "blocked": bool(result.blocked_by),
        "decided": not result.needs,
        "sections": [],
    }
    current: dict[str, Any] | None = None
    for line in lines[2:]:
        if line in headings:
            current = {"key": headings[line], "heading": line.rstrip("：:"), "items": []}
            view["sections"].append(current)
            continue
        if current is None:  # lines between the conclusion and the first heading: blocks
            current = {"key": "blocked", "heading": "原因", "items": []}
            view["sections"].append(current)
        if line.startswith(" ") and current["items"]:
            current["items"][-1]["lines"].append(line.strip())
            continue
        head = line[2:] if line.startswith("- ") else line
        if current["key"] == "blocked":
            head = head.removeprefix("原因：")
        current["items"].append({"head": head, "lines": []})
    view["answers"] = answered(answers, policy.id)
    return view


def answered(answers: Mapping[str, Any], policy: str) -> list[dict[str, str]]:
    """The answers as "question: answer" pairs, in the catalogue's order."""
    out = []
    for q in eligibility.questions(policy):
        if q["field"] in answers:
            out.append({"field": q["field"], "question": q["question"],
                        "answer": answer_label(q, answers[q["field"]])})
    return out


def section(view: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    return next((s for s in view["sections"] if s["key"] == key), None)


def jsonable(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers as JSON (clean answers hold sets for lists)."""
    return {k: sorted(v) if isinstance(v, frozenset | set) else v for k, v in answers.items()}


async def save_page(result: eligibility.Result, answers: Mapping[str, Any], *,
                    source: str) -> tuple[str, dict[str, Any]]:
    """Store the page; returns (id, view). Only the answers and the result are kept."""
    answers = jsonable(answers)
    view = build_view(result, answers)
    page_id = new_page_id()
    await EligibilityResultPage.create(id=page_id, policy=result.policy.id, answers=answers,
                                       result=result.to_dict(), view=view, source=source)
    return page_id, view


# --- HTTP --------------------------------------------------------------------------------
def _headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",  # the id is the access right: never leak it
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex, nofollow",
    }


def _render(request: web.Request, template: str, context: dict[str, Any],
            status: int = 200) -> web.Response:
    nonce = secrets.token_urlsafe(12)
    response = aiohttp_jinja2.render_template(
        template, request, {**context, "nonce": nonce}, app_key=RESULT_PAGES_JINJA,
        status=status)
    response.headers.update(_headers(nonce))
    return response


async def result_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    await enforce(request, RateLimiter(request.app[STORE]), "result_page",
                  limit=settings.result_page_rate_limit, window=60)
    page_id = request.match_info["page_id"]
    row = None
    if PAGE_ID.fullmatch(page_id):
        row = await EligibilityResultPage.get_or_none(id=page_id)
    if row is None:
        return _render(request, NOT_FOUND_TEMPLATE, {}, status=404)
    view = row.view
    return _render(request, PAGE_TEMPLATE, {
        "view": view,
        "created": row.created_at.astimezone(REGION_TZ).strftime("%Y年%m月%d日 %H:%M"),
        "state": "blocked" if view["blocked"] else (
            "eligible" if view["eligible"] else ("pending" if not view["decided"] else "no")),
    })


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app, app_key=RESULT_PAGES_JINJA, loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]), default_helpers=False,
    )
    app.router.add_get("/r/{page_id}", result_page)
