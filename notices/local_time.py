"""The region's clock: every day boundary in notices is a day in Asia/Shanghai.

Why one place: a publicity window, a deadline and a reminder's send time all turn a
calendar date into instants, and they must agree on where a day starts. Servers may run in
UTC, so instants are always timezone-aware and naive datetimes are refused rather than
guessed at. China has kept UTC+8 without daylight saving since 1991, so a fixed offset is
exact for every date this service handles and needs no tz database (the same choice as
`certificates.clock`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

REGION_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def start_of_day(d: date) -> datetime:
    """00:00 of `d` in Asia/Shanghai."""
    return datetime.combine(d, time.min, tzinfo=REGION_TZ)


def end_of_day(d: date) -> datetime:
    """The first instant *after* `d` (00:00 of the next day): day ranges are half-open."""
    return start_of_day(d + timedelta(days=1))


def at_local(d: date, clock: time) -> datetime:
    """`clock` o'clock on `d` in Asia/Shanghai."""
    return datetime.combine(d, clock, tzinfo=REGION_TZ)


def require_aware(at: datetime, name: str) -> datetime:
    """Refuse naive datetimes: without a zone the local day of an instant is a guess."""
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {at.isoformat()})")
    return at
