"""Complete answer sets for tests written in Python (the case files have their own)."""

from __future__ import annotations

from typing import Any

ORDINARY: dict[str, Any] = {
    # A league-city engineer with an intermediate title, nothing special.
    "employment": "in_service",
    "blacklisted_year": None,
    "unit_type": "public_institution",
    "workplace_level": "league_city",
    "series": "engineering",
    "current_level": "intermediate",
    "education": "bachelor",
    "full_time_graduate": True,
    "years_professional_work": 10,
    "years_since_graduation": 10,
    "years_at_county_or_below": 0,
    "years_at_township": 0,
    "honors": [],
    "region_industry_first_prizes": 0,
    "introduced_high_level_talent": False,
    "urgently_needed_talent": False,
    "major_contribution": False,
    "poverty_alleviation_key_contribution": False,
    "years_since_civil_service_transfer": None,
    "first_application": False,
    "covid_frontline": False,
    "covid_hubei_or_designated_hospital": False,
    "covid_provincial_commendation": False,
    "skill_qualification": None,
    "years_since_skill_qualification": 0,
    "technical_school_class": None,
    "years_in_new_post": None,
    "years_since_series_transfer": None,
}


def ordinary(**changes: Any) -> dict[str, Any]:
    """The ordinary applicant with some answers changed; a value of ... removes the answer."""
    answers = {**ORDINARY, **changes}
    return {k: v for k, v in answers.items() if v is not ...}
