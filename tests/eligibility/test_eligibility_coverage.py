"""Every rule of the policy file and every clause of the contract is exercised by a case.

"Exercised" means a case file asserts the outcome (a path open, a block, a requirement
value, a note) and that case passes; the clause is the one the engine gave for it.
The contract's vocabulary is also checked against the policy data, and against the spec
file itself: ../shared sits beside the checkout (CI lays it there), and a missing spec
fails the test with the path it looked for rather than skipping it into green.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from eligibility_cases import load_cases

import eligibility
from eligibility.expressions import _Parser
from eligibility.registry import PACKAGE_POLICY_DIR, default_registry

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "eligibility.md"

# The contract (../shared/spec/eligibility.md), restated so the test runs without ../shared.
CONTRACT_BLOCKS = {"civil_servant": "一(十)7", "retired": "一(十)7", "blacklisted": "二(一)5"}
CONTRACT_PATHS = {
    "regular_review": ["一(二)1"],
    "exam_qualification": ["一(三)2"],
    "breakthrough_senior": ["一(五)1"],
    "breakthrough_next_level": ["一(五)2"],
    "green_channel": ["一(五)3", "一(八)8"],
    "direct_senior_review": ["一(五)3"],
    "civil_service_transfer": ["一(五)4"],
    "covid_early_application": ["一(七)3"],
    "covid_direct_next_level": ["一(七)3"],
    "grassroots_long_service": ["一(八)2"],
    "township_direct_intermediate": ["一(八)3"],
    "nonpublic_direct_intermediate": ["一(九)2"],
    "nonpublic_direct_deputy_senior": ["一(九)2"],
    "skills_bridge": ["一(十)1"],
    "series_transfer_same_level": ["一(十)2"],
    "series_transfer_next_level": ["一(十)2"],
    "assessment_recognition": ["一(十)3", "一(八)3"],
}
CONTRACT_REQUIREMENTS = {
    "paper": (["representative_work", "not_restrictive", "not_required"],
              ["一(二)2", "一(七)2", "一(八)1", "一(九)3"]),
    "exam": (["exam_replaces_review", "exam_and_review", "exam_not_required", "none"],
             ["一(三)1", "一(三)2", "一(五)1", "一(五)2"]),
    "continuing_education": (["public_subjects_only", "exempt"],
                             ["一(十)6", "一(七)2", "一(八)1", "一(九)4"]),
    "foreign_language_computer": (["not_required"], ["一(二)3"]),
    "practical_skills_exam": (["exempt", "as_series_requires"], ["一(七)3"]),
}
CONTRACT_NOTES = {
    "separate_group": ["一(八)4"],
    "entrustment_letter": ["一(十)8"],
    "senior_teacher_separate_notice": ["一(十)9"],
    "nonpublic_channels": ["一(九)1"],
    "post_quota": ["一(六)2"],
    "not_limited_by_post_quota": ["一(六)2(3)", "一(七)1"],
    "online_application_pilot": ["一(三)4"],
    "talent_db_registration": ["二(一)1"],
    "seniority_cutoff": ["一(十)5"],
    "materials_checklist": ["附件"],
}


def _contract_clauses() -> set[str]:
    clauses = set(CONTRACT_BLOCKS.values())
    for group in (CONTRACT_PATHS, CONTRACT_NOTES):
        for cs in group.values():
            clauses.update(cs)
    for _, cs in CONTRACT_REQUIREMENTS.values():
        clauses.update(cs)
    return clauses


def _split(clause: str) -> list[str]:
    return clause.split(", ")


@pytest.fixture(scope="module")
def exercised():
    """What the passing cases assert, with the clauses the engine gave."""
    out = {"paths": set(), "blocks": set(), "requirements": set(), "notes": set(),
           "clauses": set()}
    for case in load_cases():
        e = case.expect
        d = eligibility.evaluate(case.answers, case.policy).to_dict()
        paths = {p["code"]: p for p in d["paths"]}
        for code in {**e.get("paths", {}), **e.get("paths_include", {})}:
            if code in paths:
                out["paths"].add((code, paths[code]["clause"]))
        for code in e.get("blocked_by", []):
            out["blocks"].add(code)
        for b in d["blocked_by"]:
            if b["code"] in e.get("blocked_by", []):
                out["clauses"].add(b["clause"])
        for key in e.get("requirements", {}):
            req = d["requirements"].get(key)
            if req:
                out["requirements"].add((key, req["value"], req["clause"]))
        wanted = {*e.get("notes", []), *e.get("notes_exact", []), *e.get("note_clauses", {})}
        for n in d["notes"]:
            if n["code"] in wanted:
                out["notes"].add((n["code"], n["clause"]))
    for group in ("paths", "requirements", "notes"):
        for item in out[group]:
            out["clauses"].update(_split(item[-1]))
    return out


def test_the_policy_speaks_the_contracts_vocabulary():
    pol = default_registry().get("nmg-2020")
    assert [p.code for p in pol.paths] == list(CONTRACT_PATHS)
    assert {b.code: b.clause for b in pol.blocks} == CONTRACT_BLOCKS
    for path in pol.paths:
        clauses = set(_split(path.clause)) | {c for _, cl in path.clause_when for c in _split(cl)}
        assert clauses == set(CONTRACT_PATHS[path.code]), path.code
    assert [r.key for r in pol.requirements] == list(CONTRACT_REQUIREMENTS)
    for req in pol.requirements:
        values, _ = CONTRACT_REQUIREMENTS[req.key]
        assert set(req.values) == set(values), req.key
        assert {r.value for r in req.rules} == set(values), f"{req.key}: a value no rule gives"
    notes = {}
    for n in pol.notes:
        notes.setdefault(n.code, set()).add(n.clause)
    for code, clauses in CONTRACT_NOTES.items():
        assert code in notes, f"contract note {code} is never given"
        assert set(clauses) <= notes[code], code


def test_the_restated_contract_matches_the_spec_file():
    assert SPEC.is_file(), (
        f"the eligibility contract {SPEC} is missing: ../shared must sit beside the checkout "
        "(CI puts it there); this test compares the contract restated here with that file")
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("### Path codes", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)
    assert {code: [c.strip() for c in clauses.split(",")] for code, clauses in rows} \
        == CONTRACT_PATHS
    section = text.split("### Blocks", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)
    assert {code: clause.strip() for code, clause in rows} == CONTRACT_BLOCKS
    section = text.split("### Requirement values", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|", section, re.M)
    spec_reqs = {key: (re.findall(r"`(\w+)`", values), [c.strip() for c in clauses.split(",")])
                 for key, values, clauses in rows}
    assert spec_reqs == CONTRACT_REQUIREMENTS
    section = text.split("### Note codes", 1)[1].split("Where the text", 1)[0]
    spec_notes: dict[str, list[str]] = {}
    for code, clauses in re.findall(r"`(\w+)`\s+([^·`]+)", section):
        spec_notes[code] = [c.strip() for c in clauses.strip().rstrip(".").split(",")]
    assert spec_notes == CONTRACT_NOTES


def test_every_path_is_exercised(exercised):
    pol = default_registry().get("nmg-2020")
    open_codes = {code for code, _ in exercised["paths"]}
    assert {p.code for p in pol.paths} <= open_codes
    for path in pol.paths:  # every specific clause a path can cite, too
        for _, clause in path.clause_when:
            assert (path.code, clause) in exercised["paths"], (path.code, clause)


def test_every_block_is_exercised(exercised):
    pol = default_registry().get("nmg-2020")
    assert {b.code for b in pol.blocks} <= exercised["blocks"]


def test_every_requirement_rule_is_exercised(exercised):
    pol = default_registry().get("nmg-2020")
    missing = [(req.key, r.value, r.clause) for req in pol.requirements for r in req.rules
               if (req.key, r.value, r.clause) not in exercised["requirements"]]
    assert not missing, f"requirement rules no case asserts: {missing}"


def test_every_note_rule_is_exercised(exercised):
    pol = default_registry().get("nmg-2020")
    missing = [(n.code, n.clause) for n in pol.notes
               if (n.code, n.clause) not in exercised["notes"]]
    assert not missing, f"note rules no case asserts: {missing}"


def test_every_contract_clause_is_exercised(exercised):
    missing = _contract_clauses() - exercised["clauses"]
    assert not missing, f"contract clauses no case exercises: {sorted(missing)}"


# -- thresholds ---------------------------------------------------------------------------

_SIDES = {  # op -> (value on the side where the comparison holds, value where it does not)
    ">=": lambda k: (k, k - 1), ">": lambda k: (k + 1, k),
    "<=": lambda k: (k, k + 1), "<": lambda k: (k - 1, k),
    "==": lambda k: (k, k + 1), "!=": lambda k: (k + 1, k),
}


def _rule_sources(node, out: list[str]) -> list[str]:
    """Every test string of the policy file: `test` and `when` values, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("test", "when") and isinstance(value, str):
                out.append(value)
            else:
                _rule_sources(value, out)
    elif isinstance(node, list):
        for item in node:
            _rule_sources(item, out)
    return out


def _comparisons(node, out: set) -> set:
    tag = node[0]
    if tag in ("and", "or"):
        for part in node[1]:
            _comparisons(part, out)
    elif tag == "not":
        _comparisons(node[1], out)
    elif tag == "cmp" and node[3] is not None and node[3][0] == "const" \
            and isinstance(node[3][1], int) and not isinstance(node[3][1], bool):
        out.add((node[1], node[2], node[3][1]))
    return out


def thresholds() -> set[tuple[str, str, int]]:
    """(field, op, k) of every comparison of a count or year answer with a number."""
    pol = default_registry().get("nmg-2020")
    raw = tomllib.loads((PACKAGE_POLICY_DIR / "nmg-2020.toml").read_text(encoding="utf-8"))
    kinds = pol.schema.kinds()
    found: set = set()
    for source in _rule_sources(raw, []):
        _comparisons(_Parser(source, pol.params).parse(), found)
    return {(f, op, k) for f, op, k in found
            if f in kinds and kinds[f].kind == "int" and op in _SIDES}


def test_every_threshold_has_a_case_on_each_side():
    """e.g. 29 and 30 years at county level: both values appear in some case."""
    fields = default_registry().get("nmg-2020").schema.fields
    seen: dict[str, set] = {}
    for case in load_cases():
        for field, value in case.answers.items():
            if isinstance(value, int) and not isinstance(value, bool):
                seen.setdefault(field, set()).add(value)
    found = thresholds()
    assert len(found) >= 15, found  # the file's years thresholds, not an empty parse
    missing = []
    for field, op, k in sorted(found):
        lowest = fields[field].minimum or 0
        for value in _SIDES[op](k):
            if value >= lowest and value not in seen.get(field, set()):
                missing.append(f"{field} {op} {k}: no case with {field} = {value}")
    assert not missing, "\n".join(missing)
