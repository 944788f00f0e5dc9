"""Runs every case file in tests/cases/eligibility/ (written from the policy text)."""

from __future__ import annotations

import pytest
from eligibility_cases import check_case, load_cases

CASES = load_cases()


def test_there_are_enough_cases():
    assert len(CASES) >= 80
    ids = [c.name for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique within a file"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case):
    check_case(case)
