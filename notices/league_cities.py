"""The 12 league cities (盟市) of Inner Mongolia, with stable codes.

Why stable slugs: codes are stored in subscriptions and notices and appear in URLs and
logs; a readable slug survives renaming a display name. The GB/T 2260 division code rides
along for exchanges with the region's talent database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeagueCity:
    code: str
    name_zh: str
    division_code: str


LEAGUE_CITIES: tuple[LeagueCity, ...] = (
    LeagueCity("hohhot", "呼和浩特市", "150100"),
    LeagueCity("baotou", "包头市", "150200"),
    LeagueCity("wuhai", "乌海市", "150300"),
    LeagueCity("chifeng", "赤峰市", "150400"),
    LeagueCity("tongliao", "通辽市", "150500"),
    LeagueCity("ordos", "鄂尔多斯市", "150600"),
    LeagueCity("hulunbuir", "呼伦贝尔市", "150700"),
    LeagueCity("bayannur", "巴彦淖尔市", "150800"),
    LeagueCity("ulanqab", "乌兰察布市", "150900"),
    LeagueCity("hinggan", "兴安盟", "152200"),
    LeagueCity("xilingol", "锡林郭勒盟", "152500"),
    LeagueCity("alxa", "阿拉善盟", "152900"),
)

LEAGUE_CITY_BY_CODE: dict[str, LeagueCity] = {c.code: c for c in LEAGUE_CITIES}
