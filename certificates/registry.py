"""The certificate service on top of the database: committees, issuing, QR images, the
verification verdict, revocation and the credit blacklist.

Why one service object: the web pages, the admin API, the chat and the command line need
the same operations with the same keys (personal-data cipher, signing key ring, QR
renderer) and the same clock; the composition root builds one per process and hands it
around (an AppKey in the web app, a local in the CLI). The rules themselves live in the
pure modules (`status`, `signing`, `import_rows`); this module loads and stores.

Verification speed: an employer's scan must be cheap even under load, so the verdict's
inputs (a `CertificateRecord` with the holder's name already masked: no clear name is
cached) are kept in each process for `RECORD_TTL` seconds
(`certificates.hotpath.LocalRecords`), loaded with one joined query on a miss, and
concurrent misses share one query (`certificates.hotpath.BatchedLoads`). Revoking a
certificate drops them at once in the revoking process and within ~0.1 s in every other
one (a generation counter in the state store); a change to a committee's filing made
directly in the database shows within `RECORD_TTL`. Rate-limit counters are counted
locally and pushed to the store every 0.1 s (`certificates.hotpath.SharedCounters`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.storage.base import StateStore
from certificates.clock import add_years, china_today
from certificates.hotpath import BatchedLoads, LocalRecords, SharedCounters
from certificates.idcard import mask_id_number, mask_name
from certificates.import_rows import (
    ALL_LEAGUE_CITIES,
    BAD_CHARACTERS,
    RowError,
    quote_cell,
)
from certificates.importer import (
    ImportReport,
    committee_ref,
    run_import,
)
from certificates.personal_data import PersonalDataCipher
from certificates.printable import PrintableCertificate, find_cjk_font, render_pdf, render_png
from certificates.qr import QrRenderer
from certificates.qr_backfill import QrBackfill
from certificates.signing import (
    InvalidToken,
    KeyRing,
    VerifiedToken,
    is_public_id,
    token_parts,
)
from certificates.status import (
    FILING_MAX_YEARS,
    LEVEL_LABELS,
    OBTAINED_BY_LABELS,
    CertificateRecord,
    Committee,
    Level,
    ObtainedBy,
    Revocation,
    Verdict,
    VerificationStatus,
    format_date,
    not_genuine,
    verdict,
)
from models import (
    BlacklistEntry,
    Certificate,
    CertificateQr,
    CertificateRevocation,
    Person,
    ReviewCommittee,
    WechatUser,
)
from notices.league_cities import LEAGUE_CITY_BY_CODE
from notices.series import SERIES
from notices.text import has_control_chars

__all__ = [
    "BLACKLIST_YEARS",
    "CertificateService",
    "VerifiedTokenCache",
    "CertificateGone",
    "CommitteeProblem",
    "IssueRefused",
    "RevocationProblem",
    "blacklisted_year",
]

log = logging.getLogger("certificates.registry")

RECORD_TTL = 30.0
BLACKLIST_YEARS = 5  # 二(一)5


class VerifiedTokenCache(KeyRing):
    """A key ring that remembers tokens it has verified (an LRU of `size` entries).

    A token is an immutable signed string: once its signature checked out against this
    ring it always will, so repeat scans of the same certificate (the common case) skip
    the Ed25519 verification, which is most of a verification's CPU. Only successes are
    remembered, and only the signature check (`issued_on=None`); anything that fails is
    checked again every time. The key-validity check against the issue date is not
    cached (`status.verdict` does it from the ring's keys).
    """

    def __init__(self, keys: Any = (), *, size: int = 20_000) -> None:
        super().__init__(keys)
        self._size = size
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()

    def verify_details(self, token: object, *, issued_on: date | None = None) -> VerifiedToken:
        if issued_on is None and isinstance(token, str):
            with self._lock:
                hit = self._verified.get(token)
                if hit is not None:
                    self._verified.move_to_end(token)
                    return hit
        found = super().verify_details(token, issued_on=issued_on)
        if issued_on is None and isinstance(token, str):
            with self._lock:
                self._verified[token] = found
                while len(self._verified) > self._size:
                    self._verified.popitem(last=False)
        return found


class IssueRefused(ValueError):
    """A certificate may not be issued; `errors` say why (field + Chinese message)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class CommitteeProblem(ValueError):
    """A committee's data is not acceptable; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CertificateGone(LookupError):
    """The certificate was deleted from the database after its record was cached: answer
    as for an unknown token (查无此证), never with a server error."""


class RevocationProblem(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VerifyOutcome:
    verdict: Verdict
    certificate_id: int | None  # None unless genuine
    record: dict[str, Any] | None = None  # the cached record (holder name masked)


# -- record (de)serialisation for the cache -------------------------------------------------


def record_json(cert_id: int, person_id: int, record: CertificateRecord,
                token: str) -> dict[str, Any]:
    """The cached record of a certificate, with `token`, the QR token stored at issue."""
    c = record.committee
    r = record.revocation
    return {
        "id": cert_id,
        "person_id": person_id,
        "public_id": record.public_id,
        "token": token,
        "number": record.number,
        "holder": record.holder_name,  # already masked
        "series": record.series,
        "specialty": record.specialty,
        "qualification": record.qualification,
        "level": record.level.value,
        "committee": None if c is None else {
            "name": c.name, "filing_number": c.filing_number,
            "filed_on": c.filed_on.isoformat() if c.filed_on else None,
            "valid_until": c.valid_until.isoformat() if c.valid_until else None,
            "series": sorted(c.series), "levels": sorted(v.value for v in c.levels),
        },
        "approval_document": record.approval_document,
        "approved_on": record.approved_on.isoformat(),
        "issued_on": record.issued_on.isoformat(),
        "obtained_by": record.obtained_by.value,
        "revocation": None if r is None else {
            "revoked_on": r.revoked_on.isoformat(), "reason": r.reason, "document": r.document,
        },
    }


def _d(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _record_from_json(data: dict[str, Any]) -> CertificateRecord:
    c = data["committee"]
    r = data["revocation"]
    return CertificateRecord(
        public_id=data["public_id"],
        number=data["number"],
        holder_name=data["holder"],
        series=data["series"],
        specialty=data["specialty"],
        qualification=data["qualification"],
        level=Level(data["level"]),
        committee=None if c is None else Committee(
            name=c["name"], filing_number=c["filing_number"], filed_on=_d(c["filed_on"]),
            valid_until=_d(c["valid_until"]), series=frozenset(c["series"]),
            levels=frozenset(Level(v) for v in c["levels"]),
        ),
        approval_document=data["approval_document"],
        approved_on=date.fromisoformat(data["approved_on"]),
        issued_on=date.fromisoformat(data["issued_on"]),
        obtained_by=ObtainedBy(data["obtained_by"]),
        revocation=None if r is None else Revocation(
            revoked_on=date.fromisoformat(r["revoked_on"]), reason=r["reason"],
            document=r["document"],
        ),
    )


_RECORD_SQL = """
SELECT c.id, c.person_id, c.public_id, c.token, c.number, c.series, c.specialty, c.qualification,
       c.level, c.approval_document, c.approved_on, c.issued_on, c.obtained_by,
       p.name AS holder, c.committee_id, k.name AS c_name,
       k.filing_number AS c_filing_number, k.filed_on AS c_filed_on,
       k.valid_until AS c_valid_until, k.series AS c_series, k.levels AS c_levels,
       r.id AS revocation_id, r.revoked_on AS r_revoked_on, r.reason AS r_reason,
       r.document AS r_document
FROM certificate c
JOIN talent_person p ON p.id = c.person_id
LEFT JOIN review_committee k ON k.id = c.committee_id
LEFT JOIN certificate_revocation r ON r.certificate_id = c.id
WHERE c.public_id {match}
"""
_RECORD_SQL_PG = _RECORD_SQL.format(match="= ANY($1::text[])")


def _iso(value: Any) -> str | None:
    """A date column as ISO text (SQLite gives text, PostgreSQL date objects)."""
    if value is None or isinstance(value, str):
        return value[:10] if isinstance(value, str) else None
    return value.isoformat()


def _date(value: Any) -> date:
    """A date column as a date (SQLite gives text, PostgreSQL date objects)."""
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _committee_pair(row: Any, memo: dict) -> tuple[dict | None, Committee | None]:
    """The committee of a `_RECORD_SQL` row as cached JSON and as the domain object,
    memoised by its column values: thousands of certificates share a few committees,
    and parsing their scope (JSON) per scan was a tenth of a cold scan's own work."""
    if row["committee_id"] is None:
        return None, None
    key = (row["committee_id"], row["c_name"], row["c_filing_number"], row["c_filed_on"],
           row["c_valid_until"], row["c_series"], row["c_levels"])
    try:
        found = memo.get(key)
    except TypeError:  # a driver that decoded the JSON columns: not hashable, no memo
        key, found = None, None
    if found is not None:
        return found
    series = sorted(_json(row["c_series"]) or [])
    levels = sorted(_json(row["c_levels"]) or [])
    filed_on, valid_until = row["c_filed_on"], row["c_valid_until"]
    data = {"name": row["c_name"], "filing_number": row["c_filing_number"],
            "filed_on": _iso(filed_on), "valid_until": _iso(valid_until),
            "series": series, "levels": levels}
    committee = Committee(
        name=row["c_name"], filing_number=row["c_filing_number"],
        filed_on=None if filed_on is None else _date(filed_on),
        valid_until=None if valid_until is None else _date(valid_until),
        series=frozenset(series), levels=frozenset(Level(v) for v in levels),
    )
    if key is not None:
        if len(memo) > 1000:
            memo.clear()
        memo[key] = (data, committee)
    return data, committee


def _record_pair(row: Any, memo: dict) -> tuple[dict[str, Any], CertificateRecord]:
    """A row of `_RECORD_SQL` as (the cached JSON record, the domain record), built in
    one pass; the same values as `record_json` and `record_of` give from the ORM."""
    committee_data, committee = _committee_pair(row, memo)
    revocation_data = revocation = None
    if row["revocation_id"] is not None:
        revoked_on = _date(row["r_revoked_on"])
        revocation_data = {"revoked_on": revoked_on.isoformat(), "reason": row["r_reason"],
                           "document": row["r_document"]}
        revocation = Revocation(revoked_on, row["r_reason"], row["r_document"])
    approved_on, issued_on = _date(row["approved_on"]), _date(row["issued_on"])
    holder = mask_name(row["holder"])
    data = {
        "id": row["id"], "person_id": row["person_id"], "public_id": row["public_id"],
        "token": row["token"], "number": row["number"], "holder": holder,
        "series": row["series"], "specialty": row["specialty"],
        "qualification": row["qualification"], "level": row["level"],
        "committee": committee_data, "approval_document": row["approval_document"],
        "approved_on": approved_on.isoformat(), "issued_on": issued_on.isoformat(),
        "obtained_by": row["obtained_by"], "revocation": revocation_data,
    }
    record = CertificateRecord(
        public_id=row["public_id"], number=row["number"], holder_name=holder,
        series=row["series"], specialty=row["specialty"],
        qualification=row["qualification"], level=Level(row["level"]), committee=committee,
        approval_document=row["approval_document"], approved_on=approved_on,
        issued_on=issued_on, obtained_by=ObtainedBy(row["obtained_by"]),
        revocation=revocation,
    )
    return data, record


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def record_of(cert: Certificate, revocation: CertificateRevocation | None) -> CertificateRecord:
    """The domain record of a loaded certificate (person and committee fetched), holder
    name masked."""
    committee = cert.committee
    return CertificateRecord(
        public_id=cert.public_id,
        number=cert.number,
        holder_name=mask_name(cert.person.name),
        series=cert.series,
        specialty=cert.specialty,
        qualification=cert.qualification,
        level=Level(cert.level),
        committee=None if committee is None else committee_ref(committee).committee,
        approval_document=cert.approval_document,
        approved_on=cert.approved_on,
        issued_on=cert.issued_on,
        obtained_by=ObtainedBy(cert.obtained_by),
        revocation=None if revocation is None else Revocation(
            revocation.revoked_on, revocation.reason, revocation.document
        ),
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _committee_text(data: dict[str, Any], field: str, limit: int, label: str) -> str:
    """A committee's text field, stripped ("" when absent); CommitteeProblem naming the
    field when it is not text, too long or holds control characters."""
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CommitteeProblem(field, f"{label}应为文字")
    if has_control_chars(value):
        raise CommitteeProblem(field, f"{label}{BAD_CHARACTERS}")
    value = value.strip()
    if len(value) > limit:
        raise CommitteeProblem(field, f"{label}过长（最多{limit}个字符）")
    return value


class CertificateService:
    """Everything certificates need from the database, with one set of keys and a clock.

    `today` is a callable so tests can stand on a chosen day (China Standard Time).
    """

    def __init__(
        self,
        *,
        cipher: PersonalDataCipher,
        keyring: KeyRing,
        renderer: QrRenderer,
        store: StateStore,
        today: Callable[[], date] = china_today,
        font_path: str | None = None,
    ) -> None:
        self.cipher = cipher
        self.keyring = (keyring if isinstance(keyring, VerifiedTokenCache)
                        else VerifiedTokenCache(keyring.keys))
        self.renderer = renderer
        self.store = store
        self.today = today
        self.font_path = font_path
        self.limits = SharedCounters(store)
        self.records = LocalRecords(store, ttl=RECORD_TTL)
        self.loads = BatchedLoads(self._load_and_cache)
        self.qr_backfill: QrBackfill | None = None  # set by the server (see import_file)
        # Set by the server on PostgreSQL: verification lookups skip Tortoise's pool
        # (config.database.DedicatedConnection: no acquire and reset per query).
        self.reader: Any = None
        self._committees: dict = {}  # see _committee_pair

    def url(self, token: str) -> str:
        return self.renderer.url(token)

    # -- committees ------------------------------------------------------------------------

    async def add_committee(self, data: dict[str, Any]) -> ReviewCommittee:
        """Register a committee and its filing; refuses a filing longer than 3 years
        (二(六)2), unknown series, levels or league city, over-long or non-text values,
        and control characters (CommitteeProblem naming the field)."""
        raw_series, raw_levels = data.get("series") or [], data.get("levels") or []
        if not _strings(raw_series):
            raise CommitteeProblem("series", "职称系列应为系列名称的列表，如 [\"工程技术\"]")
        if not _strings(raw_levels):
            raise CommitteeProblem("levels", "评审级别应为级别代码的列表，如 [\"senior_deputy\"]")
        series = [SERIES.get(s, s) for s in raw_series]
        unknown = [quote_cell(s) for s in series if s not in SERIES.values()]
        if not series or unknown:
            missing = "、".join(unknown) or "（空）"
            raise CommitteeProblem("series", f"未知或缺少职称系列：{missing}")
        try:
            levels = sorted({Level(v).value for v in raw_levels})
        except ValueError:
            raise CommitteeProblem("levels", "级别应为 senior_full、senior_deputy、"
                                             "intermediate、assistant 或 junior") from None
        if not levels:
            raise CommitteeProblem("levels", "至少需要一个评审级别")
        code = _committee_text(data, "code", 32, "评委会代码")
        name = _committee_text(data, "name", 128, "评委会名称")
        if not code:
            raise CommitteeProblem("code", "评委会代码不能为空，最多32个字符")
        if not name:
            raise CommitteeProblem("name", "评委会名称不能为空")
        built_by = _committee_text(data, "built_by", 128, "组建单位") or "未填写"
        league_city = _committee_text(data, "league_city", 32, "盟市代码") or None
        if league_city is not None and league_city not in LEAGUE_CITY_BY_CODE:
            raise CommitteeProblem("league_city", "未知的盟市代码，应为 "
                                   + "、".join(LEAGUE_CITY_BY_CODE) + " 之一；自治区级评委会不填")
        number = _committee_text(data, "filing_number", 64, "备案编号") or None
        filed_on, valid_until = data.get("filed_on"), data.get("valid_until")
        if number or filed_on or valid_until:
            if not (number and filed_on and valid_until):
                raise CommitteeProblem("filing_number", "备案编号、备案日期和有效期须同时填写")
            if valid_until < filed_on:
                raise CommitteeProblem("valid_until", "有效期终止日期早于备案日期")
            if valid_until > add_years(filed_on, FILING_MAX_YEARS):
                raise CommitteeProblem(
                    "valid_until", f"评委会备案有效期不得超过{FILING_MAX_YEARS}年（二(六)2）"
                )
        try:
            return await ReviewCommittee.create(
                code=code, name=name, series=series, levels=levels, built_by=built_by,
                league_city=league_city, filing_number=number,
                filed_on=filed_on, valid_until=valid_until,
                self_review=bool(data.get("self_review")),
            )
        except IntegrityError:
            raise CommitteeProblem("code", f"评委会代码“{code}”已存在") from None

    # -- issuing ---------------------------------------------------------------------------

    async def issue(self, row: dict[str, Any], *, scope: str = ALL_LEAGUE_CITIES,
                    actor: str = "system") -> Certificate:
        """Issue one certificate (same checks as an import row); IssueRefused with the
        reasons otherwise. The QR images are rendered now, off the event loop."""
        report = await run_import(
            [(1, row)], "", cipher=self.cipher, keyring=self.keyring, today=self.today(),
            scope=scope, in_thread=False,
        )
        if not report.ok:
            raise IssueRefused([RowError(0, e.field, e.message) for e in report.errors])
        cert = await Certificate.get(public_id=report.public_ids[0])
        await self.qr_images(cert)
        log.info("certificate issued", extra={"public_id": cert.public_id, "actor": actor})
        return cert

    async def import_file(self, data: bytes, filename: str, **kwargs: Any) -> ImportReport:
        """Import a file (certificates.importer); once it committed, the QR images of
        its certificates are made in the background (certificates.qr_backfill) when the
        service has a `qr_backfill` (the server), else by the caller (the CLI)."""
        report = await run_import(data, filename, cipher=self.cipher, keyring=self.keyring,
                                  today=self.today(), **kwargs)
        if self.qr_backfill is not None and report.ok and report.written:
            self.qr_backfill.wake(report.import_id)
        return report

    # -- QR images -------------------------------------------------------------------------

    async def qr_images(self, cert: Certificate) -> tuple[bytes, str]:
        """PNG and SVG of the certificate's QR code: rendered once (in a worker thread),
        kept in the database, and in this process's LRU cache."""
        base = self.renderer.public_base_url
        row = await CertificateQr.get_or_none(certificate_id=cert.id)
        if row is not None and row.base_url == base:
            return bytes(row.png), row.svg
        png, svg = await asyncio.get_running_loop().run_in_executor(
            None, self.renderer.images, cert.token)
        if row is None:
            try:
                await CertificateQr.create(certificate_id=cert.id, base_url=base, png=png, svg=svg)
            except IntegrityError:
                pass  # another request stored the same images meanwhile
        else:
            row.base_url, row.png, row.svg = base, png, svg
            await row.save()
        return png, svg

    # -- printable -------------------------------------------------------------------------

    async def printable(self, cert: Certificate, fmt: str) -> bytes:
        """The printable e-certificate as "pdf" or "png" (CjkFontNotFound if the system
        has no Chinese font)."""
        await cert.fetch_related("person", "committee")
        revocation = await CertificateRevocation.get_or_none(certificate_id=cert.id)
        outcome = verdict(cert.token, record_of(cert, revocation), self.keyring, self.today())
        person = cert.person
        page = PrintableCertificate(
            holder_name=person.name,
            gender={"M": "男", "F": "女"}.get(person.gender, ""),
            id_number_masked=mask_id_number(self.cipher.decrypt(person.id_number_enc)),
            number=cert.number, series=cert.series, specialty=cert.specialty,
            qualification=cert.qualification, level=LEVEL_LABELS[Level(cert.level)],
            obtained_by=OBTAINED_BY_LABELS[ObtainedBy(cert.obtained_by)],
            committee=cert.committee.name if cert.committee else (cert.original_issuer or "—"),
            approval_document=cert.approval_document,
            approved_on=format_date(cert.approved_on), issued_on=format_date(cert.issued_on),
            verify_url=self.url(cert.token),
            status_note="" if outcome.is_valid else outcome.label.split("（")[0],
        )
        png, _ = await self.qr_images(cert)
        font = find_cjk_font(self.font_path)
        render = render_pdf if fmt == "pdf" else render_png
        return await asyncio.get_running_loop().run_in_executor(None, render, page, png, font)

    # -- verification ----------------------------------------------------------------------

    async def load_record(self, public_id: str) -> dict[str, Any] | None:
        """The record from the database (see `load_records`)."""
        return (await self.load_records([public_id])).get(public_id)

    async def load_records(self, public_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Records by public id from the database: one joined query for all of them,
        written out by hand because building them through the ORM costs more than
        running it (this is every cold scan's only database work; concurrent scans
        share it through `certificates.hotpath.BatchedLoads`)."""
        return {k: pair[0] for k, pair in (await self._load_pairs(public_ids)).items()}

    async def _load_pairs(self, public_ids: list[str]
                          ) -> dict[str, tuple[dict[str, Any], CertificateRecord]]:
        if not public_ids:
            return {}
        if self.reader is not None:  # PostgreSQL, on a connection of its own
            rows = await self.reader.fetch(_RECORD_SQL_PG, list(public_ids))
        else:
            conn = connections.get("default")
            if conn.capabilities.dialect == "postgres":
                sql, params = _RECORD_SQL_PG, [list(public_ids)]
            else:
                marks = ", ".join("?" * len(public_ids))
                sql, params = _RECORD_SQL.format(match=f"IN ({marks})"), list(public_ids)
            _, rows = await conn.execute_query(sql, params)
        memo = self._committees
        return {row["public_id"]: _record_pair(row, memo) for row in rows}

    def genuine_public_id(self, token: str) -> str | None:
        """The public id if the token's signature is good (cached), else None."""
        try:
            return self.keyring.verify(token)
        except InvalidToken:
            return None

    async def cached_record(self, public_id: str) -> dict[str, Any] | None:
        """The record for the verdict: this process's cache, else the database (then
        cached). Concurrent misses share one query (`BatchedLoads`)."""
        local = self.records.get(public_id)
        if local is not None:
            return local[0]
        return await self.loads.load(public_id)

    async def _load_and_cache(self, public_ids: list[str]) -> dict[str, dict[str, Any]]:
        # Cached only if nothing was invalidated while the query ran: a read that began
        # before a revocation committed would otherwise keep the certificate "valid"
        # here for RECORD_TTL after every process had dropped it.
        epoch = self.records.epoch
        found = await self._load_pairs(public_ids)
        for public_id, pair in found.items():
            if not self.records.put_if_current(epoch, public_id, pair):
                break
        return {k: pair[0] for k, pair in found.items()}

    async def forget_record(self, public_id: str) -> None:
        """The certificate changed (revoked, committee corrected): every process must
        stop using its cached record (see certificates.hotpath)."""
        await self.records.invalidate(public_id)

    async def verify(self, token: str) -> VerifyOutcome:
        """The verdict for a scanned token. Forged, truncated and unknown tokens all give
        the same NOT_GENUINE verdict (only `log_detail` differs, for logs).

        The record is looked up by the token's public id before any signature check: an
        unknown id is not genuine whatever its signature, and a token equal to the one
        stored at issue needs none (`status.verdict`, `issued_token`). Only a token that
        names a real certificate but differs from its issued token is checked with
        Ed25519 (cached per token: `VerifiedTokenCache`). Well-formed garbage therefore
        costs a (batched) indexed lookup rather than a signature check; both are bounded
        by the per-IP rate limit.
        """
        today = self.today()
        try:
            _, public_id = token_parts(token)
        except InvalidToken as exc:
            return VerifyOutcome(not_genuine(today, exc.reason), None)
        data = await self.cached_record(public_id)
        if data is None:
            return VerifyOutcome(not_genuine(today, "record_not_found"), None)
        local = self.records.get(public_id)
        record = local[1] if local is not None else _record_from_json(data)
        result = verdict(token, record, self.keyring, today, issued_token=data.get("token"))
        if result.status is VerificationStatus.NOT_GENUINE:
            return VerifyOutcome(result, None)
        return VerifyOutcome(result, data["id"], data)

    async def run_background(self, interval: float = 0.1) -> None:
        """Push rate-limit counts and watch for invalidations, every `interval` s."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.limits.sync()
                await self.records.poll()
            except Exception:
                log.exception("certificate cache/counter sync failed; retrying")

    async def gone(self, certificate_id: int, public_id: str | None) -> CertificateGone:
        """The certificate `certificate_id` no longer exists: drop its cached record
        everywhere and return the error for the caller to raise."""
        if public_id is not None:
            await self.forget_record(public_id)
        return CertificateGone(certificate_id)

    async def certificate(self, outcome: VerifyOutcome) -> Certificate:
        """The certificate a genuine verdict named, or CertificateGone if it was deleted
        since its record was cached."""
        assert outcome.certificate_id is not None
        cert = await Certificate.get_or_none(id=outcome.certificate_id)
        if cert is None:
            raise await self.gone(outcome.certificate_id, outcome.verdict.public_id)
        return cert

    async def holder_matches(self, certificate_id: int, *, name: str | None = None,
                             id_number: str | None = None,
                             public_id: str | None = None) -> bool:
        """Is `name` (or `id_number`) the holder's? Compared against the keyed hashes in
        constant time; the clear value is neither stored nor logged. CertificateGone if
        the certificate (public id `public_id`) was deleted meanwhile."""
        cert = await Certificate.filter(id=certificate_id).select_related("person").first()
        if cert is None:
            raise await self.gone(certificate_id, public_id)
        if id_number is not None:
            return self.cipher.id_number_matches(id_number, cert.person.id_number_hash)
        return self.cipher.name_matches(name or "", cert.person.name_hash)

    # -- revocation and blacklist ------------------------------------------------------------

    async def revoke(self, public_id: str, *, revoked_on: date, reason: str, document: str,
                     actor: str, blacklist: bool = True) -> CertificateRevocation:
        """Revoke (二(一)5) and, for fraud, put the holder on the blacklist for five years."""
        for field, value in (("reason", reason), ("document", document)):
            if has_control_chars(value, multiline=field == "reason"):
                raise RevocationProblem(field, f"{'撤销原因' if field == 'reason' else '撤销文件'}"
                                               f"{BAD_CHARACTERS}")
        cert = (await Certificate.get_or_none(public_id=public_id)
                if is_public_id(public_id) else None)
        if cert is None:
            raise RevocationProblem("certificate_not_found", "没有这张证书")
        if revoked_on < cert.issued_on:
            raise RevocationProblem("revoked_on", "撤销日期早于发证日期")
        async with in_transaction() as conn:
            try:
                row = await CertificateRevocation.create(
                    certificate_id=cert.id, revoked_on=revoked_on, reason=reason,
                    document=document, created_by=actor, using_db=conn,
                )
            except IntegrityError:
                raise RevocationProblem("already_revoked", "该证书已被撤销") from None
            cert.status = "revoked"
            await cert.save(update_fields=["status"], using_db=conn)
            if blacklist:
                await BlacklistEntry.create(
                    person_id=cert.person_id, entered_on=revoked_on,
                    until=add_years(revoked_on, BLACKLIST_YEARS) - timedelta(days=1),
                    reason=reason, document=document, certificate_id=cert.id,
                    created_by=actor, using_db=conn,
                )
        await self.forget_record(public_id)
        return row

    async def add_blacklist(self, person: Person, *, entered_on: date, reason: str,
                            document: str, actor: str) -> BlacklistEntry:
        return await BlacklistEntry.create(
            person_id=person.id, entered_on=entered_on,
            until=add_years(entered_on, BLACKLIST_YEARS) - timedelta(days=1),
            reason=reason, document=document, created_by=actor,
        )

    async def person_by_id_number(self, id_number: str) -> Person | None:
        return await Person.get_or_none(id_number_hash=self.cipher.lookup_hash(id_number))


async def blacklisted_year(openid_or_talent_id: str | int) -> int | None:
    """The year the person entered the credit blacklist (二(一)5), most recent entry,
    or None: the `blacklisted_year` answer of the eligibility check.

    Accepts a WeChat openid (the user must have bound a talent record: 我的证书) or a
    talent (Person) id. The eligibility engine applies the five-year rule against its
    policy year, so expired entries are reported too.
    """
    person_id: int | None
    if isinstance(openid_or_talent_id, int):
        person_id = openid_or_talent_id
    else:
        user = await WechatUser.get_or_none(openid=openid_or_talent_id)
        person_id = user.talent_id if user else None
    if person_id is None:
        return None
    entry = await BlacklistEntry.filter(person_id=person_id).order_by("-entered_on").first()
    return entry.entered_on.year if entry else None
