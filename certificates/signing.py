"""Signed verification tokens for certificate QR codes, and the key ring that signs them.

Why signed tokens: the QR code on a certificate must (1) point at one certificate without
revealing anything about the holder, (2) be impossible to mint for a made-up certificate,
and (3) be checkable offline against published public keys, e.g. by an employer's HR
system, without asking the server. The online verdict (revoked, void, ...) still needs the
database; see `certificates.status`.

Token format (version 1), ASCII, URL-safe without escaping, dot-separated::

    v1.<alg>.<kid>.<public_id>.<signature>
    v1.ed25519.k250101.Sx3n0Yt6tqUeQh3f5V1fXw.<86 base64url characters>

* ``alg``: signature algorithm name from the registry (``ed25519``; a national
  algorithm such as SM2 can be added with `register_algorithm`). It is only a hint for
  parsing: the key found by ``kid`` fixes the algorithm, and a token whose ``alg``
  differs from its key's is rejected (no algorithm confusion).
* ``kid``: key id, 1-32 of ``[A-Za-z0-9_-]``.
* ``public_id``: the certificate's random public id, 16 bytes from `secrets`
  (128 bits), as 22 base64url characters without padding (`new_public_id`). It is the
  only payload: nothing personal is ever inside a token.
* ``signature``: base64url without padding (86 characters for Ed25519).
* Every base64url field must be canonical (the encoding `new_public_id` and `sign`
  produce), so one signed value has exactly one token spelling.

The signature covers a length-prefixed framing of a fixed context string, the token
version, alg, kid and the raw public id bytes (`_framed`). The context string separates
token signatures from other things the same keys sign (verification statements,
`certificates.statement`), so a signature can never be replayed across the two.

With a 20-30 character PUBLIC_BASE_URL the URL ``{base}/v/{token}`` is about 150-160
bytes, QR version 10-11 at error-correction level Q (57-61 modules square): still easy
for phone cameras at 2-3 cm. A binary-packed token would save ~20 characters at the cost
of readable kids/algs in logs; the signature dominates the length either way.

Key rotation: each key has ``valid_from``/``valid_until`` (dates, both inclusive, China
Standard Time). A certificate may be signed only with a key valid on its issue date, and
`KeyRing.verify(token, issued_on=...)` refuses a token whose key was not valid on the
certificate's issue date, so retiring a key never invalidates certificates issued while
it was current, and a stolen retired key cannot vouch for newly dated certificates.
Ed25519 signatures are deterministic: signing the same public id with the same key
yields the same token, but store the token at issuance anyway so that old private keys
can be destroyed.

Key files:

* Public keys (``GET /api/v1/keys``, input of the offline verifier)::

    {"keys": [{"kid": "...", "alg": "ed25519", "public_key": "<base64url raw 32 bytes>",
               "valid_from": "2025-01-01", "valid_until": null}]}

* Private keyset (server only, file mode 0600): a JSON document rather than PEM,
  because rotation needs several keys and PEM carries neither kid nor validity::

    {"format": "zhicheng-signing-keyset", "version": 1,
     "keys": [{"kid": ..., "alg": ..., "public_key": ..., "private_key": "<base64url raw
               32-byte Ed25519 seed>", "valid_from": ..., "valid_until": ...}]}

  ``private_key`` may be omitted for retired keys kept only for verification.
  Create it with `generate_keyset(path)`, rotate with `rotate_keyset(path)` (or the
  ``python -m certificates.keytool`` command).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from certificates.algorithms import ALGORITHMS, get_algorithm
from certificates.clock import china_today

__all__ = [
    "InvalidToken",
    "KeyRing",
    "MAX_TOKEN_LENGTH",
    "PUBLIC_ID_BYTES",
    "Signature",
    "SignatureRejected",
    "SigningKey",
    "SigningKeyUnavailable",
    "TOKEN_VERSION",
    "VerifiedToken",
    "generate_keyset",
    "is_public_id",
    "token_parts",
    "new_public_id",
    "rotate_keyset",
]

TOKEN_VERSION = "v1"  # noqa: S105 - a format version, not a secret
PUBLIC_ID_BYTES = 16
MAX_TOKEN_LENGTH = 512  # far above any real token; bounds work done on hostile input
KEYSET_FORMAT = "zhicheng-signing-keyset"
_TOKEN_CONTEXT = b"zhicheng/certificate-token"
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ALG_RE = re.compile(r"[a-z0-9]{1,16}")  # same rule as algorithms.register_algorithm
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


# -- errors -----------------------------------------------------------------------------


class SignatureRejected(Exception):
    """A signature or signed value was not accepted.

    `str(exc)` is the same generic Chinese sentence whatever went wrong, so showing it to
    a stranger reveals nothing about why; `reason` (English code) is for logs and tests.
    """

    public_message = "验证失败：签名无效。"

    def __init__(self, reason: str) -> None:
        super().__init__(self.public_message)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r})"


class InvalidToken(SignatureRejected):
    """The token is malformed, truncated, forged, signed by an unknown or wrong key, or
    its key was not valid on the certificate's issue date. Callers that face strangers
    must treat all of these alike."""

    public_message = "二维码无效：未找到对应的证书，或二维码内容已被篡改。"


class SigningKeyUnavailable(RuntimeError):
    """The server cannot sign: no private key valid on the requested day (configuration
    error, never shown to users)."""


# -- encodings --------------------------------------------------------------------------


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode_canonical(text: str) -> bytes | None:
    """Decode unpadded base64url; None unless `text` is the canonical encoding."""
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64encode(raw) == text else None


def new_public_id() -> str:
    """A fresh random certificate public id: 128 bits as 22 base64url characters."""
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


def is_public_id(text: object) -> bool:
    """True if `text` is a well-formed public id (the shape `new_public_id` returns)."""
    if not isinstance(text, str) or len(text) != 22:
        return False
    raw = _b64decode_canonical(text)
    return raw is not None and len(raw) == PUBLIC_ID_BYTES


def _framed(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part prefixed with its 2-byte length."""
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


def _message(context: bytes, alg: str, kid: str, payload: bytes) -> bytes:
    return _framed(context, alg.encode("ascii"), kid.encode("ascii"), payload)


def _token_context(version: str) -> bytes:
    return _TOKEN_CONTEXT + b"/" + version.encode("ascii")


def _parse_date(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO date string")
    return date.fromisoformat(value)


# -- keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """One key of the ring. `private_key` is None for verify-only keys."""

    kid: str
    alg: str
    public_key: bytes
    valid_from: date
    valid_until: date | None = None  # inclusive; None = no end date yet
    private_key: bytes | None = field(default=None, repr=False)

    def valid_on(self, day: date) -> bool:
        """True if a certificate issued on `day` may carry this key's signature."""
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    @classmethod
    def from_private_bytes(
        cls,
        kid: str,
        private_key: bytes,
        valid_from: date,
        valid_until: date | None = None,
        alg: str = "ed25519",
    ) -> SigningKey:
        """A key from a raw private key (for Ed25519: the 32-byte seed). Tests derive
        the seed deterministically so that fixtures and data files can refer to keys."""
        public = get_algorithm(alg).public_key_from_private(private_key)
        return cls(kid, alg, public, valid_from, valid_until, private_key)

    @classmethod
    def generate(
        cls,
        kid: str,
        valid_from: date,
        valid_until: date | None = None,
        alg: str = "ed25519",
    ) -> SigningKey:
        """A new random key."""
        private = get_algorithm(alg).generate_private_key()
        return cls.from_private_bytes(kid, private, valid_from, valid_until, alg)

    def public_entry(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "public_key": _b64encode(self.public_key),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], *, allow_private: bool) -> SigningKey:
        if not isinstance(entry, Mapping):
            raise ValueError("each key must be a JSON object")
        if "private_key" in entry and not allow_private:
            raise ValueError("a public key document must not contain private keys")
        public = _b64decode_canonical(str(entry.get("public_key", "")))
        if public is None:
            raise ValueError(f"key {entry.get('kid')!r}: public_key is not base64url")
        private = None
        if entry.get("private_key") is not None:
            private = _b64decode_canonical(str(entry["private_key"]))
            if private is None:
                raise ValueError(f"key {entry.get('kid')!r}: private_key is not base64url")
        until = entry.get("valid_until")
        return cls(
            kid=str(entry.get("kid", "")),
            alg=str(entry.get("alg", "")),
            public_key=public,
            valid_from=_parse_date(entry.get("valid_from"), "valid_from"),
            valid_until=None if until is None else _parse_date(until, "valid_until"),
            private_key=private,
        )


@dataclass(frozen=True)
class VerifiedToken:
    """What a good token proves: this key signed this public id."""

    public_id: str
    kid: str
    alg: str


@dataclass(frozen=True)
class Signature:
    """A detached signature and the key that made it."""

    kid: str
    alg: str
    value: bytes

    @property
    def value_b64(self) -> str:
        return _b64encode(self.value)


class KeyRing:
    """Immutable set of signing/verification keys, looked up by kid.

    Built once at start-up (from the keyset file on the server, from the published
    JSON in the offline verifier) and shared; safe to use from several threads.
    """

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        by_kid: dict[str, SigningKey] = {}
        public_objects: dict[str, Any] = {}
        private_objects: dict[str, Any] = {}
        for key in keys:
            if not _KID_RE.fullmatch(key.kid):
                raise ValueError(f"bad kid {key.kid!r}: use 1-32 of [A-Za-z0-9_-]")
            if key.kid in by_kid:
                raise ValueError(f"duplicate kid {key.kid!r}")
            algorithm = get_algorithm(key.alg)
            if key.valid_until is not None and key.valid_until < key.valid_from:
                raise ValueError(f"key {key.kid!r}: valid_until is before valid_from")
            public_objects[key.kid] = algorithm.load_public_key(key.public_key)
            if key.private_key is not None:
                if algorithm.public_key_from_private(key.private_key) != key.public_key:
                    raise ValueError(f"key {key.kid!r}: private key does not match public key")
                private_objects[key.kid] = algorithm.load_private_key(key.private_key)
            by_kid[key.kid] = key
        self._keys = by_kid
        self._public = public_objects
        self._private = private_objects

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self._keys)!r})"

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """All keys, oldest first."""
        return tuple(sorted(self._keys.values(), key=lambda k: (k.valid_from, k.kid)))

    def get(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    def with_key(self, key: SigningKey) -> KeyRing:
        """A new ring with `key` added."""
        return KeyRing([*self._keys.values(), key])

    def key_valid_on(self, kid: str, day: date) -> bool:
        """True if `kid` is known and was valid on `day` (a certificate's issue date)."""
        key = self._keys.get(kid)
        return key is not None and key.valid_on(day)

    def signing_key_for(self, day: date) -> SigningKey:
        """The key that signs certificates issued on `day`: among keys with a private
        part that are valid that day, the one that became valid last."""
        candidates = [k for k in self._keys.values() if k.kid in self._private and k.valid_on(day)]
        if not candidates:
            raise SigningKeyUnavailable(f"no private signing key is valid on {day.isoformat()}")
        return max(candidates, key=lambda k: (k.valid_from, k.kid))

    # -- detached signatures (shared by tokens and statements) ---------------------------

    def sign_bytes(
        self, context: bytes, payload: bytes, *, kid: str | None = None, on: date | None = None
    ) -> Signature:
        """Sign `payload` under `context` with `kid`, or with the key for day `on`
        (default: today in China). The key must be valid on `on`."""
        day = on or china_today()
        if kid is None:
            key = self.signing_key_for(day)
        else:
            key = self._keys.get(kid)
            if key is None or key.kid not in self._private:
                raise SigningKeyUnavailable(f"no private key with kid {kid!r}")
            if not key.valid_on(day):
                raise SigningKeyUnavailable(f"key {kid!r} is not valid on {day.isoformat()}")
        algorithm = ALGORITHMS[key.alg]
        message = _message(context, key.alg, key.kid, payload)
        return Signature(key.kid, key.alg, algorithm.sign(self._private[key.kid], message))

    def verify_bytes(
        self,
        context: bytes,
        payload: bytes,
        signature: Signature,
        *,
        signed_on: date | None = None,
    ) -> SigningKey:
        """Check a detached signature; return its key or raise SignatureRejected.

        With `signed_on`, the key must also have been valid on that day.
        """
        key = self._keys.get(signature.kid)
        if key is None:
            raise SignatureRejected("unknown_kid")
        if key.alg != signature.alg:
            raise SignatureRejected("alg_mismatch")
        algorithm = ALGORITHMS.get(key.alg)
        if algorithm is None:  # pragma: no cover - the ring only holds registered algs
            raise SignatureRejected("unsupported_alg")
        if algorithm.signature_length is not None and (
            len(signature.value) != algorithm.signature_length
        ):
            raise SignatureRejected("bad_signature_length")
        message = _message(context, key.alg, key.kid, payload)
        if not algorithm.verify(self._public[key.kid], signature.value, message):
            raise SignatureRejected("bad_signature")
        if signed_on is not None and not key.valid_on(signed_on):
            raise SignatureRejected("key_not_valid_on_date")
        return key

    # -- tokens ---------------------------------------------------------------------------

    def sign(self, public_id: str, kid: str | None = None, *, on: date | None = None) -> str:
        """The QR token for `public_id`, signed with `kid` or the key for issue date `on`
        (default: today). Pass the certificate's issue date as `on`."""
        if not is_public_id(public_id):
            raise ValueError("public_id must come from new_public_id()")
        raw = _b64decode_canonical(public_id)
        assert raw is not None
        sig = self.sign_bytes(_token_context(TOKEN_VERSION), raw, kid=kid, on=on)
        return f"{TOKEN_VERSION}.{sig.alg}.{sig.kid}.{public_id}.{sig.value_b64}"

    def verify_details(self, token: object, *, issued_on: date | None = None) -> VerifiedToken:
        """Like `verify` but also report which key signed the token."""
        version, alg, kid, public_id, raw_id, sig = _parse_token(token)
        try:
            self.verify_bytes(
                _token_context(version), raw_id, Signature(kid, alg, sig), signed_on=issued_on
            )
        except SignatureRejected as exc:
            reason = exc.reason
            if reason == "key_not_valid_on_date":
                reason = "key_not_valid_on_issue_date"
            raise InvalidToken(reason) from None
        return VerifiedToken(public_id, kid, alg)

    def verify(self, token: object, *, issued_on: date | None = None) -> str:
        """The public id inside a genuine `token`, else InvalidToken.

        Verify once without `issued_on` to get the id to look up, then pass the found
        certificate's issue date (or let `status.verdict` do that second check).
        """
        return self.verify_details(token, issued_on=issued_on).public_id

    # -- serialisation ----------------------------------------------------------------------

    def public_keys_document(self) -> dict[str, Any]:
        """The body of ``GET /api/v1/keys``: public keys only, oldest first."""
        return {"keys": [k.public_entry() for k in self.keys]}

    def public_keys_json(self) -> str:
        return json.dumps(self.public_keys_document(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_public_json(cls, document: str | bytes | Mapping[str, Any]) -> KeyRing:
        """A verify-only ring from the published keys document."""
        data = json.loads(document) if isinstance(document, str | bytes) else document
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
            raise ValueError('expected a JSON object with a "keys" list')
        return cls(SigningKey.from_entry(e, allow_private=False) for e in data["keys"])

    def keyset_document(self) -> dict[str, Any]:
        """The private keyset file contents (includes private keys: keep it secret)."""
        entries = []
        for key in self.keys:
            entry = key.public_entry()
            if key.private_key is not None:
                entry["private_key"] = _b64encode(key.private_key)
            entries.append(entry)
        return {"format": KEYSET_FORMAT, "version": 1, "keys": entries}

    @classmethod
    def from_keyset_document(cls, document: str | bytes | Mapping[str, Any]) -> KeyRing:
        data = json.loads(document) if isinstance(document, str | bytes) else document
        if not isinstance(data, Mapping) or data.get("format") != KEYSET_FORMAT:
            raise ValueError(f'not a keyset file (expected "format": "{KEYSET_FORMAT}")')
        if data.get("version") != 1 or not isinstance(data.get("keys"), list):
            raise ValueError("unsupported keyset version")
        return cls(SigningKey.from_entry(e, allow_private=True) for e in data["keys"])

    @classmethod
    def from_keyset_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Load the server's private keyset (see the module docstring for the format)."""
        return cls.from_keyset_document(Path(path).read_text(encoding="utf-8"))

    def save_keyset(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the private keyset with mode 0600.

        Without `overwrite` an existing file is never touched (O_EXCL); with it the new
        contents go to a temporary file first and replace the old one atomically.
        """
        target = Path(path)
        text = json.dumps(self.keyset_document(), ensure_ascii=False, indent=2) + "\n"
        dest = target
        if overwrite:
            dest = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(dest, target)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise


def _split_token(token: object) -> list[str]:
    """The token's five dot-separated parts, after the checks both parsers share (type,
    length, part count, version); else InvalidToken."""
    if not isinstance(token, str):
        raise InvalidToken("not_a_string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("too_long")
    parts = token.split(".")
    if len(parts) != 5:
        raise InvalidToken("malformed")
    if parts[0] != TOKEN_VERSION:
        raise InvalidToken("unsupported_version")
    return parts


def token_parts(token: object) -> tuple[str, str]:
    """(kid, public_id) of a token, checking only its shape and the public id, not the
    signature; else InvalidToken. For a caller that looks the certificate up and
    compares the token with the one it issued (see `status.verdict`'s `issued_token`):
    a token equal to an issued one is well-formed, any other one is parsed in full by
    the signature check."""
    parts = _split_token(token)
    if not is_public_id(parts[3]):
        raise InvalidToken("malformed_public_id")
    return parts[2], parts[3]


def _parse_token(token: object) -> tuple[str, str, str, str, bytes, bytes]:
    """Split and decode a token, or raise InvalidToken. No key lookups here."""
    version, alg, kid, public_id, sig_text = _split_token(token)
    if not _ALG_RE.fullmatch(alg) or not _KID_RE.fullmatch(kid):
        raise InvalidToken("malformed")
    if not is_public_id(public_id):
        raise InvalidToken("malformed_public_id")
    raw_id = _b64decode_canonical(public_id)
    signature = _b64decode_canonical(sig_text)
    if raw_id is None or not signature:
        raise InvalidToken("malformed_signature")
    return version, alg, kid, public_id, raw_id, signature


def _default_kid(ring: KeyRing, valid_from: date) -> str:
    base = f"k{valid_from:%y%m%d}"
    kid, n = base, 1
    while ring.get(kid) is not None:
        n += 1
        kid = f"{base}-{n}"
    return kid


def generate_keyset(
    path: str | os.PathLike[str],
    *,
    kid: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    alg: str = "ed25519",
) -> KeyRing:
    """Create a new keyset file holding one fresh key (refuses to overwrite a file)."""
    start = valid_from or china_today()
    key = SigningKey.generate(kid or _default_kid(KeyRing(), start), start, valid_until, alg)
    ring = KeyRing([key])
    ring.save_keyset(path)
    return ring


def rotate_keyset(
    path: str | os.PathLike[str],
    *,
    new_kid: str | None = None,
    effective: date | None = None,
    alg: str = "ed25519",
) -> KeyRing:
    """Add a new key valid from `effective` (default: tomorrow, so certificates signed
    today keep a key valid on their issue date) and end the keys that were still open
    on that day the day before. Old keys stay in the file for verification."""
    ring = KeyRing.from_keyset_file(path)
    start = effective or (china_today() + timedelta(days=1))
    last_day = start - timedelta(days=1)
    keys = []
    for key in ring.keys:
        if key.valid_until is None or key.valid_until >= start:
            if key.valid_from > last_day:
                raise ValueError(f"key {key.kid!r} only starts on {key.valid_from}; rotate later")
            key = replace(key, valid_until=last_day)
        keys.append(key)
    new = SigningKey.generate(new_kid or _default_kid(ring, start), start, None, alg)
    rotated = KeyRing([*keys, new])
    rotated.save_keyset(path, overwrite=True)
    return rotated
