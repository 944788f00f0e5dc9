"""Reading and checking the rows of a certificate import file (CSV or XLSX).

Why pure and separate from the database side (`certificates.importer`): every rule a row
must pass is decided here from plain values, so a 100,000-row file can be checked in a
worker thread, and each rule is testable without a database. What only the database knows
(certificate numbers already issued, a person already registered under another name) is
checked afterwards by the importer.

File format: the talent database's export (人才信息库导出), first row the headers, Chinese
or English names (`COLUMNS`). CSV in UTF-8 (with or without BOM) or GB18030; XLSX first
sheet. Row numbers in reports are spreadsheet rows: the header is row 1.

Rules per row (the policy clause where there is one):

* every required column present; ID number valid under GB 11643 (checksum, birth date);
  gender, when given, agrees with the ID number's sex digit;
* series, level and route (取得方式) are known values (Chinese label or code);
* dates parse; approval date <= issue date <= today;
* review routes (评审, 考评结合) name a known committee whose filing covers the approval
  date and whose scope covers the series and level (二(六)6, 二(六)2, 二(五)2:
  `status.check_issuable`); other routes may omit it, and if they name one it is checked;
* exchanged certificates (二(十)2) name the original issuer;
* a league-city officer may only import certificates of their own league city's
  committees (rows without a committee need a region administrator);
* certificate numbers are unique in the file; one ID number has one name in the file;
* a signing key exists for the issue date (the token is signed with the key valid then).

Messages are Chinese and never contain the ID number: a cell quoted in a message
(an unknown series, level, route or committee code) is masked with
`idcard.mask_id_number` when it looks like one (a CSV exported without quoting shifts
cells, so the ID number can land in any column), and cut short when long.

Text must hold no control characters (`notices.text.has_control_chars`: C0 controls such
as NUL, DEL, half surrogate pairs): PostgreSQL refuses NUL in text, and the others are
never part of a name, number or document. A cell holding one is a row error naming the
column.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from certificates.idcard import (
    InvalidIdNumber,
    mask_id_number,
    normalize_id_number,
    validate_id_number,
)
from certificates.status import (
    LEVEL_LABELS,
    OBTAINED_BY_LABELS,
    Committee,
    Level,
    ObtainedBy,
    check_issuable,
    filing_problems,
)
from notices.series import SERIES
from notices.text import has_control_chars, without_control_chars

__all__ = [
    "ALL_LEAGUE_CITIES",
    "BAD_CHARACTERS",
    "COLUMNS",
    "CommitteeRef",
    "FileProblem",
    "ImportRow",
    "RowError",
    "estimate_rows",
    "RowValidator",
    "parse_date",
    "quote_cell",
    "read_rows",
]

# (key, Chinese header, required)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("number", "证书编号", True),
    ("name", "姓名", True),
    ("gender", "性别", False),
    ("id_number", "身份证号码", True),
    ("phone", "手机号码", False),
    ("series", "系列", True),
    ("specialty", "专业", True),
    ("qualification", "资格名称", True),
    ("level", "级别", True),
    ("obtained_by", "取得方式", True),
    ("committee", "评委会代码", False),
    ("approval_document", "核准文号", True),
    ("approved_on", "核准日期", True),
    ("issued_on", "发证日期", True),
    ("original_issuer", "原发证机关", False),
    ("original_number", "原证书编号", False),
)
FIELD_LABELS = {key: label for key, label, _ in COLUMNS}
_ALIASES = {
    **{label: key for key, label, _ in COLUMNS},
    **{key: key for key, _, _ in COLUMNS},
    "身份证号": "id_number",
    "公民身份号码": "id_number",
    "手机": "phone",
    "联系电话": "phone",
    "评委会": "committee",
    "评审委员会代码": "committee",
    "核准文件": "approval_document",
    "职称系列": "series",
    "资格级别": "level",
}
ALL_LEAGUE_CITIES = "*"  # a region administrator's scope
SERIES_BY_ANY = {**{v: v for v in SERIES.values()}, **SERIES}
LEVEL_BY_ANY = {
    **{v.value: v for v in Level},
    **{label: lvl for lvl, label in LEVEL_LABELS.items()},
    "正高": Level.SENIOR_FULL, "副高": Level.SENIOR_DEPUTY, "助理": Level.ASSISTANT,
    "初级": Level.ASSISTANT,
}
OBTAINED_BY_ANY = {
    **{v.value: v for v in ObtainedBy},
    **{label: o for o, label in OBTAINED_BY_LABELS.items()},
    "考试": ObtainedBy.EXAM, "以考代评": ObtainedBy.EXAM, "认定": ObtainedBy.RECOGNITION,
    "换证": ObtainedBy.EXCHANGE, "区外换证": ObtainedBy.EXCHANGE,
}
GENDERS = {"男": "M", "女": "F", "M": "M", "F": "F", "m": "M", "f": "F"}
_PHONE = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")
_DATE_PATTERNS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
MAX_TEXT = {"number": 64, "name": 64, "specialty": 64, "qualification": 64,
            "approval_document": 128, "original_issuer": 128, "original_number": 64}


BAD_CHARACTERS = "含有控制字符（如NUL），请删除后重新填写"
_ID_LIKE = re.compile(r"\d{14,}[\dX]")  # 15- and 18-character ID numbers, typos included
_QUOTE_MAX = 32


def quote_cell(value: str) -> str:
    """A cell's value as it may appear in a message: masked if it looks like an ID
    number (`mask_id_number`), cut to `_QUOTE_MAX` characters, controls replaced."""
    if _ID_LIKE.search(normalize_id_number(value)):
        value = mask_id_number(value)
    if len(value) > _QUOTE_MAX:
        value = value[:_QUOTE_MAX] + "…"
    return without_control_chars(value, "\ufffd")


class FileProblem(ValueError):
    """The file as a whole cannot be read (format, encoding, header). Chinese message;
    `row` and `field` name the spreadsheet row and the column key when known."""

    def __init__(self, message: str, *, row: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.row = row
        self.field = field


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # spreadsheet row; the header is row 1
    field: str  # column key, or "" for the whole row
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class CommitteeRef:
    """A committee as the validator needs it: the domain value plus who owns it."""

    id: int
    code: str
    committee: Committee
    league_city: str | None


@dataclass(slots=True)
class ImportRow:
    """A row that passed every check, with normalised values."""

    row: int
    number: str
    name: str
    gender: str  # M | F
    id_number: str  # normalised; never logged or reported
    phone: str | None
    series: str
    specialty: str
    qualification: str
    level: Level
    obtained_by: ObtainedBy
    committee: CommitteeRef | None
    approval_document: str
    approved_on: date
    issued_on: date
    original_issuer: str | None
    original_number: str | None


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_date(value: Any) -> date | None:
    """A date from an XLSX cell or the usual written forms; None if it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _clean(value)
    for pattern in _DATE_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


def _sex_of(id_number: str) -> str:
    return "M" if int(id_number[16]) % 2 else "F"


class RowValidator:
    """Checks rows one at a time, remembering what cross-row rules need.

    `committees`: by code. `scope`: the league city the officer may import for, or
    ALL_LEAGUE_CITIES. `can_sign(day)`: a signing key exists for that issue date.
    """

    def __init__(
        self,
        committees: Mapping[str, CommitteeRef],
        *,
        today: date,
        scope: str = ALL_LEAGUE_CITIES,
        can_sign: Callable[[date], bool] = lambda _day: True,
    ) -> None:
        self.committees = committees
        self.today = today
        self.scope = scope
        self.can_sign = can_sign
        self._numbers: dict[str, int] = {}
        self._names: dict[str, tuple[str, int]] = {}  # id number -> (name, first row)

    def validate(self, row: int, raw: Mapping[str, Any]) -> tuple[ImportRow | None, list[RowError]]:
        errors: list[RowError] = []

        def err(field: str, message: str) -> None:
            errors.append(RowError(row, field, message))

        values = {key: _clean(raw.get(key)) for key, _, _ in COLUMNS}
        # One search over the whole row; only a row that has one looks cell by cell.
        controls = has_control_chars("".join(values.values()))
        for key, label, required in COLUMNS:
            if controls and has_control_chars(values[key]):
                err(key, f"{label}{BAD_CHARACTERS}")
                values[key] = without_control_chars(values[key])
            if required and not values[key] and key not in ("approved_on", "issued_on"):
                err(key, f"{label}不能为空")
        for key, limit in MAX_TEXT.items():
            if len(values[key]) > limit:
                err(key, f"{FIELD_LABELS[key]}过长（最多{limit}个字符）")

        id_number = ""
        raw_id = raw.get("id_number")
        if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
            err("id_number", "身份证号码被存成了数字（末几位可能已丢失），"
                             "请将该列设置为文本格式后重新导出")
        elif values["id_number"]:
            try:
                id_number = validate_id_number(values["id_number"], today=self.today)
            except InvalidIdNumber as exc:
                err("id_number", exc.message)

        gender = ""
        if values["gender"]:
            gender = GENDERS.get(values["gender"], "")
            if not gender:
                err("gender", "性别应为“男”或“女”")
            elif id_number and gender != _sex_of(id_number):
                err("gender", "性别与身份证号码不一致")
        elif id_number:
            gender = _sex_of(id_number)

        phone = values["phone"] or None
        if phone and not _PHONE.fullmatch(phone):
            err("phone", "手机号码格式不正确")

        series = SERIES_BY_ANY.get(values["series"]) if values["series"] else None
        if values["series"] and series is None:
            err("series", f"未知的职称系列“{quote_cell(values['series'])}”")
        level = LEVEL_BY_ANY.get(values["level"]) if values["level"] else None
        if values["level"] and level is None:
            err("level", f"未知的级别“{quote_cell(values['level'])}”"
                         "（应为正高级、副高级、中级、助理级或员级）")
        obtained_by = OBTAINED_BY_ANY.get(values["obtained_by"]) if values["obtained_by"] else None
        if values["obtained_by"] and obtained_by is None:
            err("obtained_by", f"未知的取得方式“{quote_cell(values['obtained_by'])}”")

        approved_on = parse_date(raw.get("approved_on"))
        issued_on = parse_date(raw.get("issued_on"))
        for key, day in (("approved_on", approved_on), ("issued_on", issued_on)):
            if day is None:
                what = "不能为空" if not values[key] else "不是有效日期（应为YYYY-MM-DD）"
                err(key, f"{FIELD_LABELS[key]}{what}")
        if approved_on and issued_on:
            if issued_on < approved_on:
                err("issued_on", "发证日期早于核准日期")
            if issued_on > self.today:
                err("issued_on", "发证日期晚于今天")
            elif not self.can_sign(issued_on):
                err("issued_on", "没有在该发证日期有效的签名密钥，请联系系统管理员")

        committee = None
        code = values["committee"]
        if code:
            committee = self.committees.get(code)
            if committee is None:
                err("committee", f"未知的评委会代码“{quote_cell(code)}”")
        elif obtained_by is not None and obtained_by.requires_committee:
            err("committee", f"取得方式为{OBTAINED_BY_LABELS[obtained_by]}时必须填写评委会代码")
        if committee is not None:
            if self.scope != ALL_LEAGUE_CITIES and committee.league_city != self.scope:
                err("committee", "您只能导入本盟市评委会评审的证书")
            if approved_on and series and level:
                for problem in check_issuable(committee.committee, series, level, approved_on):
                    err("committee", problem)
            elif approved_on:
                for problem in filing_problems(committee.committee, approved_on):
                    err("committee", problem)
        elif self.scope != ALL_LEAGUE_CITIES and not errors:
            err("committee", "没有评委会的证书（考试、认定、换证）须由自治区管理员导入")

        if obtained_by is ObtainedBy.EXCHANGE and not values["original_issuer"]:
            err("original_issuer", "区外换发的证书必须填写原发证机关（二(十)2）")

        number = values["number"]
        if number:
            first = self._numbers.get(number)
            if first is not None:
                err("number", f"证书编号与第{first}行重复")
            else:
                self._numbers[number] = row
        if id_number and values["name"]:
            seen = self._names.get(id_number)
            if seen is None:
                self._names[id_number] = (values["name"], row)
            elif seen[0] != values["name"]:
                err("name", f"同一身份证号码在第{seen[1]}行登记的姓名不同")

        if errors:
            return None, errors
        assert series and level and obtained_by and approved_on and issued_on
        return ImportRow(
            row=row, number=number, name=values["name"], gender=gender, id_number=id_number,
            phone=phone, series=series, specialty=values["specialty"],
            qualification=values["qualification"], level=level, obtained_by=obtained_by,
            committee=committee, approval_document=values["approval_document"],
            approved_on=approved_on, issued_on=issued_on,
            original_issuer=values["original_issuer"] or None,
            original_number=values["original_number"] or None,
        ), []


def _header_keys(header: list[Any]) -> list[str | None]:
    keys = [_ALIASES.get(_clean(h).replace(" ", "").lower()) or _ALIASES.get(_clean(h))
            for h in header]
    missing = [label for key, label, required in COLUMNS if required and key not in keys]
    if missing:
        raise FileProblem(f"第1行（表头）缺少列：{'、'.join(missing)}")
    return keys


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem("无法识别文件编码，请另存为 UTF-8 编码的 CSV 文件")


class _Lines:
    """The lines of a text for `csv.reader`, counting the characters handed out, so the
    start of the record the reader is about to parse is known (`consumed`)."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.consumed = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed += len(line)
        return line


def _overlong_field(text: str, limit: int) -> int | None:
    """The index of the first field longer than `limit` in the CSV record at the start of
    `text` (the excel dialect `csv.reader` uses), or None if there is none."""
    index, length, state = 0, 0, "start"  # start | plain | quoted | quote_in_quoted
    for ch in text:
        if state == "quoted":
            if ch == '"':
                state = "quote_in_quoted"
                continue
        elif ch in "\r\n":
            return None
        elif ch == "," and state != "quoted":
            index, length, state = index + 1, 0, "start"
            continue
        elif state == "start" and ch == '"':
            state = "quoted"
            continue
        elif state == "quote_in_quoted" and ch == '"':
            state = "quoted"
        else:
            state = "plain"
        length += 1
        if length > limit:
            return index
    return None


def _unreadable_record(text: str, row: int, keys: list[str | None], exc: csv.Error) -> FileProblem:
    """The FileProblem for a record `csv.reader` refused (`text` starts at the record)."""
    limit = csv.field_size_limit()
    if "field larger than field limit" not in str(exc):
        return FileProblem(f"第{row}行无法按 CSV 格式读取，请检查该行后重新导出", row=row)
    index = _overlong_field(text, limit)
    key = keys[index] if index is not None and index < len(keys) else None
    where = f"第{row}行“{FIELD_LABELS[key]}”列" if key else f"第{row}行有单元格"
    return FileProblem(
        f"{where}超过{limit}个字符，无法读取（常见原因：单元格中有未配对的英文引号）。"
        "请改正后重新导出，整个文件未导入", row=row, field=key or "")


def _csv_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _decode(data)
    lines = _Lines(text)
    reader = csv.reader(lines)
    keys: list[str | None] = []
    n = 0
    while True:
        n += 1  # the spreadsheet row (record) the reader parses next
        start = lines.consumed
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise _unreadable_record(text[start:], n, keys, exc) from None
        if cells is None:
            if n == 1:
                raise FileProblem("文件是空的")
            return
        if n == 1:
            keys = _header_keys(cells)
            continue
        if not any(c.strip() for c in cells):
            continue
        yield n, {k: v for k, v in zip(keys, cells, strict=False) if k}


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises assorted errors on a bad file
        raise FileProblem("无法读取 XLSX 文件，请确认文件未损坏") from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise FileProblem("文件是空的")
        keys = _header_keys(list(header))
        for n, cells in enumerate(rows, start=2):
            if not any(c not in (None, "") for c in cells):
                continue
            yield n, {k: v for k, v in zip(keys, cells, strict=False) if k}
    finally:
        book.close()


def estimate_rows(data: bytes, filename: str) -> int:
    """About how many data rows the file has (for a progress bar before reading it)."""
    if Path(filename).suffix.lower() == ".xlsx" or data[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True)
            rows = (book.worksheets[0].max_row or 1) - 1
            book.close()
            return max(rows, 0)
        except Exception:  # the reader reports a broken file properly
            return 0
    lines = data.count(b"\n")
    return max(lines - 1 + (0 if data.endswith(b"\n") else 1), 0)


def read_rows(data: bytes, filename: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {column key: raw value}) for each non-empty data row."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx" or data[:4] == b"PK\x03\x04":
        return _xlsx_rows(data)
    if suffix in (".csv", ".txt", ""):
        return _csv_rows(data)
    raise FileProblem(f"不支持的文件类型“{suffix}”，请上传 CSV 或 XLSX 文件")
