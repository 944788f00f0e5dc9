"""Fixtures for the notices tests: the real data directories, and the case tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notices.schedule import Schedule
from notices.workdays import WorkdayCalendar

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def calendar() -> WorkdayCalendar:
    return WorkdayCalendar()


@pytest.fixture(scope="session")
def schedule() -> Schedule:
    return Schedule()


@pytest.fixture(scope="session")
def workday_cases() -> dict:
    return json.loads((DATA / "workday_cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def nmg2020_cases() -> dict:
    return json.loads((DATA / "nmg2020_deadline_cases.json").read_text(encoding="utf-8"))
