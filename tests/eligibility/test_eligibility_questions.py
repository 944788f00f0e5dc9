"""The question catalogue shared by the chat interview and the HTTP API."""

from __future__ import annotations

import eligibility
from eligibility.registry import default_registry

CONTRACT_FIELDS = {
    "employment", "blacklisted_year", "unit_type", "workplace_level", "series", "current_level",
    "target_level", "education", "full_time_graduate", "years_professional_work",
    "years_since_graduation", "years_at_county_or_below", "years_at_township", "honors",
    "region_industry_first_prizes", "introduced_high_level_talent", "urgently_needed_talent",
    "major_contribution", "poverty_alleviation_key_contribution",
    "years_since_civil_service_transfer", "first_application", "covid_frontline",
    "covid_hubei_or_designated_hospital", "covid_provincial_commendation", "skill_qualification",
    "years_since_skill_qualification", "technical_school_class", "years_in_new_post",
    "years_since_series_transfer",
}
SERIES = {
    "engineering", "health", "economics", "accounting", "audit", "statistics", "computer",
    "translation", "higher_education", "party_school", "social_science",
    "agri_forestry_research", "natural_science_research", "journalism", "publishing",
    "archives", "library", "cultural_heritage", "primary_secondary_teacher",
    "vocational_college_teacher", "secondary_vocational_teacher", "technical_school_teacher",
    "agriculture", "forestry", "water", "ulanmuqi", "other",
}


def test_one_question_per_contract_field():
    qs = eligibility.questions()
    assert {q["field"] for q in qs} == CONTRACT_FIELDS
    assert len(qs) == len(CONTRACT_FIELDS)


def test_question_shape():
    for q in eligibility.questions():
        assert q["type"] in {"enum", "bool", "int", "year", "multi"}
        assert q["question"].endswith("？") or q["question"].endswith("）"), q["field"]
        assert isinstance(q["help"], str) and isinstance(q["nullable"], bool)
        if q["type"] in ("enum", "multi"):
            assert all(set(c) == {"value", "label"} and c["label"] for c in q["choices"])
        if q["nullable"]:
            assert q["null_label"]
        if q["type"] in ("int", "year"):
            assert isinstance(q["min"], int) and isinstance(q["max"], int)


def test_choices_are_the_contract_enums():
    qs = {q["field"]: q for q in eligibility.questions()}
    values = {f: [c["value"] for c in q.get("choices", [])] for f, q in qs.items()}
    assert set(values["series"]) == SERIES
    assert values["current_level"] == ["none", "assistant", "intermediate", "deputy_senior",
                                       "senior"]
    assert values["target_level"] == values["current_level"][1:]
    assert values["education"] == ["below_secondary", "secondary_vocational", "junior_college",
                                   "bachelor", "master", "doctorate"]
    assert len(values["honors"]) == 11
    assert qs["years_professional_work"]["max"] == 60
    assert qs["blacklisted_year"]["max"] == 2020


def test_help_is_filled_from_the_policy():
    qs = {q["field"]: q for q in eligibility.questions()}
    assert qs["years_professional_work"]["help"] == "算到2019年12月31日，按满整年计。"


def test_the_catalogue_is_a_copy():
    qs = eligibility.questions()
    qs[0]["question"] = "changed"
    qs[0].setdefault("choices", []).clear()
    assert eligibility.questions()[0]["question"] != "changed"


def test_labels_are_used_in_texts():
    spec = default_registry().get("nmg-2020").schema.fields["series"]
    assert spec.label("ulanmuqi") == "乌兰牧骑（艺术）"
