"""Chinese resident ID numbers (公民身份号码, GB 11643-1999): validate, normalise, mask.

Why here: the ID number is the key that ties a certificate to a person (registration in
the talent database, the holder's "my certificates" query), so every entry point must
accept exactly the same spellings and reject typos early with a message the user can act
on. The checks are the ones the standard defines and that need no external data:

* 18 characters: 6-digit address code, 8-digit birth date, 3-digit sequence code and an
  ISO 7064 MOD 11-2 check character (0-9 or X).
* The address code starts with a known province-level code. The remaining four digits
  are not checked against the administrative-division list (it changes every year and
  old numbers keep old codes). Residence permits for Hong Kong, Macao and Taiwan
  residents (81/82/83) and the 2023 foreigners' permanent residence ID card (leading 9
  followed by a province code) use the same structure and are accepted.
* The birth date is a real calendar date, not before 1900 and not in the future.

Input normalisation (so chat input works): Unicode NFKC (full-width digits and "Ｘ"
become ASCII), all whitespace removed, lower-case "x" upper-cased.

Masking choices (documented because they are policy, not taste):

* `mask_id_number` keeps only the first and the last character: "1****************X".
  The first six digits give the county and the last four include the sex digit; on a
  page that strangers see, the holder is identified by the masked name and the
  certificate number, so the ID number needs to reveal almost nothing.
* `mask_name` keeps the first and the last character and puts one "*" per hidden
  character: "张三明" -> "张*明", "欧阳娜娜" -> "欧**娜"; two characters keep the first:
  "张三" -> "张*"; a single character is fully masked ("*"), since leaving it would show
  the whole name.
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date

from certificates.clock import china_today

__all__ = [
    "InvalidIdNumber",
    "check_character",
    "make_test_id_number",
    "mask_id_number",
    "mask_name",
    "normalize_id_number",
    "validate_id_number",
]

# Province-level codes of GB/T 2260 plus 71 (Taiwan), 81 (Hong Kong), 82 (Macao) and
# 83 (residence permits of Taiwan residents).
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, ...
_CHECK_CHARS = "10X98765432"  # index = (sum of weighted digits) mod 11
_EARLIEST_BIRTH_YEAR = 1900
_WHITESPACE = re.compile(r"\s+")


class InvalidIdNumber(ValueError):
    """The input is not a valid ID number.

    `str(exc)` is a Chinese message for the user; `code` names the failed check for
    logs and tests ("length", "characters", "region", "birth_date", "check_digit").
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalize_id_number(text: str) -> str:
    """NFKC, whitespace removed, upper case. Does not validate."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text)).upper()


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _region_ok(code6: str) -> bool:
    if code6[0] == "9":  # foreigners' permanent residence ID card (2023): 9 + province code
        return code6[1:3] in PROVINCE_CODES
    return code6[:2] in PROVINCE_CODES


def validate_id_number(text: str, *, today: date | None = None) -> str:
    """Return the normalised ID number or raise InvalidIdNumber naming what is wrong.

    `today` bounds the birth date (default: today in China); pass it in tests.
    """
    number = normalize_id_number(text)
    if len(number) != 18:
        raise InvalidIdNumber(
            "length", f"身份证号码应为18位，您输入的是{len(number)}位，请核对后重新输入。"
        )
    body, last = number[:17], number[17]
    if not (body.isascii() and body.isdigit()):
        raise InvalidIdNumber("characters", "身份证号码前17位应全部为数字，请核对后重新输入。")
    if not (last == "X" or (last.isascii() and last.isdigit())):
        raise InvalidIdNumber("characters", "身份证号码最后一位应为数字或字母X，请核对后重新输入。")
    if not _region_ok(body[:6]):
        raise InvalidIdNumber("region", "身份证号码前6位（地址码）无效，请核对后重新输入。")
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        born = None
    if born is None or born.year < _EARLIEST_BIRTH_YEAR or born > (today or china_today()):
        raise InvalidIdNumber(
            "birth_date", "身份证号码第7至14位（出生日期）不是有效日期，请核对后重新输入。"
        )
    if check_character(body) != last:
        raise InvalidIdNumber(
            "check_digit", "身份证号码校验位不正确，可能有数字输错，请核对后重新输入。"
        )
    return number


def mask_id_number(text: str) -> str:
    """Keep the first and last character, one "*" for each other: 1****************X.

    Works on any string (no validation) so that a bad stored value never leaks in full;
    two characters or fewer are masked completely.
    """
    number = normalize_id_number(text)
    if len(number) <= 2:
        return "*" * len(number)
    return number[0] + "*" * (len(number) - 2) + number[-1]


def mask_name(name: str) -> str:
    """ "张三明" -> "张*明", "张三" -> "张*", "张" -> "*" (see the module docstring)."""
    chars = _WHITESPACE.sub("", unicodedata.normalize("NFKC", name))
    if len(chars) <= 1:
        return "*" * len(chars)
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]


# Inner Mongolia county-level address codes used for generated test numbers.
_TEST_REGIONS = ("150102", "150105", "150203", "150402", "150602", "150702", "152501")


def make_test_id_number(
    seed: int | str, *, birth_date: date | None = None, female: bool | None = None
) -> str:
    """A valid, deterministic ID number for tests and demo data (never a real person's
    on purpose: the sequence is random, so treat collisions with real numbers as data
    that must not leave the test environment)."""
    rng = random.Random(f"zhicheng-test-id:{seed}")
    region = rng.choice(_TEST_REGIONS)
    if birth_date is None:
        birth_date = date.fromordinal(
            rng.randint(date(1955, 1, 1).toordinal(), date(2002, 12, 31).toordinal())
        )
    sequence = rng.randint(0, 999)
    if female is not None and (sequence % 2 == 0) != female:
        sequence = (sequence + 1) % 1000  # odd = male, even = female
    body = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return body + check_character(body)
