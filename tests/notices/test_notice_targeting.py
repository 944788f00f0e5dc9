"""Notice scope: league cities and series, matching subscribers, who may send where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from notices.errors import NoticeValidationError
from notices.league_cities import LEAGUE_CITIES
from notices.series import SERIES
from notices.targeting import (
    LEAGUE_CITY_OFFICER,
    REGION_ADMIN,
    NoticeScope,
    Subscription,
    can_target,
    check_can_target,
    matches,
    parse_scope,
)

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "eligibility.md"


def test_the_twelve_league_cities():
    assert sorted(c.name_zh for c in LEAGUE_CITIES) == sorted(
        "呼和浩特市 包头市 呼伦贝尔市 兴安盟 通辽市 赤峰市 锡林郭勒盟 乌兰察布市 "
        "鄂尔多斯市 巴彦淖尔市 乌海市 阿拉善盟".split()
    )
    assert len({c.code for c in LEAGUE_CITIES}) == 12
    assert len({c.division_code for c in LEAGUE_CITIES}) == 12


def test_series_codes_are_the_eligibility_specs():
    text = SPEC.read_text(encoding="utf-8")
    paragraph = text.split("Series codes:", 1)[1].split("\n\n", 1)[0]
    assert list(SERIES) == re.findall(r"`([a-z_]+)`", paragraph)


BAOTOU_HEALTH = Subscription(league_city="baotou", series=frozenset({"health"}))
REGION_LEVEL = Subscription(league_city=None, series=frozenset({"health"}))
NO_SERIES = Subscription(league_city="baotou")


@pytest.mark.parametrize(
    ("scope", "subscription", "expected"),
    [
        (NoticeScope(), BAOTOU_HEALTH, True),
        (NoticeScope(), Subscription(), True),
        (NoticeScope(league_cities={"baotou"}), BAOTOU_HEALTH, True),
        (NoticeScope(league_cities={"chifeng"}), BAOTOU_HEALTH, False),
        (NoticeScope(league_cities={"baotou"}), REGION_LEVEL, False),
        (NoticeScope(series={"health", "audit"}), BAOTOU_HEALTH, True),
        (NoticeScope(series={"engineering"}), BAOTOU_HEALTH, False),
        (NoticeScope(series={"health"}), NO_SERIES, False),
        (NoticeScope(league_cities={"baotou"}, series={"engineering"}), BAOTOU_HEALTH, False),
        (NoticeScope(league_cities={"baotou", "wuhai"}, series={"health"}), BAOTOU_HEALTH, True),
    ],
)
def test_matches(scope, subscription, expected):
    assert matches(scope, subscription) is expected


def test_parse_scope_all_and_lists():
    assert parse_scope({"league_cities": "all", "series": "all"}) == NoticeScope()
    assert parse_scope({"league_cities": ["baotou"], "series": ["health"]}) == NoticeScope(
        league_cities=frozenset({"baotou"}), series=frozenset({"health"})
    )


def fields_of(exc: pytest.ExceptionInfo) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_parse_scope_requires_both_fields():
    with pytest.raises(NoticeValidationError) as info:
        parse_scope({})
    assert set(fields_of(info)) == {"league_cities", "series"}
    assert "发布盟市" in fields_of(info)["league_cities"]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"league_cities": ["baotou", "shanghai"], "series": "all"}, "league_cities", "shanghai"),
        ({"league_cities": [], "series": "all"}, "league_cities", "不能为空"),
        ({"league_cities": "all", "series": ["medicine"]}, "series", "medicine"),
        ({"league_cities": "all", "series": []}, "series", "不能为空"),
        ({"league_cities": "baotou", "series": "all"}, "league_cities", "请选择发布盟市"),
    ],
)
def test_invalid_codes_are_refused_naming_the_field(raw, field, fragment):
    with pytest.raises(NoticeValidationError) as info:
        parse_scope(raw)
    assert fragment in fields_of(info)[field]


def test_invalid_subscription_is_refused_naming_the_field():
    with pytest.raises(NoticeValidationError) as info:
        Subscription(league_city="beijing", series=frozenset({"medicine"}))
    assert set(fields_of(info)) == {"league_city", "series"}


BAOTOU = NoticeScope(league_cities={"baotou"})


@pytest.mark.parametrize(
    ("role", "city", "scope", "expected"),
    [
        (REGION_ADMIN, None, NoticeScope(), True),
        (REGION_ADMIN, None, BAOTOU, True),
        (LEAGUE_CITY_OFFICER, "baotou", BAOTOU, True),
        (
            LEAGUE_CITY_OFFICER,
            "baotou",
            NoticeScope(league_cities={"baotou"}, series={"health"}),
            True,
        ),
        (LEAGUE_CITY_OFFICER, "baotou", NoticeScope(), False),
        (LEAGUE_CITY_OFFICER, "baotou", NoticeScope(series={"health"}), False),
        (LEAGUE_CITY_OFFICER, "chifeng", BAOTOU, False),
        (LEAGUE_CITY_OFFICER, "baotou", NoticeScope(league_cities={"baotou", "wuhai"}), False),
        (LEAGUE_CITY_OFFICER, None, BAOTOU, False),
        ("applicant", "baotou", BAOTOU, False),
    ],
)
def test_can_target(role, city, scope, expected):
    assert can_target(role, city, scope) is expected


def test_refusal_names_the_officers_league_city():
    with pytest.raises(NoticeValidationError) as info:
        check_can_target(LEAGUE_CITY_OFFICER, "baotou", NoticeScope())
    assert fields_of(info) == {
        "league_cities": "盟市经办人只能向本盟市（包头市）发布通知，不能面向全区。"
    }
    with pytest.raises(NoticeValidationError) as info:
        check_can_target(
            LEAGUE_CITY_OFFICER, "baotou", NoticeScope(league_cities={"baotou", "wuhai"})
        )
    assert "不能包含乌海市" in fields_of(info)["league_cities"]
    check_can_target(REGION_ADMIN, None, NoticeScope())
