"""Verification verdicts and the issuance check (policy 二(一)5, 二(五)2, 二(六)2/6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from certificates.status import (
    LEVEL_LABELS,
    STATUS_LABELS,
    Level,
    ObtainedBy,
    Revocation,
    VerificationStatus,
    check_issuable,
    evaluate,
    filing_problems,
    format_date,
    verdict,
)

TODAY = date(2025, 5, 1)
FRAUD = Revocation(date(2024, 9, 1), "申报材料弄虚作假（学术造假）", "内人社职撤〔2024〕3号")


def test_valid_certificate_with_masked_display(make_record):
    result = evaluate(make_record(), TODAY)
    assert result.status is VerificationStatus.VALID
    assert result.is_valid and result.reason == "" and result.label == "有效"
    fields = dict(result.display)
    assert fields["姓名"] == "张*明"
    assert "张三明" not in repr(result.display)
    assert fields["级别"] == "副高级"
    assert fields["评委会备案编号"] == "内人社职备〔2020〕12号"
    assert fields["核准日期"] == "2021年3月1日"
    assert result.public_id == "Q2VydGlmaWNhdGUwMDAwMQ"


def test_revoked_for_fraud(make_record):
    result = evaluate(make_record(revocation=FRAUD), TODAY)
    assert result.status is VerificationStatus.REVOKED
    assert "2024年9月1日" in result.reason and "弄虚作假" in result.reason
    fields = dict(result.display)
    assert fields["撤销文件"] == "内人社职撤〔2024〕3号"
    assert fields["证书状态"] == "已撤销"


def test_revocation_takes_effect_on_its_date(make_record):
    record = make_record(revocation=FRAUD)
    assert evaluate(record, date(2024, 8, 31)).status is VerificationStatus.VALID
    assert "撤销日期" not in dict(evaluate(record, date(2024, 8, 31)).display)
    assert evaluate(record, date(2024, 9, 1)).status is VerificationStatus.REVOKED


def test_committee_never_filed_makes_certificate_void(make_record, committee):
    unfiled = replace(committee, filing_number=None, filed_on=None, valid_until=None)
    result = evaluate(make_record(committee=unfiled), TODAY)
    assert result.status is VerificationStatus.VOID_COMMITTEE_NOT_FILED
    assert "未经人力资源社会保障部门核准备案" in result.reason
    assert result.label == "无效（评审委员会未经核准备案）"


def test_filing_must_cover_the_approval_date_not_today(make_record, committee):
    # Filing expired in 2023; a certificate approved in 2021 stays valid in 2025.
    assert evaluate(make_record(), TODAY).is_valid
    late = make_record(approved_on=date(2023, 7, 1), issued_on=date(2023, 7, 10))
    result = evaluate(late, TODAY)
    assert result.status is VerificationStatus.VOID_COMMITTEE_NOT_FILED
    assert "已于2023年6月19日到期" in result.reason
    early = make_record(approved_on=date(2020, 6, 19))
    assert "早于" in evaluate(early, TODAY).reason


def test_filing_longer_than_three_years_is_invalid(committee):
    too_long = replace(committee, valid_until=date(2023, 6, 21))
    problems = filing_problems(too_long, date(2021, 3, 1))
    assert problems and "超过3年" in problems[0]
    exactly = replace(committee, valid_until=date(2023, 6, 20))  # inclusive end accepted
    assert filing_problems(exactly, date(2021, 3, 1)) == []
    backwards = replace(committee, valid_until=date(2019, 1, 1))
    assert "早于备案日期" in filing_problems(backwards, date(2021, 3, 1))[0]


def test_three_years_from_29_february(committee):
    leap = replace(committee, filed_on=date(2020, 2, 29), valid_until=date(2023, 2, 28))
    assert filing_problems(leap, date(2021, 1, 1)) == []
    over = replace(leap, valid_until=date(2023, 3, 1))
    assert filing_problems(over, date(2021, 1, 1))


def test_out_of_scope_certificate_is_void(make_record):
    result = evaluate(make_record(level=Level.INTERMEDIATE, qualification="工程师"), TODAY)
    assert result.status is VerificationStatus.VOID_COMMITTEE_NOT_FILED
    assert "不含中级职称" in result.reason


def test_routes_without_committee(make_record):
    exam = make_record(committee=None, obtained_by=ObtainedBy.EXAM, series="会计")
    assert evaluate(exam, TODAY).is_valid
    assert "评审委员会" not in dict(evaluate(exam, TODAY).display)
    review = make_record(committee=None)
    result = evaluate(review, TODAY)
    assert result.status is VerificationStatus.VOID_COMMITTEE_NOT_FILED
    assert "未记录评审委员会" in result.reason


def test_revoked_and_void_lists_both_reasons(make_record, committee):
    unfiled = replace(committee, filing_number=None)
    result = evaluate(make_record(committee=unfiled, revocation=FRAUD), TODAY)
    assert result.status is VerificationStatus.REVOKED
    assert len(result.reasons) == 2 and "核准备案" in result.reasons[1]


def test_checking_before_issue_is_not_genuine(make_record):
    result = evaluate(make_record(), date(2021, 3, 14))
    assert result.status is VerificationStatus.NOT_GENUINE
    assert result.display == () and result.public_id is None


# -- the full pipeline with tokens ---------------------------------------------------------------


def test_verdict_pipeline(ring, make_record):
    record = make_record()
    token = ring.sign(record.public_id, on=record.issued_on)
    assert verdict(token, record, ring, TODAY).is_valid


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda t, r: (t[:-3], r), "malformed_signature"),
        (lambda t, r: (t, None), "record_not_found"),
        (lambda t, r: (t, replace(r, public_id="Q2VydGlmaWNhdGUwMDAwMg")), "public_id_mismatch"),
        (lambda t, r: (t, replace(r, issued_on=date(2022, 3, 1))), "key_not_valid_on_issue_date"),
        (lambda t, r: ("garbage", r), "malformed"),
    ],
)
def test_verdict_not_genuine(ring, make_record, mutate, detail):
    record = make_record()
    token = ring.sign(record.public_id, on=record.issued_on)
    token, record = mutate(token, record)
    result = verdict(token, record, ring, TODAY)
    assert result.status is VerificationStatus.NOT_GENUINE
    assert result.log_detail == detail
    assert result.display == ()
    assert result.label == STATUS_LABELS[VerificationStatus.NOT_GENUINE]


# -- issuance ----------------------------------------------------------------------------------


def test_check_issuable(committee):
    ok = check_issuable(committee, "工程技术", Level.SENIOR_DEPUTY, date(2021, 3, 1))
    assert ok == []
    expired = check_issuable(committee, "工程技术", Level.SENIOR_DEPUTY, date(2023, 6, 20))
    assert expired and "到期" in expired[0]
    wrong = check_issuable(committee, "卫生", Level.INTERMEDIATE, date(2021, 3, 1))
    assert len(wrong) == 2 and "卫生系列" in wrong[0] and "中级" in wrong[1]
    unfiled = replace(committee, filing_number="")
    assert "未经" in check_issuable(unfiled, "工程技术", Level.SENIOR_DEPUTY, date(2021, 3, 1))[0]
    assert check_issuable(None, "工程技术", Level.SENIOR_DEPUTY, date(2021, 3, 1))


def test_labels_are_complete():
    assert set(STATUS_LABELS) == set(VerificationStatus)
    assert set(LEVEL_LABELS) == set(Level)
    assert [s.value for s in VerificationStatus] == [
        "valid",
        "revoked",
        "void_committee_not_filed",
        "not_genuine",
    ]
    assert format_date(date(2021, 3, 5)) == "2021年3月5日"


# -- the issued-token shortcut (no Ed25519 for the token we stored at issue) ---------------------


def test_issued_token_is_accepted_without_a_signature_check(ring, make_record, monkeypatch):
    record = make_record()
    token = ring.sign(record.public_id, on=record.issued_on)

    def refuse(*args, **kwargs):
        raise AssertionError("the signature was checked")

    monkeypatch.setattr(type(ring), "verify_details", refuse)
    assert verdict(token, record, ring, TODAY, issued_token=token).is_valid


def test_issued_token_still_needs_its_key_valid_on_the_issue_date(ring, make_record):
    record = make_record()
    token = ring.sign(record.public_id, on=record.issued_on)
    late = replace(record, issued_on=date(2022, 3, 1))  # after the signing key retired
    result = verdict(token, late, ring, TODAY, issued_token=token)
    assert result.status is VerificationStatus.NOT_GENUINE
    assert result.log_detail == "key_not_valid_on_issue_date"


def test_issued_token_of_a_revoked_certificate_shows_the_revocation(ring, make_record):
    record = make_record(revocation=FRAUD)
    token = ring.sign(record.public_id, on=record.issued_on)
    result = verdict(token, record, ring, TODAY, issued_token=token)
    assert result.status is VerificationStatus.REVOKED


def test_token_that_differs_from_the_issued_one_takes_the_signature_check(ring, make_record):
    record = make_record()
    token = ring.sign(record.public_id, on=record.issued_on)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    result = verdict(flipped, record, ring, TODAY, issued_token=token)
    assert result.status is VerificationStatus.NOT_GENUINE
    assert result.log_detail in {"bad_signature", "malformed_signature"}
    # a token equal to the issued one but with a key the ring no longer knows
    from certificates.signing import KeyRing
    assert verdict(token, record, KeyRing([]), TODAY,
                   issued_token=token).log_detail == "key_not_valid_on_issue_date"
