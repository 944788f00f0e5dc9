"""Certificate import: check every row, then write all of them in one transaction, or none.

Why all-or-nothing: an HR officer fixes a rejected file and imports it again; a half-
imported file would leave them guessing which rows are in, and a re-import would then
collide with its own earlier half. So a file with any bad row is rejected whole with a
row-by-row report and nothing is written.

Stages (each reports progress, so the command line and the admin API can show a bar):

1. ``check``  parse and check each row (`certificates.import_rows`), encrypt the ID
   number, compute the lookup hashes and sign the QR token. CPU-bound and pure: the admin
   API runs it in a worker thread so the event loop keeps serving.
2. ``compare`` against the database, in chunks of 1,000: certificate numbers already
   issued, persons already registered under another name.
3. ``write``  one transaction: new persons, then certificates, in batches.

Single issues (`issue_one`) go through the same stages, so one rule set holds for both.
QR images of imported certificates are rendered on first request and then kept
(`CertificateService.qr_images`): rendering 100,000 codes at import would take minutes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from certificates.import_rows import (
    ALL_LEAGUE_CITIES,
    CommitteeRef,
    FileProblem,
    ImportRow,
    RowError,
    RowValidator,
    estimate_rows,
    read_rows,
)
from certificates.personal_data import PersonalDataCipher
from certificates.signing import KeyRing, SigningKeyUnavailable, new_public_id
from certificates.status import Committee, Level
from models import Certificate, Person, ReviewCommittee

__all__ = [
    "ImportReport",
    "Prepared",
    "Progress",
    "check_rows",
    "compare_with_database",
    "insert_many",
    "load_committee_refs",
    "run_import",
    "write_prepared",
]

MAX_REPORTED_ERRORS = 1000
CHUNK = 1000


@dataclass
class Progress:
    """Where an import is; mutated by the importer, read by whoever shows it."""

    stage: str = "queued"  # queued | check | compare | write | done
    done: int = 0
    total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "done": self.done, "total": self.total}


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class PreparedRow:
    row: ImportRow
    id_hash: str
    name_hash: str
    id_enc: str
    public_id: str
    token: str


@dataclass
class Prepared:
    rows: list[PreparedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    total: int = 0

    def add_errors(self, errors: list[RowError]) -> None:
        self.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


@dataclass
class ImportReport:
    ok: bool
    total: int
    written: int
    error_count: int
    errors: list[RowError]
    import_id: str
    message: str = ""
    public_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "import_id": self.import_id,
            "total_rows": self.total,
            "written": self.written,
            "error_count": self.error_count,
            "errors": [e.as_dict() for e in self.errors],
            "errors_truncated": self.error_count > len(self.errors),
            "message": self.message,
        }


def committee_ref(row: ReviewCommittee) -> CommitteeRef:
    return CommitteeRef(
        id=row.id,
        code=row.code,
        committee=Committee(
            name=row.name,
            filing_number=row.filing_number,
            filed_on=row.filed_on,
            valid_until=row.valid_until,
            series=frozenset(row.series or []),
            levels=frozenset(Level(v) for v in row.levels or []),
        ),
        league_city=row.league_city,
    )


async def load_committee_refs() -> dict[str, CommitteeRef]:
    return {row.code: committee_ref(row) for row in await ReviewCommittee.all()}


def check_rows(
    rows: Any,
    validator: RowValidator,
    cipher: PersonalDataCipher,
    keyring: KeyRing,
    progress: Progress,
    on_progress: ProgressCallback | None = None,
) -> Prepared:
    """Stage 1 (pure, CPU-bound): check each (row number, raw dict), sign good rows."""
    prepared = Prepared()
    progress.stage, progress.done = "check", 0
    # id number -> (id hash, name hash, encrypted id number), once per person
    hashes: dict[str, tuple[str, str, str]] = {}
    for n, (row_number, raw) in enumerate(rows, start=1):
        prepared.total = n
        good, errors = validator.validate(row_number, raw)
        if good is not None:
            try:
                public_id = new_public_id()
                token = keyring.sign(public_id, on=good.issued_on)
            except SigningKeyUnavailable:
                errors = [RowError(row_number, "issued_on", "没有在该发证日期有效的签名密钥")]
            else:
                cached = hashes.get(good.id_number)
                if cached is None:
                    cached = (cipher.lookup_hash(good.id_number), cipher.name_hash(good.name),
                              cipher.encrypt(good.id_number))
                    hashes[good.id_number] = cached
                prepared.rows.append(PreparedRow(good, *cached, public_id, token))
        if errors:
            prepared.add_errors(errors)
        if n % CHUNK == 0:
            progress.done, progress.total = n, max(progress.total, n)
            if on_progress:
                on_progress(progress)
    progress.done = progress.total = prepared.total
    if on_progress:
        on_progress(progress)
    return prepared


async def compare_with_database(
    prepared: Prepared, progress: Progress, on_progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Stage 2: numbers already issued, persons registered under another name.
    Returns {id hash: person id} of the persons that already exist."""
    progress.stage, progress.done, progress.total = "compare", 0, len(prepared.rows)
    rows = prepared.rows
    existing_persons: dict[str, tuple[int, str]] = {}
    hashes = list({r.id_hash for r in rows})
    for i in range(0, len(hashes), CHUNK):
        chunk = hashes[i : i + CHUNK]
        for pid, id_hash, name_hash in await Person.filter(id_number_hash__in=chunk).values_list(
            "id", "id_number_hash", "name_hash"
        ):
            existing_persons[id_hash] = (pid, name_hash)
    taken: set[str] = set()
    for i in range(0, len(rows), CHUNK):
        numbers = [r.row.number for r in rows[i : i + CHUNK]]
        taken.update(await Certificate.filter(number__in=numbers).values_list("number", flat=True))
        progress.done = min(len(rows), i + CHUNK)
        if on_progress:
            on_progress(progress)
    for r in rows:
        errors = []
        if r.row.number in taken:
            errors.append(RowError(r.row.row, "number", "证书编号已存在（已签发或已导入）"))
        person = existing_persons.get(r.id_hash)
        if person is not None and person[1] != r.name_hash:
            errors.append(RowError(r.row.row, "name",
                                   "姓名与人才信息库中该身份证号码登记的姓名不一致"))
        if errors:
            prepared.add_errors(errors)
    return {h: p[0] for h, p in existing_persons.items()}


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return str(value)  # the form Tortoise stores: "2026-01-01 08:00:00.000001+00:00"
    if isinstance(value, date):
        return value.isoformat()
    return value


async def insert_many(conn: Any, table: str, columns: tuple[str, ...],
                       rows: list[tuple[Any, ...]]) -> None:
    """Plain multi-row INSERT: 5-10x faster than building ORM objects for bulk_create."""
    if conn.capabilities.dialect == "postgres":
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" * len(columns))
        rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'  # noqa: S608 - constant names
    await conn.execute_many(sql, rows)


PERSON_COLUMNS = ("name", "name_hash", "gender", "id_number_enc", "id_number_hash", "phone",
                  "created_at")
CERTIFICATE_COLUMNS = (
    "public_id", "number", "person_id", "series", "specialty", "qualification", "level",
    "committee_id", "approval_document", "approved_on", "issued_on", "obtained_by",
    "original_issuer", "original_number", "token", "status", "import_id", "created_at",
)


async def write_prepared(
    prepared: Prepared,
    known_persons: Mapping[str, int],
    import_id: str,
    progress: Progress,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Stage 3: one transaction; new persons first, then the certificates."""
    progress.stage, progress.done, progress.total = "write", 0, len(prepared.rows)
    now = datetime.now(UTC)
    person_ids = dict(known_persons)
    new_persons: dict[str, tuple[Any, ...]] = {}
    for r in prepared.rows:
        if r.id_hash not in person_ids and r.id_hash not in new_persons:
            row = r.row
            new_persons[r.id_hash] = (row.name, r.name_hash, row.gender, r.id_enc, r.id_hash,
                                      row.phone, now)
    async with in_transaction() as conn:
        people = list(new_persons.values())
        for i in range(0, len(people), CHUNK):
            await insert_many(conn, Person._meta.db_table, PERSON_COLUMNS, people[i : i + CHUNK])
        missing = list(new_persons)
        for i in range(0, len(missing), CHUNK):
            for pid, id_hash in await Person.filter(
                id_number_hash__in=missing[i : i + CHUNK]
            ).using_db(conn).values_list("id", "id_number_hash"):
                person_ids[id_hash] = pid
        for i in range(0, len(prepared.rows), CHUNK):
            batch = [
                (r.public_id, r.row.number, person_ids[r.id_hash], r.row.series,
                 r.row.specialty, r.row.qualification, r.row.level.value,
                 r.row.committee.id if r.row.committee else None, r.row.approval_document,
                 r.row.approved_on, r.row.issued_on, r.row.obtained_by.value,
                 r.row.original_issuer, r.row.original_number, r.token, "issued", import_id,
                 now)
                for r in prepared.rows[i : i + CHUNK]
            ]
            await insert_many(conn, Certificate._meta.db_table, CERTIFICATE_COLUMNS, batch)
            progress.done = min(len(prepared.rows), i + CHUNK)
            if on_progress:
                on_progress(progress)
            await asyncio.sleep(0)  # let the event loop serve others between batches
    return len(prepared.rows)


def new_import_id() -> str:
    return secrets.token_hex(8)


async def run_import(
    data: bytes | list[tuple[int, dict[str, Any]]],
    filename: str,
    *,
    cipher: PersonalDataCipher,
    keyring: KeyRing,
    today: Any,
    scope: str = ALL_LEAGUE_CITIES,
    import_id: str | None = None,
    progress: Progress | None = None,
    on_progress: ProgressCallback | None = None,
    in_thread: bool = True,
    dry_run: bool = False,
) -> ImportReport:
    """Check `data` (CSV or XLSX bytes, or already-read (row number, values) pairs) and,
    if every row is good, write it all."""
    import_id = import_id or new_import_id()
    progress = progress or Progress()
    committees = await load_committee_refs()
    validator = RowValidator(
        committees, today=today, scope=scope,
        can_sign=lambda day: any(k.valid_on(day) and k.private_key for k in keyring.keys),
    )

    def stage_one() -> Prepared:
        if isinstance(data, bytes):
            progress.total = estimate_rows(data, filename)
            rows = read_rows(data, filename)
        else:
            progress.total, rows = len(data), data
        return check_rows(rows, validator, cipher, keyring, progress, on_progress)

    try:
        if in_thread:
            prepared = await asyncio.get_running_loop().run_in_executor(None, stage_one)
        else:
            prepared = stage_one()
    except FileProblem as exc:  # also a record the CSV reader refused: its row and column
        err = RowError(exc.row or 1, exc.field, str(exc))
        return ImportReport(False, 0, 0, 1, [err], import_id, message=str(exc))
    if prepared.total == 0:
        msg = "文件中没有数据行"
        return ImportReport(False, 0, 0, 1, [RowError(2, "", msg)], import_id, message=msg)
    known = await compare_with_database(prepared, progress, on_progress)
    if prepared.error_count:
        prepared.errors.sort(key=lambda e: e.row)
        return ImportReport(
            False, prepared.total, 0, prepared.error_count, prepared.errors, import_id,
            message=f"共{prepared.error_count}处错误，整个文件未导入，请改正后重新导入",
        )
    if dry_run:
        progress.stage = "done"
        return ImportReport(True, prepared.total, 0, 0, [], import_id, message="检查通过（未写入）")
    try:
        written = await write_prepared(prepared, known, import_id, progress, on_progress)
    except IntegrityError:
        msg = "写入时发现重复的证书编号或人员（可能有人同时导入了相同数据），整个文件未导入"
        return ImportReport(False, prepared.total, 0, 1, [RowError(1, "", msg)], import_id,
                            message=msg)
    progress.stage = "done"
    if on_progress:
        on_progress(progress)
    return ImportReport(
        True, prepared.total, written, 0, [], import_id,
        message=f"已导入{written}张证书",
        public_ids=[r.public_id for r in prepared.rows] if written <= 100 else [],
    )
