"""Signed verification statements: a verdict's display fields, signed by the key ring.

Why: an employer's HR system (or an archive) that calls the verification API should be
able to keep the answer and prove later what the service said on that day, without
trusting its own copy of a web page. The statement is signed with the same keys as the
QR tokens (published at ``GET /api/v1/keys``) but under a different context string, so a
statement signature can never pass as a token signature or the other way round.

Format (JSON), modelled on JWS so any language can verify it without re-serialising:

    {"statement": {...the payload, decoded, for convenience...},
     "signed": {"payload": "<base64url of the exact UTF-8 JSON bytes that were signed>",
                "kid": "k250101", "alg": "ed25519", "signature": "<base64url>"}}

The payload: {"v": 1, "public_id", "status", "status_label", "checked_on" (ISO date),
"reasons": [...], "fields": [[label, value], ...]} with the holder's name masked.
Only ``signed.payload`` counts; `verify_statement` returns the payload it decoded from
there and ignores the convenience copy.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from certificates.signing import KeyRing, Signature, SignatureRejected
from certificates.status import Verdict

__all__ = ["STATEMENT_CONTEXT", "sign_verdict", "statement_payload", "verify_statement"]

STATEMENT_CONTEXT = b"zhicheng/verification-statement/v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise SignatureRejected("malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SignatureRejected("malformed") from None


def statement_payload(verdict: Verdict) -> dict[str, Any]:
    """The JSON payload for `verdict` (masked fields only, nothing else personal)."""
    return {
        "v": 1,
        "public_id": verdict.public_id,
        "status": verdict.status.value,
        "status_label": verdict.label,
        "checked_on": verdict.checked_on.isoformat(),
        "reasons": list(verdict.reasons),
        "fields": [list(pair) for pair in verdict.display],
    }


def sign_verdict(verdict: Verdict, keyring: KeyRing, *, on: date | None = None) -> dict[str, Any]:
    """A signed statement of `verdict`, using the key for day `on` (default: the
    verdict's checking date)."""
    payload = statement_payload(verdict)
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    sig = keyring.sign_bytes(STATEMENT_CONTEXT, raw, on=on or verdict.checked_on)
    return {
        "statement": payload,
        "signed": {
            "payload": _b64(raw),
            "kid": sig.kid,
            "alg": sig.alg,
            "signature": sig.value_b64,
        },
    }


def verify_statement(document: Mapping[str, Any], keyring: KeyRing) -> dict[str, Any]:
    """The signed payload of a statement, or SignatureRejected.

    Also checks that the signing key was valid on the statement's checking date.
    """
    signed = document.get("signed") if isinstance(document, Mapping) else None
    if not isinstance(signed, Mapping):
        raise SignatureRejected("malformed")
    raw = _unb64(signed.get("payload"))
    try:
        payload = json.loads(raw.decode("utf-8"))
        checked_on = date.fromisoformat(payload["checked_on"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise SignatureRejected("malformed") from None
    kid, alg = signed.get("kid"), signed.get("alg")
    if not isinstance(kid, str) or not isinstance(alg, str):
        raise SignatureRejected("malformed")
    signature = Signature(kid, alg, _unb64(signed.get("signature")))
    keyring.verify_bytes(STATEMENT_CONTEXT, raw, signature, signed_on=checked_on)
    return payload
