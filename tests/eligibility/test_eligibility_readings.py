"""Where the policy text is open, the reading chosen is written next to the rule in the
policy file (`reading = {id, text}`); each has a test here named test_reading_<id>."""

from __future__ import annotations

import sys

from eligibility_profiles import ordinary

import eligibility
from eligibility.registry import default_registry


def paths(**answers) -> dict:
    return eligibility.evaluate(ordinary(**answers)).path_codes()


def requirements(**answers) -> dict:
    return {k: v["value"] for k, v in
            eligibility.evaluate(ordinary(**answers)).to_dict()["requirements"].items()}


def notes(**answers) -> set:
    return {n["code"] for n in eligibility.evaluate(ordinary(**answers)).to_dict()["notes"]}


def test_every_reading_in_the_policy_has_its_test():
    readings = set(default_registry().get("nmg-2020").readings)
    tests = {name.removeprefix("test_reading_") for name in dir(sys.modules[__name__])
             if name.startswith("test_reading_")}
    assert readings == tests


def test_readings_give_a_reason():
    for rid, reading in default_registry().get("nmg-2020").readings.items():
        assert len(reading["text"]) > 30, rid


# -- thresholds -----------------------------------------------------------------------------

def test_reading_full_years_threshold_is_inclusive():
    county = {"workplace_level": "county", "years_professional_work": 40}
    assert "grassroots_long_service" in paths(**county, years_at_county_or_below=30)
    assert "grassroots_long_service" not in paths(**county, years_at_county_or_below=29)
    # cumulative: no longer at county level, the 30 years still count
    assert "grassroots_long_service" in paths(years_professional_work=40,
                                              years_at_county_or_below=30)


def test_reading_within_five_years_is_under_five():
    base = {"current_level": "none", "target_level": "intermediate",
            "full_time_graduate": False, "first_application": True}
    assert "civil_service_transfer" in paths(**base, years_since_civil_service_transfer=4)
    assert "civil_service_transfer" not in paths(**base, years_since_civil_service_transfer=5)


def test_reading_blacklist_counts_calendar_years():
    assert eligibility.evaluate(ordinary(blacklisted_year=2016)).blocked_by
    assert not eligibility.evaluate(ordinary(blacklisted_year=2015)).blocked_by


def test_reading_county_qualifier_only_for_sci_award():
    assert "breakthrough_next_level" not in paths(honors=["region_sci_award_second_third"])
    assert "breakthrough_next_level" in paths(honors=["region_sci_award_second_third"],
                                              workplace_level="county")
    # two industry first prizes ("两项以上" includes two) count wherever one works
    assert "breakthrough_next_level" in paths(region_industry_first_prizes=2,
                                              workplace_level="region")
    assert "breakthrough_next_level" not in paths(region_industry_first_prizes=1,
                                                  workplace_level="county")


# -- degrees, skills ------------------------------------------------------------------------

def test_reading_higher_degree_satisfies():
    nonpublic = {"unit_type": "non_public", "current_level": "none", "full_time_graduate": False,
                 "years_professional_work": 12}
    for degree in ("bachelor", "master", "doctorate"):
        assert "nonpublic_direct_deputy_senior" in paths(**nonpublic, education=degree)
    assert "nonpublic_direct_deputy_senior" not in paths(**nonpublic, education="junior_college")
    # a bachelor also satisfies "大学专科毕业" (8 years with junior college)
    assert "nonpublic_direct_intermediate" in paths(**nonpublic, education="bachelor")


def test_reading_technical_school_counts_for_review_only():
    base = {"current_level": "none", "education": "secondary_vocational",
            "technical_school_class": "preparatory_technician", "years_professional_work": 5,
            "years_since_graduation": 5}
    assert "nonpublic_direct_intermediate" in paths(**base, unit_type="non_public")
    assert "assessment_recognition" not in paths(**base)
    assert "assessment_recognition" in paths(**{**base, "education": "bachelor"})


def test_reading_higher_skill_satisfies_lower_tier():
    base = {"current_level": "none", "education": "secondary_vocational",
            "full_time_graduate": False}
    assert paths(**base, skill_qualification="technician",
                 years_since_skill_qualification=2)["skills_bridge"] == "assistant"
    assert paths(**base, skill_qualification="senior_technician",
                 years_since_skill_qualification=3)["skills_bridge"] == "intermediate"
    assert "skills_bridge" not in paths(**base, skill_qualification="senior_worker",
                                        years_since_skill_qualification=1)


def test_reading_recognition_county_one_year_earlier():
    base = {"current_level": "none", "education": "junior_college", "years_since_graduation": 2,
            "years_professional_work": 2}
    assert "assessment_recognition" not in paths(**base)
    result = eligibility.evaluate(ordinary(**base, workplace_level="township"))
    path = next(p for p in result.to_dict()["paths"] if p["code"] == "assessment_recognition")
    assert (path["target_level"], path["clause"]) == ("assistant", "一(十)3, 一(八)3")
    # bachelor: 1 - 1 = 0 years; master: 2 - 1 = 1 year -> intermediate; a master with
    # one year elsewhere is still recognised as assistant, as a bachelor
    assert paths(current_level="none", years_since_graduation=0, years_professional_work=0,
                 workplace_level="county")["assessment_recognition"] == "assistant"
    assert paths(current_level="none", education="master", years_since_graduation=1,
                 workplace_level="county")["assessment_recognition"] == "intermediate"
    assert paths(current_level="none", education="master",
                 years_since_graduation=1)["assessment_recognition"] == "assistant"


def test_reading_recognition_excludes_exam_series():
    for series in ("health", "economics", "accounting", "audit", "statistics", "computer",
                   "translation"):
        assert "assessment_recognition" not in paths(series=series, current_level="none")
    assert "assessment_recognition" in paths(series="agriculture", current_level="none")


# -- levels and routes ----------------------------------------------------------------------

def test_reading_step_by_step_is_the_rule():
    assert "regular_review" not in paths(current_level="assistant", target_level="deputy_senior")
    assert "nonpublic_direct_deputy_senior" in paths(
        current_level="assistant", unit_type="non_public", years_professional_work=12)


def test_reading_exam_only_levels_have_no_review():
    assert paths(series="accounting", current_level="assistant", introduced_high_level_talent=True,
                 honors=["talent_321_second_tier"]) == {"exam_qualification": "intermediate"}
    # the early exam for front-line health staff stays open
    assert "covid_early_application" in paths(series="health", current_level="assistant",
                                              covid_frontline=True)


def test_reading_senior_means_deputy_and_full():
    assert requirements(series="audit")["exam"] == "exam_and_review"
    assert requirements(series="audit", current_level="deputy_senior")["exam"] == "exam_and_review"
    assert paths(series="audit", current_level="none") == {"exam_qualification": "assistant"}


def test_reading_regular_review_leaves_series_conditions_to_the_series():
    result = eligibility.evaluate(ordinary(education="below_secondary", years_professional_work=1))
    assert result.path_codes() == {"regular_review": "deputy_senior"}
    assert result.to_dict()["paths"][0]["conditions"] == ["series_review_conditions"]
    assert "符合本系列评审条件" in eligibility.render_text(result)


def test_reading_exam_route_not_step_by_step():
    assert paths(series="computer", current_level="none",
                 target_level="deputy_senior") == {"exam_qualification": "deputy_senior"}


def test_reading_only_5_1_waives_the_exam():
    senior = {"series": "health", "target_level": "senior"}
    assert requirements(**senior, honors=["state_council_allowance"])["exam"] == \
        "exam_not_required"
    assert requirements(**senior, honors=["talent_321_second_tier"])["exam"] == "exam_and_review"
    assert requirements(**senior, major_contribution=True)["exam"] == "exam_and_review"
    assert requirements(**senior, introduced_high_level_talent=True)["exam"] == "exam_and_review"


def test_reading_green_channel_assesses_the_requested_level():
    assert paths(introduced_high_level_talent=True, current_level="none",
                 target_level="senior", full_time_graduate=False) == {"green_channel": "senior"}


def test_reading_direct_senior_means_deputy_or_senior():
    assert paths(major_contribution=True, current_level="none",
                 full_time_graduate=False)["direct_senior_review"] == "deputy_senior"
    assert paths(major_contribution=True,
                 current_level="deputy_senior")["direct_senior_review"] == "senior"


def test_reading_civil_service_transfer_any_level():
    moved = {"current_level": "none", "full_time_graduate": False,
             "years_since_civil_service_transfer": 1, "first_application": True}
    assert paths(**moved, target_level="deputy_senior") == {"civil_service_transfer":
                                                            "deputy_senior"}


def test_reading_series_is_the_application_series():
    assert "series_transfer_same_level" in paths(years_in_new_post=1, series="agriculture")
    assert "series_transfer_same_level" not in paths(years_in_new_post=1, series="statistics",
                                                     current_level="assistant")


def test_reading_township_direct_needs_current_township_post():
    township = {"current_level": "none", "full_time_graduate": False, "years_professional_work": 3,
                "years_at_county_or_below": 3, "years_at_township": 3}
    assert "township_direct_intermediate" in paths(**township, workplace_level="township")
    assert "township_direct_intermediate" not in paths(**township, workplace_level="county")
    assert "township_direct_intermediate" not in paths(**township, workplace_level="township",
                                                       unit_type="non_public")


def test_reading_nonpublic_deputy_excludes_exam_review_series():
    nonpublic = {"unit_type": "non_public", "current_level": "assistant",
                 "years_professional_work": 12}
    assert "nonpublic_direct_deputy_senior" in paths(**nonpublic, series="agriculture")
    for series in ("health", "economics", "accounting", "audit", "statistics"):
        assert "nonpublic_direct_deputy_senior" not in paths(**nonpublic, series=series)


# -- covid ----------------------------------------------------------------------------------

def test_reading_covid_measures_are_for_health_series():
    assert paths(series="agriculture", covid_frontline=True) == {"regular_review": "deputy_senior"}
    assert requirements(series="agriculture", covid_frontline=True)["continuing_education"] == \
        "public_subjects_only"


def test_reading_covid_direct_needs_hubei_group():
    front = {"series": "health", "covid_frontline": True, "covid_provincial_commendation": True}
    assert "covid_direct_next_level" not in paths(**front)
    assert "covid_direct_next_level" in paths(**front, covid_hubei_or_designated_hospital=True)


def test_reading_practical_skills_exempt_in_senior_reviews_only():
    hubei = {"series": "health", "covid_frontline": True,
             "covid_hubei_or_designated_hospital": True}
    assert requirements(**hubei)["practical_skills_exam"] == "exempt"
    assert requirements(**hubei, current_level="assistant")["practical_skills_exam"] == \
        "as_series_requires"


# -- papers, continuing education -----------------------------------------------------------

def test_reading_exam_route_needs_no_paper():
    assert requirements(series="accounting", current_level="assistant")["paper"] == "not_required"


def test_reading_county_paper_not_required():
    assert requirements(workplace_level="county")["paper"] == "not_required"
    assert requirements(workplace_level="league_city")["paper"] == "not_restrictive"


def test_reading_covid_paper_not_restrictive():
    # health deputy senior in a league city: representative work, unless on the front line
    assert requirements(series="health")["paper"] == "representative_work"
    assert requirements(series="health", covid_frontline=True)["paper"] == "not_restrictive"


def test_reading_paper_scope_is_the_listed_series():
    assert requirements(series="natural_science_research")["paper"] == "not_restrictive"
    assert requirements(series="library")["paper"] == "representative_work"
    assert requirements(current_level="deputy_senior")["paper"] == "representative_work"
    assert requirements()["paper"] == "not_restrictive"  # 高级工程师 is deputy senior
    assert requirements(series="library", current_level="assistant")["paper"] == "not_restrictive"


def test_reading_continuing_education_exemptions():
    assert requirements(workplace_level="township")["continuing_education"] == "exempt"
    assert requirements(workplace_level="county")["continuing_education"] == \
        "public_subjects_only"
    assert requirements(unit_type="non_public")["continuing_education"] == "exempt"
    assert requirements(series="health", covid_frontline=True)["continuing_education"] == "exempt"
    assert requirements()["continuing_education"] == "public_subjects_only"


# -- notes ----------------------------------------------------------------------------------

def test_reading_procedural_notes_follow_the_route():
    exam = notes(series="accounting", current_level="assistant", unit_type="outside_unit")
    assert not exam & {"entrustment_letter", "materials_checklist", "talent_db_registration"}
    only_recognition = notes(current_level="none", target_level="intermediate",
                             education="doctorate", years_since_graduation=0)
    assert {"talent_db_registration", "seniority_cutoff"} <= only_recognition
    assert "materials_checklist" not in only_recognition


def test_reading_post_quota_is_for_public_institutions():
    assert "post_quota" in notes()
    assert "post_quota" not in notes(unit_type="state_enterprise")
    assert "post_quota" not in notes(current_level="assistant")
    assert "not_limited_by_post_quota" in notes(honors=["talent_321_second_tier"])


def test_reading_online_pilot_levels():
    assert "online_application_pilot" in notes(series="statistics")
    assert "online_application_pilot" not in notes(series="statistics",
                                                   current_level="deputy_senior")
    assert "online_application_pilot" in notes(series="economics", current_level="deputy_senior")
    assert "online_application_pilot" not in notes(series="economics")
