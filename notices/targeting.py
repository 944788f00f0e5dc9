"""Who a notice reaches, and who may send it there.

A notice's scope has two dimensions, league cities and series; on each, `None` means "all"
(the whole region, every series) and a set restricts it. An empty set is refused: a notice
that reaches nobody is a mistake in the form, not a choice.

Matching (`matches`): on each dimension a restricted notice reaches a subscriber only if the
subscriber's value is in it. A subscriber who gave no league city (e.g. works for a
region-level unit) or no series gets only the notices unrestricted on that dimension: a
notice for 包头市 is not for them, and guessing would spam everyone who skipped a question.

Sending (`can_target`): a region administrator may target anything; a league-city officer
only their own league city (never the whole region, never another city), any series. Any
other role may not send. Deny is the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from notices.errors import FieldError, NoticeValidationError
from notices.league_cities import LEAGUE_CITY_BY_CODE
from notices.series import SERIES

ALL = "all"
REGION_ADMIN = "region_admin"
LEAGUE_CITY_OFFICER = "league_city_officer"

_LEAGUE_LABEL = "发布盟市"
_SERIES_LABEL = "职称系列"


def _check_codes(
    codes: frozenset[str] | None,
    field: str,
    label: str,
    known: Mapping[str, object],
    all_hint: str,
) -> FieldError | None:
    if codes is None:
        return None
    if not codes:
        return FieldError(field, f"{label}不能为空；{all_hint}")
    unknown = sorted(c for c in codes if c not in known)
    if unknown:
        return FieldError(field, f"{label}中有未知代码：{'、'.join(map(str, unknown))}。")
    return None


def _raise_if(*errors: FieldError | None) -> None:
    found = [e for e in errors if e is not None]
    if found:
        raise NoticeValidationError(*found)


def _frozen(value: Iterable[str] | None) -> frozenset[str] | None:
    if isinstance(value, str):  # a lone code would otherwise become a set of letters
        raise TypeError(f"expected a collection of codes, got the string {value!r}")
    return None if value is None else frozenset(value)


@dataclass(frozen=True)
class NoticeScope:
    """Audience of a notice: `None` on a dimension means all of it."""

    league_cities: frozenset[str] | None = None
    series: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "league_cities", _frozen(self.league_cities))
        object.__setattr__(self, "series", _frozen(self.series))
        _raise_if(
            _check_codes(
                self.league_cities,
                "league_cities",
                _LEAGUE_LABEL,
                LEAGUE_CITY_BY_CODE,
                "面向全区请选择“全区”。",
            ),
            _check_codes(
                self.series, "series", _SERIES_LABEL, SERIES, "面向所有系列请选择“全部系列”。"
            ),
        )


@dataclass(frozen=True)
class Subscription:
    """What a subscriber told us: their league city (or none) and their series (maybe none)."""

    league_city: str | None = None
    series: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", _frozen(self.series))
        city_error = None
        if self.league_city is not None and self.league_city not in LEAGUE_CITY_BY_CODE:
            city_error = FieldError("league_city", f"所在盟市代码未知：{self.league_city}。")
        unknown = sorted(c for c in self.series if c not in SERIES)
        series_error = (
            FieldError("series", f"{_SERIES_LABEL}中有未知代码：{'、'.join(unknown)}。")
            if unknown
            else None
        )
        _raise_if(city_error, series_error)


def parse_scope(raw: Mapping[str, object]) -> NoticeScope:
    """Scope from form data: each of `league_cities` and `series` is "all" or a list of codes.

    Both are required: a form that forgot the field must not send region-wide by default.
    """
    errors: list[FieldError] = []
    values: dict[str, frozenset[str] | None] = {}
    for field, label in (("league_cities", _LEAGUE_LABEL), ("series", _SERIES_LABEL)):
        value = raw.get(field)
        if value == ALL:
            values[field] = None
        elif isinstance(value, list | tuple | set | frozenset) and all(
            isinstance(v, str) for v in value
        ):
            values[field] = frozenset(value)
        else:
            errors.append(FieldError(field, f"请选择{label}：“all”（全部）或代码列表。"))
    _raise_if(*errors)
    return NoticeScope(**values)


def matches(notice_scope: NoticeScope, subscription: Subscription) -> bool:
    """Whether a notice with this scope reaches this subscriber."""
    cities = notice_scope.league_cities
    if cities is not None and subscription.league_city not in cities:
        return False
    series = notice_scope.series
    return series is None or not series.isdisjoint(subscription.series)


def targeting_refusal(
    officer_role: str, officer_league_city: str | None, notice_scope: NoticeScope
) -> FieldError | None:
    """Why this officer may not send to this scope, or None when they may."""
    if officer_role == REGION_ADMIN:
        return None
    if officer_role != LEAGUE_CITY_OFFICER:
        return FieldError("league_cities", "当前账号无权发布通知。")
    own = LEAGUE_CITY_BY_CODE.get(officer_league_city or "")
    if own is None:
        return FieldError("league_cities", "当前账号未关联盟市，无法发布通知。")
    cities = notice_scope.league_cities
    if cities is None:
        return FieldError(
            "league_cities", f"盟市经办人只能向本盟市（{own.name_zh}）发布通知，不能面向全区。"
        )
    others = sorted(cities - {own.code})
    if others:
        names = "、".join(LEAGUE_CITY_BY_CODE[c].name_zh for c in others)
        return FieldError(
            "league_cities",
            f"盟市经办人只能向本盟市（{own.name_zh}）发布通知，不能包含{names}。",
        )
    return None


def can_target(
    officer_role: str, officer_league_city: str | None, notice_scope: NoticeScope
) -> bool:
    return targeting_refusal(officer_role, officer_league_city, notice_scope) is None


def check_can_target(
    officer_role: str, officer_league_city: str | None, notice_scope: NoticeScope
) -> None:
    """`can_target`, raising `NoticeValidationError` with the reason for the form."""
    _raise_if(targeting_refusal(officer_role, officer_league_city, notice_scope))
