"""Reading the eligibility case files (tests/cases/eligibility/*.toml) and checking them.

A case file holds cases a policy expert can read: a title, the answers, and what the
policy text says should come out. Format:

    title = "..."                      # what the file is about
    [defaults]                         # answers shared by the file's cases
    employment = "in_service"
    blacklisted_year = "null"          # TOML has no null: the string "null" means null

    [[cases]]
    id = "county-30-years"
    title = "旗县满30年 / 30 years at county level"
    clauses = ["一(八)2"]              # the clauses the case is about
    answers = { years_at_county_or_below = 30 }   # merged over [defaults]
    unset = ["honors"]                 # leave these unanswered (partial answers)
    use_defaults = true                # false: only `answers`
    policy = "nmg-2020"                # optional

    [cases.expect]                     # every key is optional
    eligible = true
    blocked_by = ["retired"]           # exactly these blocks
    paths = { regular_review = "deputy_senior" }   # exactly these open paths and levels
    paths_include = { ... }            # at least these
    paths_exclude = ["green_channel"]
    path_clauses = { green_channel = "一(八)8" }
    requirements = { paper = "not_required", exam = { value = "none", clause = "一(三)1" } }
    notes = ["separate_group"]         # at least these
    notes_exact = []                   # exactly these, in any order
    notes_exclude = ["post_quota"]
    note_clauses = { submission_route = "二(二)2" }
    needs = ["first_application"]      # exactly, in this order
    needs_start = ["employment"]       # these first, in this order
    needs_include = [...] / needs_exclude = [...]
    materials = true                   # the annex checklist is (not) given
    text_contains = ["..."]            # phrases of render_text(result)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eligibility

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "eligibility"
NULL = "null"

EXPECT_KEYS = {
    "eligible", "blocked_by", "paths", "paths_include", "paths_exclude", "path_clauses",
    "requirements", "notes", "notes_exact", "notes_exclude", "note_clauses", "needs",
    "needs_start", "needs_include", "needs_exclude", "materials", "text_contains",
}


@dataclass(frozen=True)
class Case:
    file: str
    id: str
    title: str
    clauses: tuple[str, ...]
    answers: dict[str, Any]
    expect: dict[str, Any]
    policy: str = eligibility.DEFAULT_POLICY
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return f"{self.file}::{self.id}"


def _nulls(answers: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v == NULL else v) for k, v in answers.items()}


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            data = tomllib.load(f)
        defaults = data.get("defaults", {})
        for raw in data.get("cases", []):
            answers = dict(defaults) if raw.get("use_defaults", True) else {}
            answers.update(raw.get("answers", {}))
            for key in raw.get("unset", []):
                assert key in answers, f"{path.name}::{raw.get('id')}: unset {key} not in answers"
                del answers[key]
            expect = raw.get("expect", {})
            unknown = set(expect) - EXPECT_KEYS
            assert not unknown, f"{path.name}::{raw.get('id')}: unknown expect keys {unknown}"
            cases.append(Case(
                file=path.name,
                id=raw["id"],
                title=raw["title"],
                clauses=tuple(raw.get("clauses", [])),
                answers=_nulls(answers),
                expect=expect,
                policy=raw.get("policy", eligibility.DEFAULT_POLICY),
                raw=raw,
            ))
    return cases


def check_case(case: Case) -> eligibility.Result:
    """Evaluate the case and assert every expectation; returns the result."""
    result = eligibility.evaluate(case.answers, case.policy)
    d = result.to_dict()
    e = case.expect
    where = f"{case.name} ({case.title})"
    paths = {p["code"]: p["target_level"] for p in d["paths"]}
    notes = {n["code"]: n["clause"] for n in d["notes"]}

    if "eligible" in e:
        assert d["eligible"] is e["eligible"], f"{where}: eligible {d['eligible']}, paths {paths}"
    if "blocked_by" in e:
        assert [b["code"] for b in d["blocked_by"]] == e["blocked_by"], where
    if "paths" in e:
        assert paths == e["paths"], f"{where}: open paths {paths}"
    for code, level in e.get("paths_include", {}).items():
        assert paths.get(code, "-") == level, f"{where}: {code} in {paths}"
    for code in e.get("paths_exclude", []):
        assert code not in paths, f"{where}: {code} should be closed: {paths}"
    for code, clause in e.get("path_clauses", {}).items():
        got = next(p["clause"] for p in d["paths"] if p["code"] == code)
        assert got == clause, f"{where}: {code} clause {got}"
    for key, want in e.get("requirements", {}).items():
        got = d["requirements"].get(key)
        assert got is not None, f"{where}: no requirement {key}: {d['requirements']}"
        if isinstance(want, dict):
            assert got == want, f"{where}: {key} = {got}"
        else:
            assert got["value"] == want, f"{where}: {key} = {got}"
    for code in e.get("notes", []):
        assert code in notes, f"{where}: note {code} missing from {sorted(notes)}"
    if "notes_exact" in e:
        assert sorted(notes) == sorted(e["notes_exact"]), f"{where}: notes {sorted(notes)}"
    for code in e.get("notes_exclude", []):
        assert code not in notes, f"{where}: note {code} should not be given"
    for code, clause in e.get("note_clauses", {}).items():
        assert notes.get(code) == clause, f"{where}: note {code} clause {notes.get(code)}"
    if "needs" in e:
        assert d["needs"] == e["needs"], f"{where}: needs {d['needs']}"
    if "needs_start" in e:
        assert d["needs"][: len(e["needs_start"])] == e["needs_start"], \
            f"{where}: needs {d['needs']}"
    for f in e.get("needs_include", []):
        assert f in d["needs"], f"{where}: {f} not in needs {d['needs']}"
    for f in e.get("needs_exclude", []):
        assert f not in d["needs"], f"{where}: {f} should not be asked: {d['needs']}"
    if "materials" in e:
        assert bool(d["materials"]) is e["materials"], where
    if "text_contains" in e:
        text = eligibility.render_text(result)
        for phrase in e["text_contains"]:
            assert phrase in text, f"{where}: {phrase!r} not in\n{text}"
    return result
