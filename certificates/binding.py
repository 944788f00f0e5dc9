"""Binding a WeChat user to a talent record: name + ID number + a one-time code from HR.

Why three factors: name and ID number are not secret (they are on many forms), so they
alone would let anyone read someone else's certificates and verification history. The
one-time code comes from HR (the admin API or command line hands it out, or the admin
API sends it to a WeChat user as a customer-service message). Only a keyed hash of the
code is stored; a code works once and expires (CERT_BINDING_CODE_DAYS).

Guessing: five wrong tries (any of the three wrong; the answer never says which) lock
binding for that WeChat user for an hour. Counters live in the state store, so the
limit holds across processes.

The chat keeps no clear ID number between questions: it keeps the keyed hashes
(`PersonalDataCipher.lookup_hash` / `name_hash`) and passes those here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.transactions import in_transaction

from bot.storage.base import StateStore
from models import BindingCode, Person, WechatUser

__all__ = ["BindResult", "BindingService", "CODE_DIGITS", "LOCK_SECONDS", "MAX_FAILURES"]

CODE_DIGITS = 8
MAX_FAILURES = 5
LOCK_SECONDS = 3600
_INFO = b"zhicheng/binding-code/v1"


@dataclass(frozen=True)
class BindResult:
    ok: bool
    person_id: int | None = None
    locked_seconds: int = 0  # > 0: binding is locked for this long
    tries_left: int = 0


class BindingService:
    def __init__(self, master_key: bytes, store: StateStore) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                         info=_INFO).derive(master_key)
        self.store = store

    def _hash(self, person_id: int, code: str) -> str:
        message = f"{person_id}:{code.strip()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def issue_code(self, person_id: int, *, actor: str, days: int) -> tuple[str, datetime]:
        """A new code for the person (earlier unused codes stop working). Shown once."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        now = datetime.now(UTC)
        expires = now + timedelta(days=days)
        async with in_transaction() as conn:
            await BindingCode.filter(person_id=person_id, used_at=None).using_db(conn).update(
                used_at=now
            )
            await BindingCode.create(person_id=person_id, code_hash=self._hash(person_id, code),
                                     expires_at=expires, created_by=actor, using_db=conn)
        return code, expires

    async def locked_seconds(self, openid: str) -> int:
        ttl = await self.store.ttl(f"certbind:lock:{openid}")
        return int(ttl) + 1 if ttl else 0

    async def try_bind(self, openid: str, *, id_hash: str, name_hash: str, code: str) -> BindResult:
        """Bind `openid` if name, ID number and code all match; count a failure otherwise."""
        locked = await self.locked_seconds(openid)
        if locked:
            return BindResult(False, locked_seconds=locked)
        now = datetime.now(UTC)
        person = await Person.get_or_none(id_number_hash=id_hash)
        match: BindingCode | None = None
        if person is not None and hmac.compare_digest(person.name_hash, name_hash):
            wanted = self._hash(person.id, code)
            for candidate in await BindingCode.filter(
                person_id=person.id, used_at=None, expires_at__gt=now
            ):
                if hmac.compare_digest(candidate.code_hash, wanted):
                    match = candidate
        if person is not None and match is not None:
            async with in_transaction() as conn:
                used = await BindingCode.filter(id=match.id, used_at=None).using_db(conn).update(
                    used_at=now
                )
                if used:
                    await WechatUser.filter(talent_id=person.id).exclude(
                        openid=openid
                    ).using_db(conn).update(talent_id=None)
                    user, _ = await WechatUser.get_or_create(openid=openid, using_db=conn)
                    user.talent_id = person.id
                    await user.save(update_fields=["talent_id"], using_db=conn)
            if used:
                await self.store.delete(f"certbind:fail:{openid}")
                return BindResult(True, person_id=person.id)
        failures = await self.store.incr(f"certbind:fail:{openid}", ttl=LOCK_SECONDS)
        if failures >= MAX_FAILURES:
            await self.store.set(f"certbind:lock:{openid}", "1", ttl=LOCK_SECONDS)
            await self.store.delete(f"certbind:fail:{openid}")
            return BindResult(False, locked_seconds=LOCK_SECONDS)
        return BindResult(False, tries_left=MAX_FAILURES - failures)

    async def unbind(self, openid: str) -> bool:
        return bool(await WechatUser.filter(openid=openid).exclude(talent_id=None).update(
            talent_id=None
        ))

    async def bound_person_id(self, openid: str) -> int | None:
        user = await WechatUser.get_or_none(openid=openid)
        return user.talent_id if user else None
