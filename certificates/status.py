"""The verification verdict for a certificate, and whether a committee may issue one.

Why pure logic: the verdict decides what an employer is told about a person's title, so
it must be testable from plain data with a fixed date, and the same rules must apply
when issuing (refuse what would later be void) and when verifying (explain why a stored
certificate is no longer accepted). The web layer loads the records and passes them in.

Policy (《2020年全区职称改革工作安排意见》):

* 二(六)6 - titles and certificates from a committee that is not filed (核准备案) with
  the human resources and social security department are void. A certificate is checked
  against the committee's filing on its approval date (核准日期): the filing must exist,
  must have begun on or before that date and not have expired before it.
* 二(六)2 - a filing is valid for at most 3 years. A filing recorded with a longer
  period is not a valid filing. "3 years" is counted in calendar years from the filing
  date with the end date inclusive (filed 2020-06-30, valid until 2023-06-30 is
  accepted), because filing notices are commonly written that way and declaring a genuine
  certificate void by one day is the worse error.
* 二(五)2 - committees may not review outside their filed scope. The scope is modelled as
  a set of series and a set of levels (every series at every level in the sets). A
  certificate outside its committee's scope is treated like one without a filing for
  it, i.e. void; issuing it is refused by `check_issuable`.
* 二(一)5 - titles obtained by fraud are revoked (撤销) by the department; a revoked
  certificate is reported as revoked from the revocation date, with the decision.
* Routes without a committee (以考代评 exams, 考核认定 under 二(十)3, vocational
  qualification mapping under 二(十)4, exchanged out-of-region certificates under
  二(十)2) need no committee; if a record names one anyway, its filing is checked too.

Order of the verdict: not genuine (bad token, unknown certificate, signing key not
valid on the issue date, issue date after the checking date) > revoked > void > valid.
A revoked certificate that is also void lists both reasons.

The verdict carries the display fields for the verification page with the holder's name
masked (`idcard.mask_name`); `certificates.statement` signs them for the API.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from certificates.clock import add_years
from certificates.idcard import mask_name
from certificates.signing import InvalidToken, KeyRing

__all__ = [
    "LEVEL_LABELS",
    "OBTAINED_BY_LABELS",
    "STATUS_LABELS",
    "CertificateRecord",
    "Committee",
    "Level",
    "ObtainedBy",
    "Revocation",
    "Verdict",
    "VerificationStatus",
    "check_issuable",
    "evaluate",
    "filing_problems",
    "format_date",
    "not_genuine",
    "scope_problems",
    "verdict",
]

FILING_MAX_YEARS = 3


class VerificationStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    VOID_COMMITTEE_NOT_FILED = "void_committee_not_filed"
    NOT_GENUINE = "not_genuine"


STATUS_LABELS: dict[VerificationStatus, str] = {
    VerificationStatus.VALID: "有效",
    VerificationStatus.REVOKED: "已撤销",
    VerificationStatus.VOID_COMMITTEE_NOT_FILED: "无效（评审委员会未经核准备案）",
    VerificationStatus.NOT_GENUINE: "查无此证",
}

NOT_GENUINE_EXPLANATION = "未查询到该证书，二维码可能被篡改或不是本系统签发的，请谨慎核实。"


class Level(StrEnum):
    """Title levels (职称层级): 正高级 and 副高级 are senior, 助理级 and 员级 junior."""

    SENIOR_FULL = "senior_full"
    SENIOR_DEPUTY = "senior_deputy"
    INTERMEDIATE = "intermediate"
    ASSISTANT = "assistant"
    JUNIOR = "junior"


LEVEL_LABELS: dict[Level, str] = {
    Level.SENIOR_FULL: "正高级",
    Level.SENIOR_DEPUTY: "副高级",
    Level.INTERMEDIATE: "中级",
    Level.ASSISTANT: "助理级",
    Level.JUNIOR: "员级",
}


class ObtainedBy(StrEnum):
    """How the title was obtained (取得方式)."""

    REVIEW = "review"  # 评审 (incl. 破格 and 绿色通道: still a committee review)
    EXAM_AND_REVIEW = "exam_and_review"  # 考评结合 (二(三)1)
    EXAM = "exam"  # 以考代评 (二(三)2)
    RECOGNITION = "recognition"  # 考核认定 (二(十)3)
    QUALIFICATION = "qualification"  # 职业资格对应认定 (二(十)4)
    EXCHANGE = "exchange"  # 区外证书换发 (二(十)2)

    @property
    def requires_committee(self) -> bool:
        return self in (ObtainedBy.REVIEW, ObtainedBy.EXAM_AND_REVIEW)


OBTAINED_BY_LABELS: dict[ObtainedBy, str] = {
    ObtainedBy.REVIEW: "评审",
    ObtainedBy.EXAM_AND_REVIEW: "考评结合",
    ObtainedBy.EXAM: "考试（以考代评）",
    ObtainedBy.RECOGNITION: "考核认定",
    ObtainedBy.QUALIFICATION: "职业资格对应认定",
    ObtainedBy.EXCHANGE: "区外证书换发",
}


@dataclass(frozen=True)
class Committee:
    """A review committee (评审委员会) and its filing (核准备案).

    A committee that was never filed has `filing_number`, `filed_on` and `valid_until`
    set to None.
    """

    name: str
    filing_number: str | None
    filed_on: date | None
    valid_until: date | None  # inclusive
    series: frozenset[str]
    levels: frozenset[Level]


@dataclass(frozen=True)
class Revocation:
    """A revocation decision (撤销), e.g. for fraud under 二(一)5."""

    revoked_on: date
    reason: str
    document: str  # the decision's document number (文号)


@dataclass(frozen=True)
class CertificateRecord:
    """What the verdict needs to know about one certificate, as plain values.

    `holder_name` is the full name (decrypted by the caller if stored encrypted); only
    the masked form ever leaves this module.
    """

    public_id: str
    number: str
    holder_name: str
    series: str
    specialty: str
    qualification: str  # 资格名称, e.g. 高级工程师
    level: Level
    committee: Committee | None
    approval_document: str  # 核准文件 (文号)
    approved_on: date
    issued_on: date
    obtained_by: ObtainedBy
    revocation: Revocation | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one certificate on one day.

    `reasons` are Chinese sentences fit for the page; `display` holds ordered
    (label, value) pairs with the holder's name masked, empty when not genuine (a
    stranger must not learn whether some certificate exists). `log_detail` is an English
    code for logs only.
    """

    status: VerificationStatus
    checked_on: date
    public_id: str | None = None
    reasons: tuple[str, ...] = ()
    display: tuple[tuple[str, str], ...] = ()
    log_detail: str = ""

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def reason(self) -> str:
        """The main reason, or "" for a valid certificate."""
        return self.reasons[0] if self.reasons else ""

    @property
    def is_valid(self) -> bool:
        return self.status is VerificationStatus.VALID


def format_date(day: date) -> str:
    """2021年3月5日 (the style of Chinese administrative documents)."""
    return f"{day.year}年{day.month}月{day.day}日"


def filing_problems(committee: Committee, on: date) -> list[str]:
    """Why the committee's filing does not cover day `on`; empty if it does."""
    name = committee.name
    if not committee.filing_number or committee.filed_on is None or committee.valid_until is None:
        return [f"评审委员会「{name}」未经人力资源社会保障部门核准备案。"]
    filed_on, valid_until = committee.filed_on, committee.valid_until
    problems = []
    if valid_until < filed_on:
        return [f"评审委员会「{name}」的备案有效期终止日期早于备案日期，备案信息有误。"]
    if valid_until > add_years(filed_on, FILING_MAX_YEARS):
        problems.append(
            f"评审委员会「{name}」的备案有效期（{format_date(filed_on)}至"
            f"{format_date(valid_until)}）超过{FILING_MAX_YEARS}年，备案无效。"
        )
    if on < filed_on:
        problems.append(
            f"核准日期{format_date(on)}早于评审委员会「{name}」的备案日期{format_date(filed_on)}。"
        )
    elif on > valid_until:
        problems.append(
            f"评审委员会「{name}」的备案已于{format_date(valid_until)}到期，"
            f"核准日期{format_date(on)}不在备案有效期内。"
        )
    return problems


def scope_problems(committee: Committee, series: str, level: Level) -> list[str]:
    """Why `series` at `level` is outside the committee's filed scope; empty if inside."""
    problems = []
    if series not in committee.series:
        problems.append(f"评审委员会「{committee.name}」的备案评审范围不含{series}系列。")
    if level not in committee.levels:
        problems.append(
            f"评审委员会「{committee.name}」的备案评审范围不含{LEVEL_LABELS[level]}职称。"
        )
    return problems


def check_issuable(
    committee: Committee | None, series: str, level: Level, approved_on: date
) -> list[str]:
    """Reasons a certificate approved on `approved_on` may not be issued; [] = may issue.

    For the committee routes (评审, 考评结合); routes without a committee pass None
    and need no check here.
    """
    if committee is None:
        return ["未指定评审委员会，无法确认评审合法有效。"]
    return filing_problems(committee, approved_on) + scope_problems(committee, series, level)


def _void_reasons(record: CertificateRecord) -> list[str]:
    committee = record.committee
    if committee is None:
        if record.obtained_by.requires_committee:
            return ["证书未记录评审委员会，无法确认评审委员会已经核准备案。"]
        return []
    return filing_problems(committee, record.approved_on) + scope_problems(
        committee, record.series, record.level
    )


def _display(record: CertificateRecord, status: VerificationStatus) -> tuple[tuple[str, str], ...]:
    fields = [
        ("证书状态", STATUS_LABELS[status]),
        ("证书编号", record.number),
        ("姓名", mask_name(record.holder_name)),
        ("系列", record.series),
        ("专业", record.specialty),
        ("资格名称", record.qualification),
        ("级别", LEVEL_LABELS[record.level]),
        ("取得方式", OBTAINED_BY_LABELS[record.obtained_by]),
    ]
    if record.committee is not None:
        fields.append(("评审委员会", record.committee.name))
        if record.committee.filing_number:
            fields.append(("评委会备案编号", record.committee.filing_number))
    fields += [
        ("核准文件", record.approval_document),
        ("核准日期", format_date(record.approved_on)),
        ("发证日期", format_date(record.issued_on)),
    ]
    if status is VerificationStatus.REVOKED and record.revocation is not None:
        fields += [
            ("撤销日期", format_date(record.revocation.revoked_on)),
            ("撤销原因", record.revocation.reason),
            ("撤销文件", record.revocation.document),
        ]
    return tuple(fields)


def not_genuine(today: date, log_detail: str) -> Verdict:
    """The verdict for anything that is not one of our certificates."""
    return Verdict(
        VerificationStatus.NOT_GENUINE,
        today,
        reasons=(NOT_GENUINE_EXPLANATION,),
        log_detail=log_detail,
    )


def evaluate(record: CertificateRecord, today: date) -> Verdict:
    """The verdict for a certificate already proven genuine (see `verdict`)."""
    if today < record.issued_on:
        return not_genuine(today, "issued_after_checking_date")
    void = _void_reasons(record)
    revocation = record.revocation
    if revocation is not None and revocation.revoked_on <= today:
        status = VerificationStatus.REVOKED
        reasons = [
            f"该证书已于{format_date(revocation.revoked_on)}被撤销"
            f"（{revocation.document}）：{revocation.reason}",
            *void,
        ]
        detail = "revoked"
    elif void:
        status, reasons, detail = VerificationStatus.VOID_COMMITTEE_NOT_FILED, void, "void"
    else:
        status, reasons, detail = VerificationStatus.VALID, [], "valid"
    return Verdict(
        status,
        today,
        public_id=record.public_id,
        reasons=tuple(reasons),
        display=_display(record, status),
        log_detail=detail,
    )


def verdict(token: str, record: CertificateRecord | None, keyring: KeyRing, today: date,
            *, issued_token: str | None = None) -> Verdict:
    """The complete check behind a scanned QR code.

    Typical use: ``public_id = keyring.verify(token)`` (InvalidToken: skip the
    database), load the record by public id (None if absent), then call this. It checks
    the token again, that the record is the one the token names, and that the signing
    key was valid on the record's issue date, then applies `evaluate`.

    `issued_token`: the token stored with `record` when this service issued it. A scanned
    token equal to it, byte for byte (compared in constant time), is one we signed for
    this very record, so its Ed25519 check (~0.1 ms, most of a first scan's CPU) is
    skipped; the signing key must still be in the ring and valid on the issue date. Any
    other token (forged, re-signed, an older printing) takes the full signature check.
    """
    if (issued_token is not None and record is not None and isinstance(token, str)
            and hmac.compare_digest(token.encode(), issued_token.encode())):
        parts = token.split(".")  # version.alg.kid.public_id.signature, as we issued it
        kid = parts[2] if len(parts) == 5 else ""  # a malformed stored token: no key
        if not keyring.key_valid_on(kid, record.issued_on):
            return not_genuine(today, "key_not_valid_on_issue_date")
        return evaluate(record, today)
    try:
        verified = keyring.verify_details(token)
    except InvalidToken as exc:
        return not_genuine(today, exc.reason)
    if record is None:
        return not_genuine(today, "record_not_found")
    if not hmac.compare_digest(record.public_id.encode(), verified.public_id.encode()):
        return not_genuine(today, "public_id_mismatch")
    if not keyring.key_valid_on(verified.kid, record.issued_on):
        return not_genuine(today, "key_not_valid_on_issue_date")
    return evaluate(record, today)
