"""Policies are data files: a new one is found and used without code changes; a bad one
fails at load with the file and rule named; an unknown id is an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from eligibility_profiles import ordinary

import eligibility
from eligibility import PolicyError, UnknownPolicyError
from eligibility.registry import PACKAGE_POLICY_DIR, POLICY_DIRS_ENV, PolicyRegistry

SOURCE = PACKAGE_POLICY_DIR / "nmg-2020.toml"
COUNTY_29 = ordinary(workplace_level="county", years_professional_work=29,
                     years_at_county_or_below=29)


@pytest.fixture
def policy_dir(tmp_path, monkeypatch):
    """An extra policy directory, registered the way a deployment would (environment)."""
    monkeypatch.setenv(POLICY_DIRS_ENV, str(tmp_path))
    eligibility.refresh_policies()
    yield tmp_path
    monkeypatch.delenv(POLICY_DIRS_ENV)
    eligibility.refresh_policies()


def _variant(directory: Path, new_id: str, *replacements: tuple[str, str]) -> Path:
    text = SOURCE.read_text(encoding="utf-8").replace('id = "nmg-2020"', f'id = "{new_id}"')
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = directory / f"{new_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_policy_is_nmg_2020():
    assert eligibility.DEFAULT_POLICY == "nmg-2020"
    assert "nmg-2020" in eligibility.available_policies()
    assert eligibility.evaluate({}).to_dict()["policy"] == "nmg-2020"


@pytest.mark.parametrize("bad", ["nmg-1999", "answers", "../nmg-2020", "", "NMG-2020"])
def test_an_unknown_policy_is_an_error(bad):
    with pytest.raises(UnknownPolicyError) as info:
        eligibility.evaluate({}, policy=bad)
    assert "nmg-2020" in info.value.available
    with pytest.raises(UnknownPolicyError):
        eligibility.questions(bad)
    with pytest.raises(UnknownPolicyError):
        eligibility.validate_answers({}, policy=bad)


def test_a_new_policy_file_changes_results_without_code_changes(policy_dir):
    # A year in which 25 years in a county are enough (一(八)2 with another figure).
    _variant(policy_dir, "nmg-2099",
             ("value = 30, reference = \"一(八)2\"", "value = 25, reference = \"一(八)2\""))
    assert "nmg-2099" in eligibility.available_policies()
    before = eligibility.evaluate(COUNTY_29, "nmg-2020")
    after = eligibility.evaluate(COUNTY_29, "nmg-2099")
    assert "grassroots_long_service" not in before.path_codes()
    assert after.path_codes()["grassroots_long_service"] == "deputy_senior"
    assert after.to_dict()["policy"] == "nmg-2099"
    assert "满25年" in eligibility.render_text(after)


def test_a_file_dropped_in_later_is_found_on_first_use(policy_dir):
    eligibility.evaluate({})  # the registry has scanned already
    _variant(policy_dir, "nmg-2098")
    assert eligibility.evaluate(ordinary(), "nmg-2098").eligible


def test_a_policy_can_extend_another(policy_dir):
    (policy_dir / "nmg-2020-draft.toml").write_text(
        '[policy]\nid = "nmg-2020-draft"\nextends = "nmg-2020"\n\n'
        "[parameters.long_service_county_years]\n"
        'values = [{ start = 2020-01-01, stop = 2020-12-31, value = 29, reference = "草案" }]\n',
        encoding="utf-8",
    )
    result = eligibility.evaluate(COUNTY_29, "nmg-2020-draft")
    assert "grassroots_long_service" in result.path_codes()
    assert result.policy.title == "2020 年全区职称改革工作安排意见"


def test_the_policy_year_and_cutoff_come_from_the_file(policy_dir):
    _variant(policy_dir, "nmg-2097",
             ("value = 2019-12-31", "value = 2020-12-31"),
             ("value = 2020, reference", "value = 2021, reference"))
    text = eligibility.render_text(eligibility.evaluate(ordinary(), "nmg-2097"))
    assert "2020年12月31日：学历、资历年限计算截止" in text
    # Blacklisted in 2016: under 5 years in 2020, 5 years in 2021.
    assert eligibility.evaluate(ordinary(blacklisted_year=2016), "nmg-2020").blocked_by
    assert not eligibility.evaluate(ordinary(blacklisted_year=2016), "nmg-2097").blocked_by
    help_text = {q["field"]: q["help"] for q in eligibility.questions("nmg-2097")}
    assert "2020年12月31日" in help_text["years_professional_work"]


def test_rules_are_compiled_once_per_policy():
    registry = PolicyRegistry([PACKAGE_POLICY_DIR])
    assert registry.get("nmg-2020") is registry.get("nmg-2020")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('test = "series == \'engineering\'"', 'test = "series == \'engineer\'"',
     "conditions.engineering_series"),
    ('test = "major_contribution"', 'test = "major_contributions"', "unknown name"),
    ('test = "first_application"', 'test = "first_application and"',
     "conditions.first_application"),
    ('test = "covid_frontline"', 'test = "@no_such_condition"', "unknown condition"),
    ('clause = "一(十)8"', 'clause = "article 8"', "is not like"),
    ('value = "not_required"\nclause = "一(二)3"', 'value = "optional"\nclause = "一(二)3"',
     "requirements.foreign_language_computer"),
    ("破格参加{target}评聘", "破格参加{targte}评聘", "unknown placeholder"),
    ('value = 5, reference = "二(一)5"', 'value = 5', "reference"),
    ('conditions = ["has_title", "new_post_year", "reviewed_level"]',
     'conditions = ["has_title", "reviewed_level"]', "never used: new_post_year"),
    ('id = "full_years_threshold_is_inclusive"', 'id = "higher_degree_satisfies"', "used twice"),
    ("as_of = 2020-01-01", "as_of = 2021-01-01", "values in force on 2021-01-01"),
])
def test_a_malformed_policy_fails_at_load_naming_the_rule(tmp_path, old, new, message):
    _variant(tmp_path, "nmg-2096", (old, new))
    registry = PolicyRegistry([tmp_path])
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.get("nmg-2096")


def test_a_policy_file_must_carry_its_own_id(tmp_path):
    shutil.copy(SOURCE, tmp_path / "nmg-2095.toml")
    with pytest.raises(PolicyError, match="id must be 'nmg-2095'"):
        PolicyRegistry([tmp_path]).get("nmg-2095")


def test_answers_file_is_found_next_to_the_policy_or_in_the_package(tmp_path):
    _variant(tmp_path, "nmg-2094")
    assert not (tmp_path / "answers.toml").exists()
    assert PolicyRegistry([tmp_path]).get("nmg-2094").schema.fields["series"]
