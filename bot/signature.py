"""WeChat signatures and message crypto, with constant-time compares and key rotation.

wechatpy does the AES (PrpCrypto); its own signature check uses `!=`, so we compute and
compare signatures here with `hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET  # noqa: S405 - only our own template and bounded input

from wechatpy.crypto import PrpCrypto


def wechat_signature(*parts: str) -> str:
    """SHA1 over the lexicographically sorted parts, as WeChat signs."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


def signature_ok(given: str | None, *parts: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.lower().encode(), wechat_signature(*parts).encode())


class DecryptError(Exception):
    """No configured EncodingAESKey decrypts the message for our AppID."""


class MessageCrypto:
    """Decrypts with the current key, then the previous one; encrypts with the current."""

    def __init__(self, token: str, appid: str, aes_keys: list[str]) -> None:
        if not aes_keys:
            raise ValueError("at least one EncodingAESKey is needed")
        self.token = token
        self.appid = appid
        self._keys = [base64.b64decode(k + "=") for k in aes_keys]

    def decrypt(self, encrypt: str) -> tuple[str, int]:
        """Plaintext XML and the index of the key that worked (0 current, 1 previous)."""
        for index, key in enumerate(self._keys):
            try:
                text = PrpCrypto(key).decrypt(encrypt, self.appid)
            except Exception:  # noqa: S112 - wrong key shows as any of several errors
                continue
            return (text.decode() if isinstance(text, bytes) else text), index
        raise DecryptError("no key decrypts this message")

    def encrypt_reply(self, xml: str, timestamp: str, nonce: str) -> str:
        encrypt = PrpCrypto(self._keys[0]).encrypt(xml, self.appid)
        encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
        signature = wechat_signature(self.token, timestamp, nonce, encrypt)
        root = ET.Element("xml")
        for tag, value in (
            ("Encrypt", encrypt),
            ("MsgSignature", signature),
            ("TimeStamp", timestamp),
            ("Nonce", nonce),
        ):
            ET.SubElement(root, tag).text = value
        return ET.tostring(root, encoding="unicode")


def extract_encrypt(body: bytes) -> str | None:
    """The <Encrypt> field of a safe/compatible-mode body, or None."""
    root = ET.fromstring(body)  # noqa: S314 - body is size-capped and DOCTYPE-free
    node = root.find("Encrypt")
    return node.text if node is not None and node.text else None
