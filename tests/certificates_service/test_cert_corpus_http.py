"""The verification corpus (tests/cases/verify/: token or QR photo, clock, key set,
expected status) run end to end: each case's certificate goes into the database, the
service starts with the case's key set and stands on the case's day, and the JSON API
and the page must give the expected verdict.

Public ids and certificate numbers are replaced by fresh ones per case (the session's
database is shared), before signing, so forgeries and mutations keep their meaning.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from bot.app import create_app
from certificates.signing import new_public_id
from handlers.certificates_keys import CERTS
from models import Certificate, CertificateRevocation, Person, ReviewCommittee
from tests.certificates.cert_testkit import keyring_from_spec, load_json
from tests.certificates.test_cert_corpus import (
    CASE_FILES,
    KEYSETS,
    _record,
    _through_qr,
    _token,
    issued_token,
)
from tests.certificates_service.support import fresh_id_number, unique


def _fresh_ids(case: dict) -> dict:
    case = copy.deepcopy(case)
    fresh: dict[str, str] = {}
    spec = case["token"]
    if "public_id" in spec:
        spec["public_id"] = fresh.setdefault(spec["public_id"], new_public_id())
    if case.get("certificate") is not None:
        base = load_json(Path(__file__).resolve().parents[1] / "cases" / "verify"
                         / "_certificates.json")[case["certificate"]["base"]]
        case["certificate"]["public_id"] = fresh.setdefault(base["public_id"], new_public_id())
        case["certificate"]["number"] = unique("CORPUS-")
    return case


async def _store(record, token: str, cipher) -> None:
    committee_id = None
    if record.committee is not None:
        c = record.committee
        row = await ReviewCommittee.create(
            code=unique("CC"), name=c.name, series=sorted(c.series),
            levels=sorted(v.value for v in c.levels), built_by="测试",
            filing_number=c.filing_number, filed_on=c.filed_on, valid_until=c.valid_until,
        )
        committee_id = row.id
    id_number = fresh_id_number()
    person = await Person.create(
        name=record.holder_name, name_hash=cipher.name_hash(record.holder_name), gender="M",
        id_number_enc=cipher.encrypt(id_number), id_number_hash=cipher.lookup_hash(id_number),
    )
    cert = await Certificate.create(
        public_id=record.public_id, number=record.number, person=person, series=record.series,
        specialty=record.specialty, qualification=record.qualification,
        level=record.level.value, committee_id=committee_id,
        approval_document=record.approval_document, approved_on=record.approved_on,
        issued_on=record.issued_on, obtained_by=record.obtained_by.value, token=token[:200],
    )
    if record.revocation is not None:
        r = record.revocation
        await CertificateRevocation.create(certificate=cert, revoked_on=r.revoked_on,
                                           reason=r.reason, document=r.document,
                                           created_by="test")


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
async def test_corpus_case_over_http(path: Path, aiohttp_client, make_settings, tmp_path):
    case = _fresh_ids(load_json(path))
    keyset = tmp_path / "keys.json"
    keyring_from_spec(KEYSETS[case["keyset"]]).save_keyset(keyset)
    client = await aiohttp_client(create_app(make_settings(signing_keyset_path=str(keyset))))
    service = client.server.app[CERTS]
    service.today = lambda: date.fromisoformat(case["today"])

    token = _token(case)
    if "qr" in case:
        token = _through_qr(token, case["qr"])
    record = _record(case)
    if record is not None:
        await _store(record, issued_token(case) or token, service.cipher)

    expected = case["expected"]
    resp = await client.get(f"/api/v1/certificates/verify/{token}")
    body = await resp.json(content_type=None)
    if expected["status"] == "not_genuine":
        assert resp.status == 404, body
        assert body["code"] == "certificate_not_found"
        assert json.dumps(body).count(record.public_id if record else "@@") == 0
    else:
        assert resp.status == 200, body
        assert body["status"] == expected["status"], body["reasons"]
        fields = dict(map(tuple, body["fields"]))
        for label, value in expected.get("fields", {}).items():
            assert fields.get(label) == value, label
        if "reason_contains" in expected:
            assert expected["reason_contains"] in body["reasons"][0]
        assert record.holder_name not in json.dumps(body, ensure_ascii=False)

    page = await client.get(f"/v/{token}")
    assert f'data-status="{expected["status"]}"' in await page.text()
