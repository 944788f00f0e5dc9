"""Helpers shared by the certificate tests (deterministic keys, records, QR photos).

Deterministic keys: tests and the data corpus in tests/cases/verify/ refer to signing
keys by a seed name. The Ed25519 private key (its 32-byte seed) is
``sha256(b"zhicheng-test-signing-key:" + seed_name)``, so the same name always gives the
same key pair and the same (deterministic) signatures; no key material is stored in the
repository. Never use such keys outside tests.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image, ImageFilter

from certificates.signing import KeyRing, SigningKey
from certificates.status import (
    CertificateRecord,
    Committee,
    Level,
    ObtainedBy,
    Revocation,
)

REPO = Path(__file__).resolve().parents[2]

# The fixture ring: k2019 was replaced by k2022 at the start of 2022 (rotation).
K2019_FROM, K2019_UNTIL = date(2019, 1, 1), date(2021, 12, 31)
K2022_FROM = date(2022, 1, 1)
CASES_DIR = REPO / "tests" / "cases" / "verify"


def seed_bytes(seed_name: str) -> bytes:
    return hashlib.sha256(b"zhicheng-test-signing-key:" + seed_name.encode("utf-8")).digest()


def seeded_key(
    kid: str,
    valid_from: date,
    valid_until: date | None = None,
    *,
    seed: str | None = None,
    private: bool = True,
) -> SigningKey:
    """A deterministic key; `seed` defaults to the kid."""
    key = SigningKey.from_private_bytes(kid, seed_bytes(seed or kid), valid_from, valid_until)
    if not private:
        key = SigningKey(key.kid, key.alg, key.public_key, key.valid_from, key.valid_until)
    return key


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def keyring_from_spec(entries: list[Mapping[str, Any]]) -> KeyRing:
    """A ring from [{"kid", "seed"?, "valid_from", "valid_until"?, "private"?}, ...]."""
    keys = []
    for e in entries:
        start = _date(e["valid_from"])
        assert start is not None
        keys.append(
            seeded_key(
                e["kid"],
                start,
                _date(e.get("valid_until")),
                seed=e.get("seed"),
                private=e.get("private", True),
            )
        )
    return KeyRing(keys)


def committee_from_json(data: Mapping[str, Any]) -> Committee:
    return Committee(
        name=data["name"],
        filing_number=data.get("filing_number"),
        filed_on=_date(data.get("filed_on")),
        valid_until=_date(data.get("valid_until")),
        series=frozenset(data.get("series", [])),
        levels=frozenset(Level(v) for v in data.get("levels", [])),
    )


def record_from_json(
    data: Mapping[str, Any], committees: Mapping[str, Mapping[str, Any]] | None = None
) -> CertificateRecord:
    """A record from corpus JSON; "committee" is an inline object, a name in
    `committees`, or null."""
    committee_data = data.get("committee")
    if isinstance(committee_data, str):
        assert committees is not None, "named committee needs committees.json"
        committee_data = committees[committee_data]
    revocation = data.get("revocation")
    return CertificateRecord(
        public_id=data["public_id"],
        number=data["number"],
        holder_name=data["holder_name"],
        series=data["series"],
        specialty=data["specialty"],
        qualification=data["qualification"],
        level=Level(data["level"]),
        committee=committee_from_json(committee_data) if committee_data else None,
        approval_document=data["approval_document"],
        approved_on=date.fromisoformat(data["approved_on"]),
        issued_on=date.fromisoformat(data["issued_on"]),
        obtained_by=ObtainedBy(data["obtained_by"]),
        revocation=(
            Revocation(
                revoked_on=date.fromisoformat(revocation["revoked_on"]),
                reason=revocation["reason"],
                document=revocation["document"],
            )
            if revocation
            else None
        ),
    )


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- QR images ----------------------------------------------------------------------------


def photo_like(
    png: bytes, *, scale: float = 1.37, rotate: float = 12.0, blur: float = 0.6
) -> Image.Image:
    """Imitate a phone photo of a printed code: non-integer resampling (module edges
    fall between pixels), a tilt with white fill, and a little blur."""
    image = Image.open(io.BytesIO(png)).convert("L")
    w, h = image.size
    image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
    image = image.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return image


def decode_qr(image: Image.Image | bytes) -> list[str]:
    """Texts of the QR codes zxing-cpp (an independent reader) finds in `image`."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    results = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in results]
