"""Encryption at rest and keyed lookup hashes of personal data."""

from __future__ import annotations

import base64
import hmac

import pytest

from certificates.idcard import make_test_id_number
from certificates.personal_data import DecryptionError, PersonalDataCipher, normalize_name

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ID = make_test_id_number("personal-data")


@pytest.fixture
def cipher() -> PersonalDataCipher:
    return PersonalDataCipher(KEY)


def test_round_trip(cipher):
    token = cipher.encrypt(ID)
    assert token.startswith("v1:")
    assert ID not in token
    assert cipher.decrypt(token) == ID


def test_encrypt_normalises_input(cipher):
    lower = ID[:-1] + ID[-1].lower()
    assert cipher.decrypt(cipher.encrypt(f"  {lower} ")) == ID


def test_nonce_is_random_so_equal_numbers_encrypt_differently(cipher):
    tokens = {cipher.encrypt(ID) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.urlsafe_b64decode(t[3:] + "==")[:12] for t in tokens}
    assert len(nonces) == 50


@pytest.mark.parametrize("position", [0, 5, 20, 40, 60])
def test_any_changed_character_is_detected(cipher, position):
    token = cipher.encrypt(ID)
    body = token[3:]
    position = min(position, len(body) - 1)
    replacement = "A" if body[position] != "A" else "B"
    tampered = "v1:" + body[:position] + replacement + body[position + 1 :]
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered)


def test_every_flipped_bit_is_detected(cipher):
    raw = bytearray(base64.urlsafe_b64decode(cipher.encrypt(ID)[3:] + "=="))
    for i in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[i // 8] ^= 1 << (i % 8)
        token = "v1:" + base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
        with pytest.raises(DecryptionError):
            cipher.decrypt(token)


@pytest.mark.parametrize("bad", ["", "v1:", "v1:abc", "v2:" + "A" * 62, "no-colon", "v1:!!!!"])
def test_malformed_tokens_are_rejected(cipher, bad):
    with pytest.raises(DecryptionError):
        cipher.decrypt(bad)


def test_truncated_token_is_rejected(cipher):
    token = cipher.encrypt(ID)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token[:-4])


def test_other_key_cannot_decrypt(cipher):
    with pytest.raises(DecryptionError):
        PersonalDataCipher(OTHER_KEY).decrypt(cipher.encrypt(ID))


def test_lookup_hash_equal_for_equal_numbers_after_normalisation(cipher):
    h = cipher.lookup_hash(ID)
    assert len(h) == 64 and int(h, 16) >= 0
    assert cipher.lookup_hash(f" {ID.lower()} ") == h
    assert cipher.lookup_hash(make_test_id_number("someone else")) != h
    assert cipher.id_number_matches(ID.lower(), h)
    assert not cipher.id_number_matches(make_test_id_number("x"), h)
    assert not cipher.id_number_matches(ID, "not-a-hash-ä")  # corrupt stored value: no match


def test_different_master_keys_give_different_hashes(cipher):
    other = PersonalDataCipher(OTHER_KEY)
    assert other.lookup_hash(ID) != cipher.lookup_hash(ID)
    assert other.name_hash("张三明") != cipher.name_hash("张三明")


def test_subkeys_are_separated(cipher):
    # The lookup hash is not a plain HMAC under the master key, and the ID and name
    # hashes of the same text differ (different HKDF info strings).
    import hashlib

    assert cipher.lookup_hash(ID) != hmac.new(KEY, ID.encode(), hashlib.sha256).hexdigest()
    assert cipher.lookup_hash("张三明") != cipher.name_hash("张三明")


def test_name_hash_normalises_whitespace_width_and_dots(cipher):
    h = cipher.name_hash("张三明")
    assert cipher.name_hash(" 张 三明\u3000") == h
    assert cipher.name_matches("张三明 ", h)
    assert not cipher.name_matches("张三", h)
    dotted = cipher.name_hash("阿依古丽·买买提")
    assert cipher.name_hash("阿依古丽・买买提") == dotted
    assert cipher.name_hash("阿依古丽•买买提") == dotted
    assert normalize_name("ＪＯＨＮ Smith") == "johnsmith"


def test_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        PersonalDataCipher(b"short")


def test_from_base64_matches_settings_format():
    encoded = base64.b64encode(KEY).decode()
    assert PersonalDataCipher.from_base64(encoded).lookup_hash(ID) == PersonalDataCipher(
        KEY
    ).lookup_hash(ID)


def test_repr_hides_key(cipher):
    assert "hidden" in repr(cipher)
    assert KEY.hex() not in repr(cipher)
