"""Working days in China: statutory holidays and make-up workdays (调休上班).

Why: policy periods such as "公示期不少于5个工作日" (二(四)3) count working days, and in
China those are not simply Monday to Friday: the State Council moves weekends every year, so
a Saturday can be a workday and a Thursday a holiday. A wrong count shortens a legal
publicity period, so a year without holiday data is refused (`CalendarYearUnknown`) rather
than counted as if it had no holidays.

Where the data comes from, per calendar year:

- the `chinesecalendar` package for the years it knows (2004–2026 in version 1.11);
- a file `config/holidays/<year>.json` for later years (format: `config/holidays/README.md`).

Precedence: for a year the package knows, the package wins, unless that year's file says
`"override": true` (to correct the package before it is upgraded); a file then replaces the
package's data for the whole year, it is not merged. For any other year the file is
authoritative, provisional or not; `arrangement(year).provisional` lets pages warn about it.

Counting rule: a day is a workday if it is a make-up workday, or a Monday-to-Friday that is
not a holiday. `add_workdays(start, n)` returns the n-th workday counting `start` itself
when it is a workday, so a publicity window starting on S with N working days ends on
`add_workdays(S, N)` and `workdays_between(S, end) == N`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import chinese_calendar

DEFAULT_HOLIDAY_DIR = Path(__file__).resolve().parent.parent / "config" / "holidays"


class CalendarYearUnknown(LookupError):
    """No holiday data for a year: working days there cannot be counted."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"{year} 年的节假日安排尚未录入，无法计算工作日，请先在 config/holidays/ 中补充。"
        )


class HolidayDataError(ValueError):
    """A holiday data file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class YearArrangement:
    """One calendar year's holidays and make-up workdays, and where they come from."""

    year: int
    off_days: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str
    provisional: bool = False

    def is_workday(self, d: date) -> bool:
        if d in self.makeup_workdays:
            return True
        return d.weekday() < 5 and d not in self.off_days


@cache
def package_arrangements() -> dict[int, YearArrangement]:
    """The years `chinesecalendar` knows, as arrangements (read once; the package is static)."""
    first = min(chinese_calendar.holidays).year
    last = max(chinese_calendar.holidays).year
    source = "chinesecalendar"
    return {
        year: YearArrangement(
            year=year,
            off_days=frozenset(d for d in chinese_calendar.holidays if d.year == year),
            makeup_workdays=frozenset(d for d in chinese_calendar.workdays if d.year == year),
            source=source,
        )
        for year in range(first, last + 1)
    }


def load_year_file(path: Path) -> tuple[YearArrangement, bool]:
    """Read one `<year>.json`; returns the arrangement and its `override` flag.

    Refuses, with a Chinese message naming the field, anything an HR officer could get
    wrong by hand: a year that does not match the file name, a date outside that year, a
    make-up workday that is not a Saturday or Sunday, a day both off and worked.
    """
    name = path.name

    def fail(field: str, problem: str) -> HolidayDataError:
        return HolidayDataError(f"节假日数据文件 {name} 的字段 {field} 有误：{problem}")

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HolidayDataError(f"节假日数据文件 {name} 不是有效的 JSON：{exc}") from exc
    if not isinstance(raw, dict):
        raise fail("（顶层）", "应为 JSON 对象")

    year = raw.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or str(year) != path.stem:
        raise fail("year", f"应为与文件名一致的年份 {path.stem}")
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise fail("source", "应写明数据来源（如国务院办公厅通知的文号）")
    flags = {}
    for flag in ("provisional", "override"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise fail(flag, "应为 true 或 false")
        flags[flag] = value

    def parse_day(value: object, field: str) -> date:
        try:
            d = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise fail(field, f"{value!r} 不是 YYYY-MM-DD 格式的日期") from None
        if d.year != year:
            raise fail(field, f"{d.isoformat()} 不在 {year} 年内（请录入该日期所在年份的文件）")
        return d

    festivals = raw.get("festivals")
    if not isinstance(festivals, list) or not festivals:
        raise fail("festivals", "应为节日列表")
    off_days: set[date] = set()
    makeup: set[date] = set()
    for i, fest in enumerate(festivals):
        where = f"festivals[{i}]"
        if not isinstance(fest, dict):
            raise fail(where, "应为 JSON 对象")
        off = fest.get("off")
        if not isinstance(off, list) or len(off) != 2:
            raise fail(f"{where}.off", "应为 [首日, 末日] 两个日期")
        first, last = parse_day(off[0], f"{where}.off"), parse_day(off[1], f"{where}.off")
        if last < first:
            raise fail(f"{where}.off", "末日早于首日")
        off_days.update(first + timedelta(days=k) for k in range((last - first).days + 1))
        days = fest.get("makeup_workdays", [])
        if not isinstance(days, list):
            raise fail(f"{where}.makeup_workdays", "应为日期列表")
        for value in days:
            d = parse_day(value, f"{where}.makeup_workdays")
            if d.weekday() < 5:
                raise fail(f"{where}.makeup_workdays", f"{d.isoformat()} 不是周六或周日")
            makeup.add(d)
    both = sorted(off_days & makeup)
    if both:
        raise fail("festivals", f"{both[0].isoformat()} 既是放假日又是调休上班日")
    arrangement = YearArrangement(
        year=year,
        off_days=frozenset(off_days),
        makeup_workdays=frozenset(makeup),
        source=source,
        provisional=flags["provisional"],
    )
    return arrangement, flags["override"]


def _require_date(d: object, name: str) -> date:
    # A datetime is a date subclass but never equals a date in a set lookup, and its
    # calendar day depends on a timezone: callers convert with `local_time` first.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"{name} must be a datetime.date, got {type(d).__name__}")
    return d


class WorkdayCalendar:
    """Working-day arithmetic over the package's years and the data files' years.

    Files are read once, at construction: holiday data changes a few times a year and a
    new file is picked up by building a new calendar (e.g. at process start).
    """

    def __init__(self, data_dir: Path | str | None = None) -> None:
        folder = Path(data_dir) if data_dir is not None else DEFAULT_HOLIDAY_DIR
        if not folder.is_dir():
            raise FileNotFoundError(f"holiday data directory not found: {folder}")
        years = dict(package_arrangements())
        for path in sorted(folder.glob("*.json")):
            arrangement, override = load_year_file(path)
            if arrangement.year not in years or override:
                years[arrangement.year] = arrangement
        self._years = years

    def known_years(self) -> list[int]:
        """Years whose working days can be counted, ascending."""
        return sorted(self._years)

    def arrangement(self, year: int) -> YearArrangement:
        """The year's data; raises `CalendarYearUnknown` when there is none."""
        try:
            return self._years[year]
        except KeyError:
            raise CalendarYearUnknown(year) from None

    def is_workday(self, d: date) -> bool:
        _require_date(d, "d")
        return self.arrangement(d.year).is_workday(d)

    def add_workdays(self, start: date, n: int) -> date:
        """The n-th workday on or after `start` (n ≥ 1), counting `start` if it is one."""
        _require_date(start, "start")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        day, seen = start, 0
        while True:
            if self.is_workday(day):
                seen += 1
                if seen == n:
                    return day
            day += timedelta(days=1)

    def workdays_between(self, start: date, end: date) -> int:
        """Number of workdays from `start` to `end`, both included."""
        _require_date(start, "start")
        _require_date(end, "end")
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        return sum(
            self.is_workday(start + timedelta(days=k)) for k in range((end - start).days + 1)
        )


@cache
def default_calendar() -> WorkdayCalendar:
    """The calendar over `config/holidays/`, built once per process."""
    return WorkdayCalendar()
