"""Signed verification statements (the verdict's display fields, signed)."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from certificates.signing import KeyRing, SignatureRejected
from certificates.statement import sign_verdict, verify_statement
from certificates.status import evaluate, not_genuine

TODAY = date(2025, 5, 1)


def test_sign_and_verify_with_published_keys(ring, make_record):
    document = sign_verdict(evaluate(make_record(), TODAY), ring)
    json.dumps(document, ensure_ascii=False)  # JSON-serialisable as is
    public = KeyRing.from_public_json(ring.public_keys_json())
    payload = verify_statement(document, public)
    assert payload == document["statement"]
    assert payload["status"] == "valid" and payload["checked_on"] == "2025-05-01"
    assert ["姓名", "张*明"] in payload["fields"]
    assert "张三明" not in json.dumps(document, ensure_ascii=False)
    assert document["signed"]["kid"] == "k2022"


def test_tampered_payload_is_rejected(ring, make_record):
    document = sign_verdict(evaluate(make_record(), TODAY), ring)
    raw = base64.urlsafe_b64decode(document["signed"]["payload"] + "==")
    forged = raw.replace(b'"valid"', b'"revoked"')
    document["signed"]["payload"] = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    with pytest.raises(SignatureRejected):
        verify_statement(document, ring)


def test_convenience_copy_is_ignored(ring, make_record):
    document = sign_verdict(evaluate(make_record(), TODAY), ring)
    document["statement"]["status"] = "revoked"
    assert verify_statement(document, ring)["status"] == "valid"


def test_token_signature_cannot_pass_as_statement(ring, make_record):
    record = make_record()
    token = ring.sign(record.public_id, on=TODAY)
    _, alg, kid, pid, sig = token.split(".")
    document = {"signed": {"payload": pid, "kid": kid, "alg": alg, "signature": sig}}
    with pytest.raises(SignatureRejected):
        verify_statement(document, ring)


@pytest.mark.parametrize(
    "document",
    [{}, {"signed": 1}, {"signed": {"payload": "!!"}}, {"signed": {"payload": "e30"}}, []],
)
def test_malformed_statements(ring, document):
    with pytest.raises(SignatureRejected):
        verify_statement(document, ring)


def test_not_genuine_verdict_can_be_signed(ring):
    document = sign_verdict(not_genuine(TODAY, "bad_signature"), ring)
    payload = verify_statement(document, ring)
    assert payload["status"] == "not_genuine" and payload["fields"] == []
    assert "bad_signature" not in json.dumps(document)  # log detail stays internal
