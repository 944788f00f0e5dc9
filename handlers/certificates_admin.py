"""HR officers' certificate endpoints under /api/v1/admin/ (bearer token, role, audit).

* committees: ``POST /api/v1/admin/committees`` (a league-city officer only for their own
  league city), ``GET /api/v1/admin/committees``;
* issue one certificate: ``POST /api/v1/admin/certificates``; details
  ``GET /api/v1/admin/certificates/{public_id}``; printable page
  ``GET /api/v1/admin/certificates/{public_id}/printable.pdf`` (or ``.png``); a
  league-city officer sees only certificates of their own league city's committees
  (403 otherwise, as for binding codes);
* import: ``POST /api/v1/admin/certificates/imports?filename=F.csv`` with the file as
  the body (CSV or XLSX, up to 64 MB) starts a job and answers 202 with its URL;
  ``GET /api/v1/admin/certificates/imports/{id}`` shows progress and, at the end, the
  row-by-row report. ``&wait=1`` answers with the report directly (small files);
  ``&dry_run=1`` checks without writing;
* revocation (二(一)5, region administrators): ``POST .../{public_id}/revocation``;
* credit blacklist (region administrators): ``POST /api/v1/admin/blacklist``,
  ``GET /api/v1/admin/blacklist``;
* one-time binding codes: ``POST /api/v1/admin/talent/binding-codes`` returns the code
  once and, with ``send_to_openid``, sends it to that WeChat user.

Bad input answers 422 ``{"errors": [{"field", "message"}]}``; nothing is half-written.
Text holding control characters (NUL and the other C0 controls) is bad input.
ID numbers in requests are never echoed, logged or audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date
from typing import Any

from aiohttp import web

from bot.appkeys import BACKGROUND, CLIENT, SETTINGS, STORE
from bot.http_bodies import read_up_to
from bot.wechat_client import WeChatAPIError
from certificates.idcard import InvalidIdNumber, mask_name, validate_id_number
from certificates.import_rows import ALL_LEAGUE_CITIES, BAD_CHARACTERS
from certificates.importer import ImportReport, Progress, new_import_id
from certificates.printable import CjkFontNotFound
from certificates.registry import CommitteeProblem, IssueRefused, RevocationProblem
from certificates.signing import is_public_id
from handlers import json_body
from handlers.admin_auth import (
    REGION_ADMIN,
    Officer,
    audit,
    forbid_unless_may_target,
    require_role,
)
from handlers.certificates_keys import CERT_BINDING, CERTS
from models import BlacklistEntry, Certificate, ReviewCommittee
from notices.text import has_control_chars

log = logging.getLogger("handlers.certificates_admin")
routes = web.RouteTableDef()

IMPORT_MAX_BYTES = 64 * 1024 * 1024
JOB_TTL = 24 * 3600


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def _errors(*pairs: tuple[str, str], status: int = 422, **extra: Any) -> web.Response:
    return _json({"errors": [{"field": f, "message": m} for f, m in pairs], **extra}, status)


class BadInput(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await json_body.read_json(request)
    except json_body.JsonBodyError as exc:
        raise BadInput("body", exc.message) from None
    if not isinstance(body, dict):
        raise BadInput("body", "请求体应为 JSON 对象")
    return body


def _date(body: dict[str, Any], field: str, *, required: bool = True) -> date | None:
    value = body.get(field)
    if value in (None, ""):
        if required:
            raise BadInput(field, "不能为空")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadInput(field, "应为 YYYY-MM-DD 格式的日期") from None


def _text(body: dict[str, Any], field: str, limit: int, *, multiline: bool = False) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(field, "不能为空")
    if len(value) > limit:
        raise BadInput(field, f"最多{limit}个字符")
    if has_control_chars(value, multiline=multiline):
        raise BadInput(field, BAD_CHARACTERS)
    return value.strip()


def _officer(request: web.Request) -> Officer:
    return request["officer"]


def _scope(officer: Officer) -> str:
    return ALL_LEAGUE_CITIES if officer.is_region_admin else str(officer.league_city)


async def _covers(officer: Officer, **certificates: Any) -> bool:
    """May `officer` act on what the certificates matching `certificates` (ORM filter)
    stand for? Region administrators always; a league-city officer only if one of them
    was reviewed by a committee of their own league city."""
    return officer.is_region_admin or await Certificate.filter(
        **certificates, committee__league_city=officer.league_city
    ).exists()


def _bad_input_guard(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadInput as exc:
            return _errors((exc.field, exc.message))

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# -- committees --------------------------------------------------------------------------------


def _committee_json(row: ReviewCommittee) -> dict[str, Any]:
    return {
        "code": row.code, "name": row.name, "series": row.series, "levels": row.levels,
        "built_by": row.built_by, "league_city": row.league_city,
        "filing_number": row.filing_number, "filed_on": row.filed_on,
        "valid_until": row.valid_until, "self_review": row.self_review,
    }


@routes.post("/api/v1/admin/committees")
@require_role()
@_bad_input_guard
async def create_committee(request: web.Request) -> web.Response:
    body = await _body(request)
    officer = _officer(request)
    league_city = body.get("league_city") or None
    forbid_unless_may_target(officer, league_city)
    data = {**body, "filed_on": _date(body, "filed_on", required=False),
            "valid_until": _date(body, "valid_until", required=False)}
    try:
        row = await request.app[CERTS].add_committee(data)
    except CommitteeProblem as exc:
        return _errors((exc.field, exc.message))
    await audit(request, "committee.create", target=f"committee:{row.code}",
                detail={"name": row.name, "filing_number": row.filing_number})
    return _json(_committee_json(row), 201)


@routes.get("/api/v1/admin/committees")
@require_role()
async def list_committees(request: web.Request) -> web.Response:
    rows = await ReviewCommittee.all().order_by("code")
    return _json({"committees": [_committee_json(r) for r in rows]})


# -- issuing and details ------------------------------------------------------------------------


@routes.post("/api/v1/admin/certificates")
@require_role()
@_bad_input_guard
async def issue(request: web.Request) -> web.Response:
    body = await _body(request)
    service = request.app[CERTS]
    try:
        cert = await service.issue(body, scope=_scope(_officer(request)),
                                   actor=_officer(request).name)
    except IssueRefused as exc:
        return _errors(*((e.field, e.message) for e in exc.errors), code="issue_refused")
    await audit(request, "certificate.issue", target=f"certificate:{cert.public_id}",
                detail={"number": cert.number})
    return _json({
        "public_id": cert.public_id, "number": cert.number,
        "verify_url": service.url(cert.token),
        "qr_png": f"/v/{cert.token}/qr.png", "qr_svg": f"/v/{cert.token}/qr.svg",
    }, 201)


def _file_too_large() -> web.Response:
    return _errors(("file", "文件过大（最大64 MB），请拆分后分批导入"), status=413)


@routes.post("/api/v1/admin/certificates/imports")
@require_role()
async def start_import(request: web.Request) -> web.Response:
    """The file is the request body; `filename` (query) tells CSV from XLSX."""
    filename = request.query.get("filename", "upload.csv")
    if len(filename) > 255 or has_control_chars(filename):
        return _errors(("filename", "文件名过长或含有控制字符，请改名后重新上传"))
    if request.content_length is not None and request.content_length > IMPORT_MAX_BYTES:
        return _file_too_large()  # declared too large: refused before reading a byte of it
    data = await read_up_to(request.content, IMPORT_MAX_BYTES + 1)  # chunked: one byte over
    if len(data) > IMPORT_MAX_BYTES:
        return _file_too_large()
    if not data:
        return _errors(("file", "请在请求体中上传 CSV 或 XLSX 文件"))
    officer = _officer(request)
    import_id = new_import_id()
    job = ImportJob(request.app, import_id, officer, filename,
                    dry_run=request.query.get("dry_run") in ("1", "true"))
    await job.save()
    task = asyncio.create_task(job.run(request, data), name=f"certificate-import-{import_id}")
    request.app[BACKGROUND].add(task)
    task.add_done_callback(request.app[BACKGROUND].discard)
    if request.query.get("wait") in ("1", "true"):
        report = await asyncio.shield(task)
        return _json(report.as_dict(), 200 if report.ok else 422)
    return _json({"import_id": import_id,
                  "status_url": f"/api/v1/admin/certificates/imports/{import_id}"}, 202)


class ImportJob:
    """One import run in the background; its state lives in the state store, so any
    process can answer the status URL."""

    def __init__(self, app: web.Application, import_id: str, officer: Officer, filename: str,
                 *, dry_run: bool) -> None:
        self.app = app
        self.import_id = import_id
        self.officer = officer
        self.filename = filename
        self.dry_run = dry_run
        self.progress = Progress()
        self.status = "running"
        self.report: dict[str, Any] | None = None
        self.started = time.time()

    async def save(self) -> None:
        await self.app[STORE].set_json(f"certimport:{self.import_id}", {
            "import_id": self.import_id, "status": self.status, "filename": self.filename,
            "dry_run": self.dry_run, "token_id": self.officer.token_id,
            "progress": self.progress.as_dict(), "started_at": self.started,
            "report": self.report,
        }, ttl=JOB_TTL)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(0.3)
            await self.save()

    async def run(self, request: web.Request, data: bytes) -> ImportReport:
        reporter = asyncio.create_task(self._report_progress())
        try:
            report = await self.app[CERTS].import_file(
                data, self.filename, scope=_scope(self.officer), import_id=self.import_id,
                progress=self.progress, dry_run=self.dry_run,
            )
        except Exception:
            log.exception("certificate import failed", extra={"import_id": self.import_id})
            report = None
        finally:
            reporter.cancel()
        if report is None:
            self.status = "failed"
            self.report = {"ok": False, "message": "导入失败（系统错误），未写入任何数据"}
        else:
            self.status = "succeeded" if report.ok else "rejected"
            self.report = report.as_dict()
        await self.save()
        await audit(request, "certificates.import", target=f"import:{self.import_id}",
                    detail={"filename": self.filename, "status": self.status,
                            "dry_run": self.dry_run,
                            "total_rows": report.total if report else None,
                            "written": report.written if report else 0,
                            "error_count": report.error_count if report else None})
        if report is None:
            raise RuntimeError("import failed")
        return report


@routes.get("/api/v1/admin/certificates/imports/{import_id}")
@require_role()
async def import_status(request: web.Request) -> web.Response:
    job = await request.app[STORE].get_json(f"certimport:{request.match_info['import_id']}")
    officer = _officer(request)
    if job is None or (not officer.is_region_admin and job["token_id"] != officer.token_id):
        return _errors(("import_id", "没有这个导入任务"), status=404)
    job.pop("token_id", None)
    return _json(job)


def _public_id_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"errors": [{"field": "public_id", "message": message}]},
                                  ensure_ascii=False), content_type="application/json")


async def _certificate(request: web.Request) -> Certificate:
    """The certificate of the path; 404 if there is none, 403 if the officer's league
    city did not review it (the check `binding_code` applies: `_covers`)."""
    public_id = request.match_info["public_id"]
    cert = await Certificate.get_or_none(public_id=public_id) if is_public_id(public_id) else None
    if cert is None:
        raise _public_id_error(web.HTTPNotFound, "没有这张证书")
    if not await _covers(_officer(request), id=cert.id):
        raise _public_id_error(web.HTTPForbidden, "该证书不是本盟市评委会评审的证书")
    return cert


@routes.get("/api/v1/admin/certificates/{public_id}")
@require_role()
async def certificate_details(request: web.Request) -> web.Response:
    cert = await _certificate(request)
    service = request.app[CERTS]
    outcome = await service.verify(cert.token)
    await cert.fetch_related("person")
    return _json({
        "public_id": cert.public_id, "number": cert.number,
        "holder_name": mask_name(cert.person.name),
        "status": outcome.verdict.status.value, "status_label": outcome.verdict.label,
        "reasons": list(outcome.verdict.reasons),
        "fields": [list(p) for p in outcome.verdict.display],
        "verify_url": service.url(cert.token), "import_id": cert.import_id,
    })


@routes.get("/api/v1/admin/certificates/{public_id}/printable.{fmt:pdf|png}")
@require_role()
async def printable(request: web.Request) -> web.Response:
    cert = await _certificate(request)
    fmt = request.match_info["fmt"]
    try:
        body = await request.app[CERTS].printable(cert, fmt)
    except CjkFontNotFound as exc:
        log.error("printable certificate: %s", exc)
        return _json({"errors": [{"field": "font", "message": "服务器未安装中文字体，"
                                                              "暂时无法生成可打印证书"}]}, 503)
    await audit(request, "certificate.print", target=f"certificate:{cert.public_id}",
                detail={"format": fmt})
    ctype = "application/pdf" if fmt == "pdf" else "image/png"
    return web.Response(body=body, content_type=ctype, headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="certificate-{cert.number}.{fmt}"'.encode(
            "ascii", "replace").decode(),
    })


# -- revocation and blacklist ----------------------------------------------------------------


@routes.post("/api/v1/admin/certificates/{public_id}/revocation")
@require_role(REGION_ADMIN)
@_bad_input_guard
async def revoke(request: web.Request) -> web.Response:
    body = await _body(request)
    revoked_on = _date(body, "revoked_on")
    reason = _text(body, "reason", 500, multiline=True)
    document = _text(body, "document", 128)
    blacklist = body.get("blacklist", True)
    if not isinstance(blacklist, bool):
        raise BadInput("blacklist", "应为 true 或 false")
    assert revoked_on is not None
    try:
        row = await request.app[CERTS].revoke(
            request.match_info["public_id"], revoked_on=revoked_on, reason=reason,
            document=document, actor=_officer(request).name, blacklist=blacklist,
        )
    except RevocationProblem as exc:
        status = 404 if exc.code == "certificate_not_found" else (
            409 if exc.code == "already_revoked" else 422)
        return _errors(("public_id" if status != 422 else exc.code, exc.message),
                       status=status, code=exc.code)
    await audit(request, "certificate.revoke",
                target=f"certificate:{request.match_info['public_id']}",
                detail={"revoked_on": revoked_on.isoformat(), "document": document,
                        "blacklist": blacklist})
    return _json({"revoked_on": row.revoked_on, "reason": row.reason,
                  "document": row.document, "blacklisted": blacklist}, 201)


def _id_number(body: dict[str, Any], today: date) -> str:
    value = body.get("id_number")
    if not isinstance(value, str) or not value.strip():
        raise BadInput("id_number", "不能为空")
    try:
        return validate_id_number(value, today=today)
    except InvalidIdNumber as exc:
        raise BadInput("id_number", exc.message) from None


@routes.post("/api/v1/admin/blacklist")
@require_role(REGION_ADMIN)
@_bad_input_guard
async def add_blacklist(request: web.Request) -> web.Response:
    body = await _body(request)
    service = request.app[CERTS]
    id_number = _id_number(body, service.today())
    entered_on = _date(body, "entered_on")
    reason = _text(body, "reason", 500, multiline=True)
    document = _text(body, "document", 128)
    person = await service.person_by_id_number(id_number)
    if person is None:
        raise BadInput("id_number", "人才信息库中没有该身份证号码")
    assert entered_on is not None
    entry = await service.add_blacklist(person, entered_on=entered_on, reason=reason,
                                        document=document, actor=_officer(request).name)
    await audit(request, "blacklist.add", target=f"person:{person.id}",
                detail={"entered_on": entered_on.isoformat(), "document": document})
    return _json({"id": entry.id, "holder_name": mask_name(person.name),
                  "entered_on": entry.entered_on, "until": entry.until}, 201)


@routes.get("/api/v1/admin/blacklist")
@require_role(REGION_ADMIN)
async def list_blacklist(request: web.Request) -> web.Response:
    today = request.app[CERTS].today()
    rows = await BlacklistEntry.all().select_related("person").order_by("-entered_on")
    return _json({"entries": [{
        "id": r.id, "holder_name": mask_name(r.person.name), "entered_on": r.entered_on,
        "until": r.until, "in_force": r.until >= today, "reason": r.reason,
        "document": r.document,
    } for r in rows]})


# -- binding codes -----------------------------------------------------------------------------


@routes.post("/api/v1/admin/talent/binding-codes")
@require_role()
@_bad_input_guard
async def binding_code(request: web.Request) -> web.Response:
    """A one-time code for the holder's 我的证书 binding; shown once, stored hashed."""
    body = await _body(request)
    service = request.app[CERTS]
    officer = _officer(request)
    person = await service.person_by_id_number(_id_number(body, service.today()))
    if person is None:
        raise BadInput("id_number", "人才信息库中没有该身份证号码")
    if not await _covers(officer, person_id=person.id):
        return _errors(("id_number", "该人员没有本盟市评委会评审的证书"), status=403)
    openid = body.get("send_to_openid")
    if openid is not None and (not isinstance(openid, str) or not 1 <= len(openid) <= 64):
        raise BadInput("send_to_openid", "应为微信用户的 openid")
    days = request.app[SETTINGS].cert_binding_code_days
    code, expires = await request.app[CERT_BINDING].issue_code(person.id, actor=officer.name,
                                                               days=days)
    sent = False
    if openid:
        text = (f"您好，您的职称电子证书绑定码是 {code}，{days}天内有效，仅可使用一次。"
                "请在本服务号回复“我的证书”，按提示输入姓名、身份证号码和绑定码。"
                "请勿将绑定码告诉他人。")
        try:
            await request.app[CLIENT].send_text(openid, text)
            sent = True
        except WeChatAPIError as exc:
            log.warning("binding code not sent", extra={"errcode": exc.errcode})
    await audit(request, "talent.binding_code", target=f"person:{person.id}",
                detail={"sent_to_wechat": sent})
    return _json({"code": code, "expires_at": expires.isoformat(), "sent": sent,
                  "holder_name": mask_name(person.name)}, 201)

