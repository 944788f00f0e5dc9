"""Signature algorithms usable for certificate tokens, by name.

Why a registry: tokens name their algorithm, and the province may have to move to the
national algorithms (SM2 with SM3) later. A new algorithm is one class implementing
`SignatureAlgorithm` plus a `register_algorithm` call; tokens, key files and the
offline verifier then accept keys with that `alg` without other changes. A key's
algorithm is fixed by its entry in the key ring, never by what a token claims.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALGORITHMS",
    "Ed25519Algorithm",
    "SignatureAlgorithm",
    "get_algorithm",
    "register_algorithm",
]

_ALG_RE = re.compile(r"[a-z0-9]{1,16}")


class SignatureAlgorithm(Protocol):
    """What an algorithm must provide to sign and verify tokens.

    Keys travel as raw bytes (the formats in the key files); `load_*` turn them into
    whatever objects the implementation needs and raise ValueError for bad bytes.
    To add SM2: implement this protocol (e.g. with a GM/T 0003 library; the user id
    used in Z_A belongs inside the implementation) and call `register_algorithm`.
    """

    name: str
    signature_length: int | None  # None: variable length (e.g. DER), checked by verify

    def generate_private_key(self) -> bytes: ...

    def public_key_from_private(self, private_key: bytes) -> bytes: ...

    def load_public_key(self, public_key: bytes) -> Any: ...

    def load_private_key(self, private_key: bytes) -> Any: ...

    def sign(self, private_key: Any, message: bytes) -> bytes: ...

    def verify(self, public_key: Any, signature: bytes, message: bytes) -> bool: ...


class Ed25519Algorithm:
    """Ed25519 (RFC 8032) via `cryptography`; keys are the raw 32-byte forms."""

    name = "ed25519"
    signature_length = 64

    def generate_private_key(self) -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def public_key_from_private(self, private_key: bytes) -> bytes:
        key = self.load_private_key(private_key)
        return key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def load_public_key(self, public_key: bytes) -> Ed25519PublicKey:
        if len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(public_key)

    def load_private_key(self, private_key: bytes) -> Ed25519PrivateKey:
        if len(private_key) != 32:
            raise ValueError("an Ed25519 private key is a 32-byte seed")
        return Ed25519PrivateKey.from_private_bytes(private_key)

    def sign(self, private_key: Ed25519PrivateKey, message: bytes) -> bytes:
        return private_key.sign(message)

    def verify(self, public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
        try:
            public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


ALGORITHMS: dict[str, SignatureAlgorithm] = {}


def register_algorithm(algorithm: SignatureAlgorithm) -> None:
    """Make `algorithm` usable in keys and tokens under `algorithm.name`."""
    if not _ALG_RE.fullmatch(algorithm.name):
        raise ValueError("algorithm names are 1-16 of [a-z0-9]")
    ALGORITHMS[algorithm.name] = algorithm


register_algorithm(Ed25519Algorithm())


def get_algorithm(name: str) -> SignatureAlgorithm:
    """The registered algorithm called `name`; ValueError if there is none."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unsupported signature algorithm {name!r}") from None
