"""The calendar day as the service sees it.

Certificates, filings and signing keys are dated by Chinese administrative documents,
so "today" means the date in China Standard Time, not the server's local zone (servers
often run in UTC, which is still "yesterday" until 08:00 Beijing time). China has no
daylight saving time, so a fixed UTC+8 offset is exact and needs no tz database.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def china_today() -> date:
    """Today's date in China Standard Time."""
    return datetime.now(CHINA_STANDARD_TIME).date()


def add_years(day: date, years: int) -> date:
    """`day` moved by whole calendar years; 29 February becomes 28 February if needed."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
