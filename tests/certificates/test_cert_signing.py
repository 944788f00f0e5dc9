"""Signed QR tokens: format, forgery resistance, key rotation, key files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certificates import algorithms
from certificates.signing import (
    MAX_TOKEN_LENGTH,
    InvalidToken,
    KeyRing,
    SigningKey,
    SigningKeyUnavailable,
    generate_keyset,
    is_public_id,
    new_public_id,
    rotate_keyset,
)
from tests.certificates.cert_testkit import K2019_UNTIL, K2022_FROM, seeded_key

PID = "Q2VydGlmaWNhdGUwMDAwMQ"
ISSUED_2021 = date(2021, 6, 1)
ISSUED_2023 = date(2023, 6, 1)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def reason_of(ring: KeyRing, token, **kwargs) -> str:
    with pytest.raises(InvalidToken) as info:
        ring.verify(token, **kwargs)
    return info.value.reason


# -- public ids -----------------------------------------------------------------------------


def test_new_public_id_is_128_random_bits():
    ids = {new_public_id() for _ in range(1000)}
    assert len(ids) == 1000
    for pid in list(ids)[:50]:
        assert len(pid) == 22 and is_public_id(pid) and len(unb64(pid)) == 16


@pytest.mark.parametrize(
    "bad", ["", "short", PID + "A", PID[:-1] + "!", PID[:-1] + "R", None, 42, b"bytes"]
)
def test_is_public_id_rejects(bad):
    # PID ends in "Q"; "R" decodes to the same 16 bytes but is not canonical.
    assert not is_public_id(bad)


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_and_format(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    version, alg, kid, pid, sig = token.split(".")
    assert (version, alg, kid, pid) == ("v1", "ed25519", "k2022", PID)
    assert len(unb64(sig)) == 64 and b64(unb64(sig)) == sig
    assert ring.verify(token) == PID
    assert ring.verify(token, issued_on=ISSUED_2023) == PID
    details = ring.verify_details(token)
    assert (details.kid, details.alg, details.public_id) == ("k2022", "ed25519", PID)


def test_tokens_are_deterministic_and_short(ring):
    assert ring.sign(PID, on=ISSUED_2023) == ring.sign(PID, on=ISSUED_2023)
    assert len(ring.sign(new_public_id(), on=ISSUED_2023)) <= 130


def test_token_is_url_safe_and_holds_no_personal_data(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def test_sign_refuses_bad_public_id(ring):
    with pytest.raises(ValueError):
        ring.sign("not a public id", on=ISSUED_2023)


# -- forgeries --------------------------------------------------------------------------------


def test_forged_signature(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    head, _sig = token.rsplit(".", 1)
    assert reason_of(ring, f"{head}.{b64(os.urandom(64))}") == "bad_signature"


def test_signature_of_another_certificate_does_not_transfer(ring):
    other = ring.sign("Q2VydGlmaWNhdGUwMDAwMg", on=ISSUED_2023)
    token = ring.sign(PID, on=ISSUED_2023)
    spliced = token.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]
    assert reason_of(ring, spliced) == "bad_signature"


def test_every_truncation_is_rejected(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    for n in range(len(token)):
        with pytest.raises(InvalidToken):
            ring.verify(token[:n])


def test_every_single_bit_flip_is_rejected(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    head, pid, sig = token.rsplit(".", 2)
    for field, raw in (("pid", unb64(pid)), ("sig", unb64(sig))):
        for i in range(len(raw) * 8):
            flipped = bytearray(raw)
            flipped[i // 8] ^= 1 << (i % 8)
            if field == "pid":
                candidate = f"{head}.{b64(bytes(flipped))}.{sig}"
            else:
                candidate = f"{head}.{pid}.{b64(bytes(flipped))}"
            with pytest.raises(InvalidToken):
                ring.verify(candidate)


def test_every_single_character_change_is_rejected(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    for i, ch in enumerate(token):
        for repl in {"A", "b", "-", ".", "9"} - {ch}:
            with pytest.raises(InvalidToken):
                ring.verify(token[:i] + repl + token[i + 1 :])


def test_non_canonical_base64_is_rejected(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    assert PID.endswith("Q")
    # "R" differs from "Q" only in the two padding bits: same bytes, other spelling.
    assert unb64(PID[:-1] + "R") == unb64(PID)
    assert reason_of(ring, token.replace(PID, PID[:-1] + "R")) == "malformed_public_id"


def test_unknown_kid(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    assert reason_of(ring, token.replace(".k2022.", ".k2099.")) == "unknown_kid"


def test_resigned_with_attacker_key_claiming_known_kid(ring):
    attacker = KeyRing([seeded_key("k2022", K2022_FROM, seed="attacker")])
    forged = attacker.sign(PID, on=ISSUED_2023)
    assert forged.split(".")[2] == "k2022"
    assert reason_of(ring, forged) == "bad_signature"


def test_signature_from_one_real_key_under_the_other_kid(ring):
    token = ring.sign(PID, on=ISSUED_2021)  # k2019
    assert reason_of(ring, token.replace(".k2019.", ".k2022.")) == "bad_signature"


@pytest.mark.parametrize("alg", ["hs256", "none", "sm2", "ed448", "rs256"])
def test_alg_field_changed(ring, alg):
    token = ring.sign(PID, on=ISSUED_2023)
    assert reason_of(ring, token.replace(".ed25519.", f".{alg}.")) == "alg_mismatch"


class _HmacWithPublicKey:
    """The classic algorithm-confusion attack: an HMAC 'algorithm' whose key is the
    published public key. Registered only inside the test below."""

    name = "hmacpub"
    signature_length = 32

    def load_public_key(self, public_key: bytes) -> bytes:
        return public_key

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        expected = hmac.new(public_key, message, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)


def test_algorithm_confusion_with_registered_symmetric_alg(ring, monkeypatch):
    monkeypatch.setitem(algorithms.ALGORITHMS, "hmacpub", _HmacWithPublicKey())
    from certificates.signing import _message, _token_context

    public_key = ring.get("k2022").public_key
    message = _message(_token_context("v1"), "hmacpub", "k2022", unb64(PID))
    mac = hmac.new(public_key, message, hashlib.sha256).digest()
    forged = f"v1.hmacpub.k2022.{PID}.{b64(mac)}"
    assert reason_of(ring, forged) == "alg_mismatch"


def test_signature_length_is_checked(ring):
    token = ring.sign(PID, on=ISSUED_2023)
    head = token.rsplit(".", 1)[0]
    assert reason_of(ring, f"{head}.{b64(os.urandom(63))}") == "bad_signature_length"


@pytest.mark.parametrize(
    "token",
    [
        None,
        123,
        b"v1.ed25519",
        "",
        "v1",
        "v2.ed25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.AAAA",
        "v1.ED25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.AAAA",
        "v1.ed25519.k 2022.Q2VydGlmaWNhdGUwMDAwMQ.AAAA",
        "v1.ed25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.",
        "v1.ed25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.AAAA.extra",
        "v1.ed25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.AAAA\n",
        "v1.ed25519.k2022.Q2VydGlmaWNhdGUwMDAwMQ.A=",
        "x" * (MAX_TOKEN_LENGTH + 1),
    ],
)
def test_malformed_tokens(ring, token):
    with pytest.raises(InvalidToken):
        ring.verify(token)


def test_all_failures_look_the_same_to_strangers(ring):
    messages = set()
    for bad in ["", "v1.ed25519.k2099.x.y", ring.sign(PID, on=ISSUED_2023)[:-2]]:
        with pytest.raises(InvalidToken) as info:
            ring.verify(bad)
        messages.add(str(info.value))
    assert len(messages) == 1
    assert "二维码" in messages.pop()


# -- rotation ----------------------------------------------------------------------------------


def test_sign_uses_key_valid_on_issue_date(ring):
    assert ring.sign(PID, on=ISSUED_2021).split(".")[2] == "k2019"
    assert ring.sign(PID, on=K2019_UNTIL).split(".")[2] == "k2019"
    assert ring.sign(PID, on=K2022_FROM).split(".")[2] == "k2022"


def test_old_key_still_verifies_certificate_issued_while_valid(ring):
    token = ring.sign(PID, on=ISSUED_2021)
    assert ring.verify(token, issued_on=ISSUED_2021) == PID
    assert ring.key_valid_on("k2019", ISSUED_2021)


def test_certificate_claiming_issue_after_key_expired_is_refused(ring):
    token = ring.sign(PID, on=ISSUED_2021)
    assert reason_of(ring, token, issued_on=ISSUED_2023) == "key_not_valid_on_issue_date"
    assert reason_of(ring, token, issued_on=date(2018, 12, 31)) == "key_not_valid_on_issue_date"
    assert not ring.key_valid_on("k2019", ISSUED_2023)
    assert not ring.key_valid_on("nope", ISSUED_2021)


def test_cannot_sign_with_expired_or_missing_key(ring):
    with pytest.raises(SigningKeyUnavailable):
        ring.sign(PID, "k2019", on=ISSUED_2023)
    with pytest.raises(SigningKeyUnavailable):
        ring.sign(PID, "k2099", on=ISSUED_2023)
    with pytest.raises(SigningKeyUnavailable):
        ring.sign(PID, on=date(2018, 1, 1))


def test_explicit_kid_valid_on_date(ring):
    assert ring.sign(PID, "k2019", on=ISSUED_2021) == ring.sign(PID, on=ISSUED_2021)


def test_ring_rejects_inconsistent_keys():
    k = seeded_key("a", date(2020, 1, 1))
    with pytest.raises(ValueError, match="duplicate"):
        KeyRing([k, k])
    with pytest.raises(ValueError, match="kid"):
        KeyRing([seeded_key("bad.kid", date(2020, 1, 1))])
    with pytest.raises(ValueError, match="before"):
        KeyRing([seeded_key("a", date(2020, 1, 1), date(2019, 1, 1))])
    other = seeded_key("a", date(2020, 1, 1), seed="other")
    mismatched = SigningKey("a", "ed25519", k.public_key, k.valid_from, None, other.private_key)
    with pytest.raises(ValueError, match="does not match"):
        KeyRing([mismatched])
    with pytest.raises(ValueError, match="unsupported"):
        KeyRing([SigningKey("a", "sm2", k.public_key, k.valid_from)])


# -- key documents and files ---------------------------------------------------------------------


def test_public_json_round_trip_verifies_but_cannot_sign(ring):
    token = ring.sign(PID, on=ISSUED_2021)
    document = json.loads(ring.public_keys_json())
    assert [k["kid"] for k in document["keys"]] == ["k2019", "k2022"]
    assert set(document["keys"][0]) == {"kid", "alg", "public_key", "valid_from", "valid_until"}
    assert document["keys"][0]["valid_until"] == "2021-12-31"
    assert document["keys"][1]["valid_until"] is None
    assert len(unb64(document["keys"][0]["public_key"])) == 32
    public = KeyRing.from_public_json(json.dumps(document))
    assert public.verify(token, issued_on=ISSUED_2021) == PID
    with pytest.raises(SigningKeyUnavailable):
        public.sign(PID, on=ISSUED_2021)


def test_public_document_with_private_keys_is_refused(ring):
    with pytest.raises(ValueError, match="private"):
        KeyRing.from_public_json(ring.keyset_document())


@pytest.mark.parametrize(
    "document",
    [
        "[]",
        "{}",
        '{"keys": "x"}',
        '{"keys": [1]}',
        {"keys": [{"kid": "a", "alg": "ed25519", "public_key": "!!", "valid_from": "2020-01-01"}]},
        {
            "keys": [
                {"kid": "a", "alg": "ed25519", "public_key": "AAAA", "valid_from": "2020-01-01"}
            ]
        },
        {"keys": [{"kid": "a", "alg": "ed25519", "public_key": "AAAA", "valid_from": 3}]},
    ],
)
def test_bad_public_documents(document):
    with pytest.raises(ValueError):
        KeyRing.from_public_json(document if isinstance(document, str) else json.dumps(document))


def test_generate_keyset_file(tmp_path):
    path = tmp_path / "keys.json"
    ring = generate_keyset(path, kid="k1", valid_from=date(2024, 1, 1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KeyRing.from_keyset_file(path)
    token = loaded.sign(PID, on=date(2024, 5, 1))
    assert ring.verify(token) == PID
    data = json.loads(path.read_text())
    assert data["format"] == "zhicheng-signing-keyset"
    assert len(unb64(data["keys"][0]["private_key"])) == 32
    with pytest.raises(FileExistsError):
        generate_keyset(path)


def test_rotate_keyset_keeps_old_certificates_valid(tmp_path):
    path = tmp_path / "keys.json"
    generate_keyset(path, kid="old", valid_from=date(2024, 1, 1))
    old_token = KeyRing.from_keyset_file(path).sign(PID, on=date(2024, 3, 1))
    rotated = rotate_keyset(path, new_kid="new", effective=date(2025, 1, 1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rotated.get("old").valid_until == date(2024, 12, 31)
    assert rotated.signing_key_for(date(2025, 1, 1)).kid == "new"
    assert rotated.signing_key_for(date(2024, 12, 31)).kid == "old"
    reloaded = KeyRing.from_keyset_file(path)
    assert reloaded.verify(old_token, issued_on=date(2024, 3, 1)) == PID
    with pytest.raises(InvalidToken):
        reloaded.verify(old_token, issued_on=date(2025, 2, 1))
    assert not list(tmp_path.glob(".*.tmp"))


def test_keyset_without_private_key_entry_loads_verify_only(ring, tmp_path):
    document = ring.keyset_document()
    del document["keys"][0]["private_key"]
    loaded = KeyRing.from_keyset_document(document)
    with pytest.raises(SigningKeyUnavailable):
        loaded.sign(PID, on=ISSUED_2021)
    assert loaded.sign(PID, on=ISSUED_2023) == ring.sign(PID, on=ISSUED_2023)


def test_keytool_cli(tmp_path, capsys):
    from certificates.keytool import main

    path = tmp_path / "k.json"
    assert main(["generate", str(path), "--kid", "a", "--valid-from", "2024-01-01"]) == 0
    assert main(["rotate", str(path), "--kid", "b", "--effective", "2025-01-01"]) == 0
    capsys.readouterr()
    assert main(["public", str(path)]) == 0
    published = json.loads(capsys.readouterr().out)
    assert [k["kid"] for k in published["keys"]] == ["a", "b"]
    assert "private_key" not in json.dumps(published)
    assert main(["generate", str(path)]) == 1  # never overwrites


# -- fuzzing ----------------------------------------------------------------------------------


def _verify_never_crashes(ring: KeyRing, token) -> None:
    try:
        result = ring.verify(token)
    except InvalidToken:
        return
    assert is_public_id(result)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_crashes_verify(token):
    ring = KeyRing([seeded_key("k2022", K2022_FROM)])
    _verify_never_crashes(ring, token)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=_ALPHABET, max_size=90), min_size=0, max_size=7),
    st.sampled_from(["v1", "v0", ""]),
    st.sampled_from(["ed25519", "sm2", ""]),
    st.sampled_from(["k2022", "k2019", ""]),
)
def test_token_shaped_strings_never_crash_verify(parts, version, alg, kid):
    ring = KeyRing([seeded_key("k2022", K2022_FROM)])
    _verify_never_crashes(ring, ".".join([version, alg, kid, *parts]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_tokens_never_verify(data):
    ring = KeyRing([seeded_key("k2022", K2022_FROM)])
    token = ring.sign(PID, on=ISSUED_2023)
    i = data.draw(st.integers(0, len(token) - 1))
    j = data.draw(st.integers(i, len(token)))
    insert = data.draw(st.text(max_size=5))
    mutated = token[:i] + insert + token[j:]
    if mutated == token:
        assert ring.verify(mutated) == PID
    else:
        with pytest.raises(InvalidToken):
            ring.verify(mutated)
