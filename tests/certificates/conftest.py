"""Fixtures for the certificate tests: a deterministic two-key ring and sample records."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from certificates.signing import KeyRing
from certificates.status import CertificateRecord, Committee, Level, ObtainedBy
from tests.certificates.cert_testkit import K2019_FROM, K2019_UNTIL, K2022_FROM, seeded_key


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(
        [
            seeded_key("k2019", K2019_FROM, K2019_UNTIL),
            seeded_key("k2022", K2022_FROM),
        ]
    )


@pytest.fixture
def committee() -> Committee:
    return Committee(
        name="内蒙古自治区工程技术高级专业技术资格评审委员会",
        filing_number="内人社职备〔2020〕12号",
        filed_on=date(2020, 6, 20),
        valid_until=date(2023, 6, 19),
        series=frozenset({"工程技术"}),
        levels=frozenset({Level.SENIOR_FULL, Level.SENIOR_DEPUTY}),
    )


@pytest.fixture
def make_record(committee):
    """Factory: a valid senior engineer certificate, with keyword overrides."""

    def make(**overrides) -> CertificateRecord:
        base = CertificateRecord(
            public_id="Q2VydGlmaWNhdGUwMDAwMQ",
            number="NMG-GJ-2021-000123",
            holder_name="张三明",
            series="工程技术",
            specialty="电气工程",
            qualification="高级工程师",
            level=Level.SENIOR_DEPUTY,
            committee=committee,
            approval_document="内人社职字〔2021〕45号",
            approved_on=date(2021, 3, 1),
            issued_on=date(2021, 3, 15),
            obtained_by=ObtainedBy.REVIEW,
        )
        return replace(base, **overrides)

    return make
