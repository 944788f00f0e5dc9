"""Personal data at rest: encrypted ID numbers plus keyed hashes for lookups.

Why both: the database must not hold ID numbers or names in clear (a leaked backup must
not be a list of citizens), yet the service has to find "the certificates of ID number
X" and answer an employer's "is the holder's full name Y?" without decrypting every row.

* Encryption: AES-256-GCM, a fresh random 96-bit nonce per value, so equal ID numbers
  give different ciphertexts. Stored form: ``v1:`` + base64url(nonce || ciphertext+tag),
  without padding (65 characters for an 18-character ID number). The version prefix
  lets a later scheme (another algorithm or key) coexist with old rows. The associated
  data binds a ciphertext to its purpose, so an encrypted ID number cannot be pasted
  into another encrypted column and decrypt there.
* Lookup: HMAC-SHA256 of the normalised value, hex (64 characters), so equal values
  hash equal and a unique index works. Without the key the hash cannot be brute-forced
  over the (small) space of valid ID numbers or common names.
* Keys: one 32-byte master key from settings (FIELD_KEY, base64). Separate subkeys are
  derived with HKDF-SHA256 and distinct info strings for encryption, ID lookup and name
  hashing, so a weakness in one use never turns into another (e.g. a lookup hash can
  never be a valid GCM key stream or a name hash).

Normalisation happens here, not in callers, so every path hashes the same spelling:
ID numbers via `idcard.normalize_id_number` (NFKC, no whitespace, upper case; validity
is checked at the input boundary with `validate_id_number`, not here); names via
`normalize_name` (NFKC, whitespace removed, the middle-dot variants used in
transliterated minority and foreign names unified, case folded).

Master key rotation is not implemented yet: ``v1`` means "the current master key".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certificates.idcard import normalize_id_number

__all__ = ["DecryptionError", "PersonalDataCipher", "normalize_name"]

_VERSION = "v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_ID_NUMBER = b"zhicheng/personal-data/v1/id-number"
_INFO_ENCRYPT = b"zhicheng/personal-data/v1/encrypt"
_INFO_ID_LOOKUP = b"zhicheng/personal-data/v1/lookup"
_INFO_NAME = b"zhicheng/personal-data/v1/name"
_WHITESPACE = re.compile(r"\s+")
# U+00B7 is the standard separator in transliterated names (阿依古丽·买买提); people type
# the katakana, bullet, hyphenation-point or full-stop look-alikes just as often.
_MIDDLE_DOTS = str.maketrans({c: "\u00b7" for c in "\u30fb\u2022\u2027\u2219\u22c5\uff0e\u318d"})


class DecryptionError(ValueError):
    """A stored value cannot be decrypted: unknown version, corrupt, or wrong key."""


def normalize_name(name: str) -> str:
    """The spelling of a person's name that hashes are computed over."""
    text = unicodedata.normalize("NFKC", name).translate(_MIDDLE_DOTS)
    return _WHITESPACE.sub("", text).casefold()


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise DecryptionError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("not base64url") from exc


def _same(computed: str, stored: str) -> bool:
    # Bytes, not str: compare_digest raises TypeError for non-ASCII str, and a corrupt
    # stored value must give "no match", not an exception.
    return hmac.compare_digest(computed.encode("utf-8"), stored.encode("utf-8"))


class PersonalDataCipher:
    """Encrypts ID numbers and computes lookup hashes, all from one 32-byte master key.

    Construct once per process (key derivation is done in the constructor) and share it;
    the object holds no mutable state and is safe to use from several threads.
    """

    __slots__ = ("_aead", "_id_lookup_key", "_name_key")

    def __init__(self, master_key: bytes) -> None:
        if not isinstance(master_key, bytes | bytearray) or len(master_key) != 32:
            raise ValueError("the personal-data master key must be exactly 32 bytes")
        master = bytes(master_key)
        self._aead = AESGCM(_derive(master, _INFO_ENCRYPT))
        self._id_lookup_key = _derive(master, _INFO_ID_LOOKUP)
        self._name_key = _derive(master, _INFO_NAME)

    @classmethod
    def from_base64(cls, key_b64: str) -> PersonalDataCipher:
        """From the FIELD_KEY setting (standard base64 of 32 bytes)."""
        return cls(base64.b64decode(key_b64, validate=True))

    def __repr__(self) -> str:
        return "PersonalDataCipher(<key hidden>)"

    # -- ID numbers -----------------------------------------------------------------

    def encrypt(self, id_number: str) -> str:
        """``v1:`` + base64url(nonce || AES-256-GCM ciphertext and tag)."""
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = normalize_id_number(id_number).encode("utf-8")
        sealed = self._aead.encrypt(nonce, plaintext, _AAD_ID_NUMBER)
        return f"{_VERSION}:{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str) -> str:
        """The ID number inside `token`; DecryptionError if it is not exactly what
        `encrypt` produced with this key."""
        version, sep, body = token.partition(":")
        if not sep or version != _VERSION:
            raise DecryptionError("unknown format version")
        raw = _b64decode(body)
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("too short")
        try:
            plaintext = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD_ID_NUMBER)
        except InvalidTag as exc:
            raise DecryptionError("authentication failed (corrupt value or wrong key)") from exc
        return plaintext.decode("utf-8")

    def lookup_hash(self, id_number: str) -> str:
        """Keyed hash of the normalised ID number, hex; store it with a unique index."""
        data = normalize_id_number(id_number).encode("utf-8")
        return hmac.new(self._id_lookup_key, data, hashlib.sha256).hexdigest()

    def id_number_matches(self, id_number: str, stored_hash: str) -> bool:
        """Constant-time comparison of `id_number` with a stored lookup hash."""
        return _same(self.lookup_hash(id_number), stored_hash)

    # -- names ----------------------------------------------------------------------

    def name_hash(self, name: str) -> str:
        """Keyed hash of the normalised full name, hex (see `normalize_name`)."""
        data = normalize_name(name).encode("utf-8")
        return hmac.new(self._name_key, data, hashlib.sha256).hexdigest()

    def name_matches(self, name: str, stored_hash: str) -> bool:
        """Constant-time "is this the holder's full name" check.

        The caller must rate-limit it per certificate: with the masked name shown on
        the verification page ("张*明"), guessing the hidden characters is cheap.
        """
        return _same(self.name_hash(name), stored_hash)
