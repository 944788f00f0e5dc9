"""The verification page an employer opens by scanning a certificate: ``/v/{token}``.

Two seconds: a full-width coloured banner with one word-sized verdict (有效 / 已撤销 /
无效 / 查无此证) and the reason, then the signed fields with the name masked (张*明), then
a box to type the candidate's full name or ID number, answered only with 一致 / 不一致.
No ID number is ever shown, the page needs no JavaScript, and it is not cached or indexed.

Rendering: a scan only fills a cached skeleton of its page shape with its escaped values
(`Skeleton`); the template runs once per shape. Unknown and forged tokens get the same
404 page. The QR images of a genuine certificate
are at ``/v/{token}/qr.png`` and ``.svg`` (rendered once, then cached).
"""

from __future__ import annotations

import base64
import hashlib
import re

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from certificates.registry import CertificateGone
from certificates.status import Verdict, VerificationStatus, format_date, not_genuine
from handlers.certificates_common import (
    AnswerProblem,
    RateLimited,
    enforce_verify_limits,
    log_view,
    match_and_log,
    read_answer,
    verify_and_log,
)
from handlers.certificates_keys import CERT_PAGE_CACHE, CERT_PAGES, CERTS

routes = web.RouteTableDef()

HEADLINES = {
    VerificationStatus.VALID: ("✓", "证书有效"),
    VerificationStatus.REVOKED: ("✕", "证书已撤销"),
    VerificationStatus.VOID_COMMITTEE_NOT_FILED: ("✕", "证书无效"),
    VerificationStatus.NOT_GENUINE: ("?", "查无此证"),
}
VOID_LEAD = "颁发该证书的评审委员会未经人力资源社会保障部门核准备案，证书无效（二(六)6）。"
VALID_LEAD = "经核验，该职称证书真实有效。"
FOOTNOTE_GENUINE = "证书状态以本页为准。"
FOOTNOTE_NOT_GENUINE = "请联系发证机关核实，勿仅凭该证书认定职称。"


_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def _headers(html: str) -> dict[str, str]:
    """Security headers; the CSP allows exactly the page's own inline style (by hash)."""
    styles = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _STYLE.findall(html)
    ) or "'none'"
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {styles}; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex, nofollow",
    }


def _reasons(verdict: Verdict) -> list[str]:
    if verdict.status is VerificationStatus.VALID:
        return [VALID_LEAD]
    if verdict.status is VerificationStatus.VOID_COMMITTEE_NOT_FILED:
        return [VOID_LEAD, *verdict.reasons]
    return list(verdict.reasons)


_SLOT = re.compile("\x00(\\d+)\x00")


def _slot(n: int) -> str:
    return f"\x00{n}\x00"  # never produced by escaping, never in the template


class Skeleton:
    """The page for one shape of verdict (status, field labels, number of reasons,
    answer), rendered once by the template with numbered slots where the certificate's
    own values go; a scan then only escapes and joins its values (no template run).
    Slots: 0 the form action, 1 the check date, then the reasons, then the field values."""

    __slots__ = ("headers", "parts", "slots")

    def __init__(self, html: str) -> None:
        pieces = _SLOT.split(html)  # text, slot number, text, slot number, ..., text
        # Kept as UTF-8 bytes: encoding the whole 4 KB page per scan cost more than
        # escaping its values (a CJK str is encoded character by character).
        self.parts = [p.encode("utf-8") for p in pieces]
        self.slots = [(i, int(pieces[i])) for i in range(1, len(pieces), 2)]
        self.headers = _headers(html)  # the style is static: the CSP hash holds for all

    def fill(self, values: list[str]) -> bytes:
        out = self.parts.copy()
        escaped = _escape_all(values)
        for at, n in self.slots:
            out[at] = escaped[n]
        return b"".join(out)


def _escape_all(values: list[str]) -> list[bytes]:
    """Every value escaped and UTF-8 encoded, in one pass over them joined by NUL (which
    escaping leaves alone): a fraction of the cost of doing 15 short values one by one.
    If a value itself holds a NUL, each is done alone."""
    escaped = _escape("\x00".join(values)).encode("utf-8").split(b"\x00")
    if len(escaped) != len(values):
        return [_escape(v).encode("utf-8") for v in values]
    return escaped


def _escape(text: str) -> str:
    """HTML-escape as markupsafe does (same entities), on plain str: no Markup objects."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def _skeleton(request: web.Request, verdict: Verdict, fields: list[tuple[str, str]],
              reasons: list[str], answer: dict | None) -> Skeleton:
    labels = tuple(label for label, _ in fields)
    answer_key = None if answer is None else (answer["css"], answer["text"])
    key = ("skeleton", verdict.status, labels, len(reasons), answer_key)
    cache = request.app[CERT_PAGE_CACHE]
    skeleton = cache.get(key)
    if skeleton is None:
        mark, headline = HEADLINES[verdict.status]
        genuine = verdict.status is not VerificationStatus.NOT_GENUINE
        first = 2 + len(reasons)
        html = request.app[CERT_PAGES].get_template("certificates/verify.html").render(
            status=verdict.status.value, mark=mark, headline=headline,
            reasons=[_slot(2 + i) for i in range(len(reasons))],
            fields=[(label, _slot(first + i)) for i, label in enumerate(labels)],
            action=_slot(0), answer=answer, checked_on=_slot(1),
            footnote=FOOTNOTE_GENUINE if genuine else FOOTNOTE_NOT_GENUINE,
        )
        skeleton = Skeleton(html)
        cache.put(key, skeleton)
    return skeleton


def render(request: web.Request, token: str, verdict: Verdict, *, answer: dict | None = None,
           status: int | None = None) -> web.Response:
    """The page for `verdict`: its shape's skeleton filled with this certificate's values."""
    genuine = verdict.status is not VerificationStatus.NOT_GENUINE
    fields = [f for f in verdict.display if f[0] != "证书状态"]
    reasons = _reasons(verdict)
    skeleton = _skeleton(request, verdict, fields, reasons, answer)
    values = [request.path, format_date(verdict.checked_on), *reasons,
              *(str(v) for _, v in fields)]
    return web.Response(body=skeleton.fill(values), content_type="text/html",
                        charset="utf-8", status=status or (200 if genuine else 404),
                        headers=skeleton.headers)


def _too_many(request: web.Request, exc: RateLimited) -> web.Response:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>请稍后再试</title></head><body>'
        "<h1>查验过于频繁</h1><p>请稍后再试。</p></body></html>"
    )
    headers = {**_headers(html), "Retry-After": str(exc.retry_after)}
    return web.Response(text=html, content_type="text/html", status=429, headers=headers)


@routes.get("/v/{token}")
async def verify_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        outcome = await verify_and_log(request, token, "page")
    except RateLimited as exc:
        return _too_many(request, exc)
    return render(request, token, outcome.verdict)


UNREADABLE_FORM = "无法读取提交的内容，请在本页输入框中重新输入持证人的全名或身份证号码。"


async def _form_answer(request: web.Request) -> str | None:
    """The form's `answer` field; None when the body cannot be read as a form (not
    UTF-8, an unknown charset, broken multipart): a 4xx for the caller, not a 500."""
    try:
        form = await request.post()
    except (ValueError, LookupError, AssertionError, HttpProcessingError):
        return None  # UnicodeDecodeError is a ValueError; bad multipart headers: the last
    return str(form.get("answer") or "")


def _not_found(request: web.Request, token: str) -> web.Response:
    """The 查无此证 page, e.g. for a certificate deleted after its record was cached."""
    return render(request, token, not_genuine(request.app[CERTS].today(), "record_not_found"))


@routes.post("/v/{token}")
async def match_page(request: web.Request) -> web.Response:
    """The employer's "is the holder X?" form: answers 一致 / 不一致 only."""
    token = request.match_info["token"]
    try:
        # Rate limits and the verdict first: the body is only read for a genuine token.
        outcome = await verify_and_log(request, token, "page", comparing=True)
        if outcome.certificate_id is None:
            return render(request, token, outcome.verdict)
        text = await _form_answer(request)
        try:
            if text is None:
                raise AnswerProblem("answer", UNREADABLE_FORM)
            answer = read_answer(text)
        except AnswerProblem as exc:
            log_view(request, outcome, "page")
            return render(request, token, outcome.verdict, status=422,
                          answer={"css": "err", "text": exc.message})
        same = await match_and_log(request, token, outcome, answer, "page")
    except RateLimited as exc:
        if exc.code == "match_rate_limited":
            return render(request, token, outcome.verdict, status=429,
                          answer={"css": "err", "text": "对该证书的核对次数过多，请一小时后再试。"})
        return _too_many(request, exc)
    except CertificateGone:
        return _not_found(request, token)
    what = "身份证号码" if answer.field == "id_number" else "姓名"
    text = f"一致：与持证人的{what}一致。" if same else f"不一致：与持证人的{what}不一致。"
    return render(request, token, outcome.verdict, answer={"css": "yes" if same else "no",
                                                           "text": text})


async def _qr(request: web.Request, fmt: str) -> web.Response:
    token = request.match_info["token"]
    try:
        enforce_verify_limits(request, token)
    except RateLimited as exc:
        return _too_many(request, exc)
    service = request.app[CERTS]
    outcome = await service.verify(token)
    if outcome.certificate_id is None:
        raise web.HTTPNotFound(text="查无此证")
    try:
        cert = await service.certificate(outcome)
    except CertificateGone:
        raise web.HTTPNotFound(text="查无此证") from None
    png, svg = await service.qr_images(cert)
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if fmt == "png":
        return web.Response(body=png, content_type="image/png", headers=headers)
    return web.Response(text=svg, content_type="image/svg+xml", headers=headers)


@routes.get("/v/{token}/qr.png")
async def qr_png(request: web.Request) -> web.Response:
    return await _qr(request, "png")


@routes.get("/v/{token}/qr.svg")
async def qr_svg(request: web.Request) -> web.Response:
    return await _qr(request, "svg")
