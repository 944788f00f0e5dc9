"""POST /api/v1/eligibility and GET /api/v1/eligibility/questions over real HTTP: the
contract (200 = Result.to_dict(), partial answers, 422 with field-named errors), bad
bodies, the rate limit, saving a page, and nothing stored for a rejected request."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eligibility
from bot.app import create_app
from eligibility.registry import POLICY_DIRS_ENV
from models import EligibilityResultPage
from tests.interview.chat import load_cases

URL = "/api/v1/eligibility"
QUESTIONS = "/api/v1/eligibility/questions"
CONTRACT_KEYS = {"policy", "eligible", "blocked_by", "paths", "requirements", "notes", "needs",
                 "trace", "materials"}
ENGINEER = next(c["answers"] for c in load_cases() if c["id"] == "league-city-engineer")


@pytest.fixture
async def api(aiohttp_client, make_settings):
    """The service with a limit no test reaches (the limit has its own test)."""
    return await aiohttp_client(create_app(make_settings(eligibility_api_rate_limit=10**6)))


async def post(client, body, **kw):
    resp = await client.post(URL, data=body if isinstance(body, bytes | str)
                             else json.dumps(body), **kw)
    return resp.status, await resp.json(), resp


# --- 200 -----------------------------------------------------------------------------------
async def test_complete_answers_give_the_contract_result(api):
    status, body, resp = await post(api, {"answers": ENGINEER})
    assert status == 200
    assert resp.content_type == "application/json"
    assert body == json.loads(json.dumps(eligibility.evaluate(ENGINEER).to_dict()))
    assert set(body) == CONTRACT_KEYS
    assert body["eligible"] is True and body["needs"] == []
    assert body["paths"][0]["code"] == "regular_review"
    assert body["paths"][0]["clause"] == "一(二)1"
    assert "Content-Location" not in resp.headers  # nothing saved unless asked


async def test_partial_answers_list_what_to_ask_next(api):
    status, body, _ = await post(api, {"answers": {}})
    assert status == 200
    assert body["eligible"] is False
    assert body["needs"][:2] == ["employment", "blacklisted_year"]
    status, body, _ = await post(api, {"answers": {"employment": "in_service",
                                                   "blacklisted_year": None},
                                       "policy": "nmg-2020"})
    assert status == 200 and body["needs"][0] == "current_level"


async def test_a_block_is_a_decision(api):
    status, body, _ = await post(api, {"answers": {"employment": "retired"}})
    assert status == 200
    assert body["eligible"] is False and body["needs"] == []
    assert body["blocked_by"][0]["code"] == "retired"
    assert body["blocked_by"][0]["clause"] == "一(十)7"


# --- 422 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("answers, field", [
    ({"favourite_colour": "blue"}, "favourite_colour"),  # unknown field
    ({"years_professional_work": "5"}, "years_professional_work"),  # wrong type
    ({"years_professional_work": 5.0}, "years_professional_work"),
    ({"years_professional_work": True}, "years_professional_work"),
    ({"full_time_graduate": 1}, "full_time_graduate"),
    ({"honors": "state_council_allowance"}, "honors"),
    ({"employment": "astronaut"}, "employment"),  # outside the enum
    ({"series": "Engineering"}, "series"),
    ({"honors": ["nobel_prize"]}, "honors"),
    ({"years_professional_work": -1}, "years_professional_work"),  # negative
    ({"years_at_township": 61}, "years_at_township"),  # absurd
    ({"years_since_graduation": 400}, "years_since_graduation"),
    ({"years_since_graduation": 10**30}, "years_since_graduation"),  # beyond 64 bits
    ({"blacklisted_year": 2031}, "blacklisted_year"),
    ({"employment": None}, "employment"),  # not nullable
    ({"years_at_county_or_below": 5, "years_at_township": 9}, "years_at_township"),
])
async def test_bad_answers_are_422_naming_the_field(api, answers, field):
    status, body, _ = await post(api, {"answers": answers})
    assert status == 422
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"]


@pytest.mark.parametrize("body, fields", [
    ({"answers": {}, "extra": 1}, ["extra"]),
    ({}, ["answers"]),
    ({"answers": []}, ["answers"]),
    ({"answers": "employment"}, ["answers"]),
    ({"answers": {}, "policy": "nmg-1999"}, ["policy"]),
    ({"answers": {}, "policy": 2020}, ["policy"]),
    ({"answers": {}, "save": "yes"}, ["save"]),
    ([{"answers": {}}], ["body"]),
    ("null", ["body"]),
    ({"answers": {"employment": "x", "years_professional_work": -2}, "x": 0},
     ["x", "employment", "years_professional_work"]),
])
async def test_bad_bodies_are_422_naming_every_field(api, body, fields):
    status, data, _ = await post(api, body)
    assert status == 422
    assert sorted(e["field"] for e in data["errors"]) == sorted(fields)
    assert all(isinstance(e["message"], str) and e["message"] for e in data["errors"])


@pytest.mark.parametrize("raw", [
    b"", b"{", b"answers=1", b"\xff\xfe{}", b"[" * 100000,
    b'{"answers": {"years_professional_work": NaN}}',  # NaN and Infinity are not JSON
    b'{"answers": {"\\ud800": 1}}',  # half a surrogate pair: it was a 500 (no UTF-8 for it)
    b'{"\\udc00": 1, "answers": {}}',
])
async def test_a_body_that_is_not_json_is_400(api, raw):
    resp = await api.post(URL, data=raw)
    assert resp.status in (400, 413)
    body = await resp.json()
    assert body["errors"][0]["field"] == "body"
    if len(raw) < 1000:
        assert resp.status == 400


async def test_a_body_sent_in_pieces_is_read_whole(api):
    raw = json.dumps({"answers": ENGINEER}).encode()

    async def pieces():
        for i in range(0, len(raw), 100):
            yield raw[i:i + 100]
            await asyncio.sleep(0.002)

    resp = await api.post(URL, data=pieces())  # chunked, several TCP segments
    assert resp.status == 200
    assert (await resp.json())["eligible"] is True


async def test_a_chunked_body_over_the_cap_is_413(api):
    async def pieces():
        yield b'{"answers": {}, "pad": "'
        for _ in range(40):
            yield b"x" * 1000
            await asyncio.sleep(0)
        yield b'"}'

    resp = await api.post(URL, data=pieces())
    assert resp.status == 413


async def test_a_huge_body_is_refused_before_it_is_read(api):
    big = json.dumps({"answers": {}, "pad": "x" * 20000})
    resp = await api.post(URL, data=big)
    assert resp.status == 413
    assert (await resp.json())["errors"][0]["field"] == "body"


# --- saving, and nothing stored for a rejected request ----------------------------------------
async def test_save_stores_a_page_and_returns_its_address(api):
    before = await EligibilityResultPage.all().count()
    status, body, resp = await post(api, {"answers": ENGINEER, "save": True})
    assert status == 200 and set(body) == CONTRACT_KEYS  # the body is still the contract
    location = resp.headers["Content-Location"]
    assert location.startswith("http://testserver.local/r/")
    assert await EligibilityResultPage.all().count() == before + 1
    page_id = location.rsplit("/", 1)[1]
    row = await EligibilityResultPage.get(id=page_id)
    assert row.source == "api" and row.answers == ENGINEER and row.result == body
    page = await api.get(f"/r/{page_id}")
    assert page.status == 200 and "常规评审" in await page.text()


@pytest.mark.parametrize("body", [
    {"answers": {**ENGINEER, "years_professional_work": 99}, "save": True},
    {"answers": {**ENGINEER, "unknown": 1}, "save": True},
    {"answers": ENGINEER, "save": True, "policy": "nmg-1999"},
    {"answers": ENGINEER, "save": True, "x": 1},
])
async def test_nothing_is_stored_for_a_rejected_request(api, body):
    before = await EligibilityResultPage.all().count()
    status, _, resp = await post(api, body)
    assert status == 422 and "Content-Location" not in resp.headers
    assert await EligibilityResultPage.all().count() == before


# --- questions -------------------------------------------------------------------------------
async def test_the_question_catalogue(api):
    resp = await api.get(QUESTIONS)
    assert resp.status == 200
    body = await resp.json()
    assert body["policy"] == "nmg-2020"
    assert body["questions"] == eligibility.questions()
    series = next(q for q in body["questions"] if q["field"] == "series")
    assert series["question"] == "您的专业属于哪个职称系列？"
    assert {"value": "engineering", "label": "工程技术"} in series["choices"]
    assert all("help" in q and "type" in q for q in body["questions"])
    resp = await api.get(QUESTIONS, params={"policy": "nmg-1999"})
    assert resp.status == 404
    assert (await resp.json())["errors"][0]["field"] == "policy"


# --- another policy year -------------------------------------------------------------------------
async def test_policy_selects_a_later_years_data_file(api, tmp_path, monkeypatch):
    """A later year is a data file dropped beside the others, no code change: the body's
    "policy" picks it, for the evaluation and for the catalogue."""
    monkeypatch.setenv(POLICY_DIRS_ENV, str(tmp_path))
    eligibility.refresh_policies()
    try:
        (tmp_path / "nmg-2099.toml").write_text(
            '[policy]\nid = "nmg-2099"\nextends = "nmg-2020"\n\n'
            "[parameters.long_service_county_years]\n"
            'values = [{ start = 2020-01-01, stop = 2020-12-31, value = 25, '
            'reference = "2099 年安排意见" }]\n', encoding="utf-8")
        county_29 = {**ENGINEER, "workplace_level": "county", "years_professional_work": 29,
                     "years_at_county_or_below": 29}
        status, now, _ = await post(api, {"answers": county_29})
        assert status == 200 and now["policy"] == "nmg-2020"
        assert "grassroots_long_service" not in {p["code"] for p in now["paths"]}
        status, later, _ = await post(api, {"answers": county_29, "policy": "nmg-2099"})
        assert status == 200 and later["policy"] == "nmg-2099"
        assert "grassroots_long_service" in {p["code"] for p in later["paths"]}
        resp = await api.get(QUESTIONS, params={"policy": "nmg-2099"})
        assert resp.status == 200 and (await resp.json())["policy"] == "nmg-2099"
    finally:
        monkeypatch.delenv(POLICY_DIRS_ENV)
        eligibility.refresh_policies()


# --- strangers ---------------------------------------------------------------------------------
async def test_the_api_is_rate_limited_per_ip(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(eligibility_api_rate_limit=3)))
    statuses = [(await client.post(URL, json={"answers": {}})).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    resp = await client.post(URL, json={"answers": {}})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await client.get(QUESTIONS)).status == 429  # one budget for both endpoints


# --- property: random answers never give a 500 ----------------------------------------------
def _valid_value(q):
    t = q["type"]
    values = [c["value"] for c in q.get("choices", [])]
    base = {
        "enum": st.sampled_from(values) if values else st.none(),
        "multi": st.lists(st.sampled_from(values), max_size=4, unique=True) if values
        else st.none(),
        "bool": st.booleans(),
        "int": st.integers(q.get("min") or 0, q.get("max") or 60),
        "year": st.integers(q.get("min") or 0, q.get("max") or 0),
    }[t]
    return st.one_of(base, st.none()) if q["nullable"] else base


QUESTION_LIST = eligibility.questions()
valid_answers = st.fixed_dictionaries({}, optional={q["field"]: _valid_value(q)
                                                    for q in QUESTION_LIST})
junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                 st.text(max_size=12), st.lists(st.text(max_size=8), max_size=3))
junk_answers = st.dictionaries(
    st.one_of(st.sampled_from([q["field"] for q in QUESTION_LIST]), st.text(max_size=10)),
    junk, max_size=8)


def _consistent(answers: dict) -> dict:
    """Counts bounded by the counts they are part of, as a real applicant's would be."""
    a = dict(answers)
    for low, high in (("years_at_county_or_below", "years_professional_work"),
                      ("years_at_township", "years_at_county_or_below")):
        if a.get(low) is not None and a.get(high) is not None:
            a[low] = min(a[low], a[high])
    return a


def _check_result(answers: dict, body: dict) -> None:
    assert set(body) == CONTRACT_KEYS
    if body["needs"]:  # undecided: the questions are real and unanswered
        assert not set(body["needs"]) & set(answers)
        assert body["eligible"] is False or not body["blocked_by"]
    else:  # a decision
        assert body["eligible"] is (not body["blocked_by"] and bool(body["paths"]))
    for path in body["paths"]:
        assert path["clause"] and path["code"]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=valid_answers.map(_consistent))
async def test_valid_random_answers_give_a_decision_or_questions(api, answers):
    status, body, _ = await post(api, {"answers": answers})
    assert status == 200, body
    _check_result(answers, body)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=junk_answers)
async def test_random_junk_is_never_a_500(api, answers):
    resp = await api.post(URL, data=json.dumps({"answers": answers}, allow_nan=True))
    body = await resp.json()
    try:
        json.dumps(answers, allow_nan=False)
    except ValueError:  # NaN or Infinity in the text: not JSON, so the body is refused
        assert resp.status == 400 and body["errors"][0]["field"] == "body", body
        return
    assert resp.status in (200, 422), body
    if resp.status == 200:
        _check_result(answers, body)
    else:
        assert body["errors"]
        assert all(isinstance(e["field"], str) and e["message"] for e in body["errors"])
