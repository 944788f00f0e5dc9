"""Runs every verification case in tests/cases/verify/ (see its README for the schema)."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest

from certificates.qr import qr_png, token_from_url, verification_url
from certificates.signing import KeyRing
from certificates.status import verdict
from tests.certificates.cert_testkit import (
    CASES_DIR,
    decode_qr,
    keyring_from_spec,
    load_json,
    photo_like,
    record_from_json,
    seeded_key,
)

CASE_FILES = sorted(p for p in CASES_DIR.glob("*.json") if not p.name.startswith("_"))
KEYSETS = load_json(CASES_DIR / "_keysets.json")
COMMITTEES = load_json(CASES_DIR / "_committees.json")
BASE_CERTIFICATES = load_json(CASES_DIR / "_certificates.json")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mutate(token: str, mutation: dict) -> str:
    version, alg, kid, pid, sig = token.split(".")
    if "truncate" in mutation:
        return token[: -mutation["truncate"]]
    if "flip_bit" in mutation:
        spec = mutation["flip_bit"]
        raw = bytearray(_unb64(pid if spec["field"] == "public_id" else sig))
        raw[spec["bit"] // 8] ^= 1 << (spec["bit"] % 8)
        if spec["field"] == "public_id":
            pid = _b64(bytes(raw))
        else:
            sig = _b64(bytes(raw))
    kid = mutation.get("set_kid", kid)
    alg = mutation.get("set_alg", alg)
    return ".".join([version, alg, kid, pid, sig])


def _token(case: dict) -> str:
    spec = case["token"]
    if "literal" in spec:
        return spec["literal"]
    signed_on = date.fromisoformat(spec["signed_on"])
    if "seed" in spec:  # a forger's key under a real kid
        signer = KeyRing([seeded_key(spec["kid"], date.min, seed=spec["seed"])])
    else:
        signer = keyring_from_spec(KEYSETS[case.get("signing_keyset", case["keyset"])])
    token = signer.sign(spec["public_id"], spec["kid"], on=signed_on)
    if "mutate" in spec:
        token = _mutate(token, spec["mutate"])
    return token


def issued_token(case: dict) -> str | None:
    """The token the service stored when it issued the case's certificate: the case's
    token without the forger's key or the mutation (None for a literal token)."""
    spec = case["token"]
    if "literal" in spec:
        return None
    genuine = {k: v for k, v in spec.items() if k not in ("seed", "mutate")}
    return _token({**case, "token": genuine})


def _through_qr(token: str, spec: dict) -> str:
    url = verification_url(spec["base_url"], token)
    image = photo_like(qr_png(url), scale=spec["scale"], rotate=spec["rotate"], blur=spec["blur"])
    decoded = decode_qr(image)
    assert decoded == [url], "the photographed QR code did not read back exactly"
    return token_from_url(decoded[0])


def _record(case: dict):
    data = case["certificate"]
    if data is None:
        return None
    merged = {**BASE_CERTIFICATES[data["base"]], **{k: v for k, v in data.items() if k != "base"}}
    return record_from_json(merged, COMMITTEES)


def test_corpus_is_not_empty():
    assert len(CASE_FILES) >= 20


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_verify_case(path: Path):
    case = load_json(path)
    token = _token(case)
    if "qr" in case:
        token = _through_qr(token, case["qr"])
    ring = keyring_from_spec(KEYSETS[case["keyset"]])
    today = date.fromisoformat(case["today"])
    result = verdict(token, _record(case), ring, today)
    # The service's shortcut (the scanned token compared with the one stored at issue,
    # no signature check when they are equal) must reach the same verdict on every case.
    shortcut = verdict(token, _record(case), ring, today, issued_token=issued_token(case))
    assert (shortcut.status, shortcut.log_detail, shortcut.display) == (
        result.status, result.log_detail, result.display)

    expected = case["expected"]
    assert result.status.value == expected["status"], (result.log_detail, result.reasons)
    if "log_detail" in expected:
        assert result.log_detail == expected["log_detail"]
    if "reason_contains" in expected:
        assert expected["reason_contains"] in result.reason
    if "reason_count" in expected:
        assert len(result.reasons) == expected["reason_count"]
    fields = dict(result.display)
    for label, value in expected.get("fields", {}).items():
        assert fields.get(label) == value, label
    record = _record(case)
    if record is not None:  # the full name never appears in what is displayed
        assert all(record.holder_name not in v for _, v in result.display)
