"""The result page /r/{id} over HTTP, and the chat's summary of a result (one message)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eligibility
from bot.app import create_app
from handlers.interview_result import MAX_BYTES, nbytes, policy_summary, summary
from handlers.result_page import build_view, save_page
from models import EligibilityResultPage
from tests.interview.chat import load_cases

CASES = {c["id"]: c["answers"] for c in load_cases()}


async def page(client, answers: dict) -> tuple[str, str]:
    page_id, _ = await save_page(eligibility.evaluate(answers), answers, source="api")
    resp = await client.get(f"/r/{page_id}")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    return page_id, await resp.text()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_page_shows_the_whole_result(service):
    answers = {**CASES["county-covid-doctor"], "honors": ["talent_321_second_tier"]}
    result = eligibility.evaluate(answers).to_dict()
    page_id, html = await page(service, answers)
    text = text_of(html)
    assert "结论：可以申报。" in text
    for p in result["paths"]:  # every route with its level and clause
        assert p["clause"] in text and p["text"].split("：")[1] in text
    assert "申报副高级职称" in text
    for r in result["requirements"].values():
        assert r["clause"] in text
    assert "免除自治区专业实践技能考试" in text  # the Hubei exemption, 一(七)3
    for n in result["notes"]:
        assert n["text"] in text
    for m in result["materials"]:
        assert m["name"] in text
    for date in ("2019年12月31日", "2020年6月30日", "2020年10月30日", "2020年12月31日"):
        assert date in text
    assert "您的回答" in text and "卫生" in text and "旗县（市、区）" in text
    assert 'data-state="eligible"' in html


async def test_a_blocked_result_says_why(service):
    _, html = await page(service, {"employment": "in_service", "blacklisted_year": 2018})
    text = text_of(html)
    assert "结论：不能申报。" in text and "二(一)5" in text
    assert 'data-state="blocked"' in html
    assert "材料清单" not in text


async def test_no_route_gives_the_reasons(service):
    _, html = await page(service, CASES["senior-holder"])
    text = text_of(html)
    assert "没有找到可以申报的途径" in text and "主要原因" in text
    assert 'data-state="no"' in html


async def test_a_partial_result_lists_the_open_questions(service):
    _, html = await page(service, {"employment": "in_service"})
    assert 'data-state="pending"' in html and "您现在的职称是什么级别？" in text_of(html)


async def test_headers_keep_the_page_private(service):
    _, _ = await page(service, CASES["league-city-engineer"])
    page_id, _ = await save_page(eligibility.evaluate({}), {}, source="api")
    resp = await service.get(f"/r/{page_id}")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in resp.headers["X-Robots-Tag"]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_ids_are_unguessable_and_unknown_ids_are_404(service):
    a, _ = await save_page(eligibility.evaluate({}), {}, source="api")
    b, _ = await save_page(eligibility.evaluate({}), {}, source="api")
    assert a != b and len(a) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", a)
    for bad in (a[:-1] + ("A" if a[-1] != "A" else "B"), "x", "1", "%00", "a" * 100,
                "' or 1=1 --"):
        resp = await service.get(f"/r/{bad}")
        assert resp.status == 404, bad
        assert "没有找到这份自测结果" in await resp.text()
    assert (await service.get("/r/../etc/passwd")).status == 404


async def test_the_page_is_rate_limited_per_ip(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(result_page_rate_limit=2)))
    page_id, _ = await save_page(eligibility.evaluate({}), {}, source="api")
    assert [(await client.get(f"/r/{page_id}")).status for _ in range(2)] == [200, 200]
    resp = await client.get(f"/r/{page_id}")
    assert resp.status == 429 and "Retry-After" in resp.headers
    assert (await client.get("/r/unknown-id-also-counts")).status == 429


async def test_nothing_but_answers_and_result_is_stored(service):
    page_id, _ = await save_page(eligibility.evaluate({"employment": "retired"}),
                                 {"employment": "retired"}, source="chat")
    row = await EligibilityResultPage.get(id=page_id)
    stored = {k for k in row._meta.fields_map}
    assert stored == {"id", "policy", "answers", "result", "view", "source", "created_at"}


# --- the chat's summary --------------------------------------------------------------------
def _complete(draw_answers: dict) -> dict:
    a = dict(draw_answers)
    a["years_at_county_or_below"] = min(a["years_at_county_or_below"],
                                        a["years_professional_work"])
    a["years_at_township"] = min(a["years_at_township"], a["years_at_county_or_below"])
    return a


def _value(q):
    t = q["type"]
    values = [c["value"] for c in q.get("choices", [])]
    base = {"enum": lambda: st.sampled_from(values),
            "multi": lambda: st.lists(st.sampled_from(values), max_size=11, unique=True),
            "bool": st.booleans,
            "int": lambda: st.integers(q["min"], q["max"]),
            "year": lambda: st.integers(q["min"], q["max"])}[t]()
    return st.one_of(base, st.none()) if q["nullable"] else base


complete_answers = st.fixed_dictionaries(
    {q["field"]: _value(q) for q in eligibility.questions() if q["field"] != "target_level"}
).map(_complete)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=complete_answers)
def test_the_summary_always_fits_one_message(answers):
    result = eligibility.evaluate(answers)
    view = build_view(result, answers)
    url = "https://zc.example.gov.cn/r/" + "x" * 24
    text = summary(view, url)
    assert nbytes(text) <= MAX_BYTES
    assert text.splitlines()[1] == view["conclusion"]
    assert url in text
    routes = next((s for s in view["sections"] if s["key"] == "routes"), None)
    if routes:
        shown = sum(1 for it in routes["items"] if it["head"] in text)
        assert shown == len(routes["items"]) or f"另有 {len(routes['items']) - shown} 条" in text


def test_a_tight_limit_counts_what_was_left_out():
    answers = CASES["non-public-twelve-years"]
    view = build_view(eligibility.evaluate(answers), answers)
    text = summary(view, "https://x/r/abc", limit=400)
    assert nbytes(text) <= 400
    assert "另有" in text and "https://x/r/abc" in text


def test_policy_summary_fits_and_names_every_route():
    text = policy_summary("nmg-2020")
    assert nbytes(text) <= MAX_BYTES
    for title in ("常规评审", "以考代评", "破格申报正高级", "职称评审绿色通道", "转系列后晋升",
                  "中初级考核认定"):
        assert title in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_view_sections_come_from_render_text(case):
    answers = CASES[case]
    result = eligibility.evaluate(answers)
    view = build_view(result, answers)
    rendered = eligibility.render_text(result)
    for s in view["sections"]:
        for item in s["items"]:
            assert item["head"] in rendered
            for line in item["lines"]:
                assert line in rendered
