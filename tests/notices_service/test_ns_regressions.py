"""Regressions from the input audit: each was a 500 (or a missing limit or audit row), now a
4xx naming the field, a 404, a 429 or an audit row. Every test talks to the real app over
HTTP; on PostgreSQL (DATABASE_URL) the NUL and id cases are the ones that used to fail."""

from __future__ import annotations

import json
import re

import pytest

from models import AuditLog, Objection
from notices.drafts import parse_draft
from notices.errors import NoticeValidationError
from tests.notices_service.kit import publicity

GENERAL = {"kind": "general", "title": "关于开展职称评审工作的通知", "body": "各盟市：……",
           "department": "自治区人社厅", "league_cities": "all", "series": "all"}
HUGE_ID = "9" * 30


def fields(body: dict) -> list[str]:
    return [e["field"] for e in body["errors"]]


async def refused(resp) -> list[str]:
    text = await resp.text()
    assert resp.status == 422, text
    return fields(json.loads(text))


# --- 1. draft fields of the wrong JSON type --------------------------------------------------
@pytest.mark.parametrize("path", ["/notices", "/notices/preview"])
async def test_regression_notice_kind_as_a_list_was_a_500(svc, path):
    for kind in (["general"], {"general": 1}):
        resp = await svc.api("POST", path, json={**GENERAL, "kind": kind})
        assert await refused(resp) == ["kind"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ["标题"]), ("body", {"a": 1}), ("department", 5),
        ("review_result", ["yes"]), ("review_result", "maybe"),
        ("publicity_workdays", [5]), ("publicity_workdays", 5.5),
        ("publicity_workdays", "5.0"), ("publicity_start", ["2020-10-12"]),
        ("publicity_end", {"day": 1}), ("league_cities", {"baotou": 1}), ("series", 7),
    ],
)
async def test_regression_draft_fields_of_the_wrong_type_are_422_naming_the_field(
    svc, field, value
):
    resp = await svc.api("POST", "/notices/preview", json=publicity(**{field: value}))
    assert await refused(resp) == [field]


# --- 2. publicity_workdays infinite or huge --------------------------------------------------
async def test_regression_publicity_workdays_infinite_or_huge_was_a_500(svc):
    resp = await svc.api("POST", "/notices/preview", json=publicity(publicity_workdays=1e300))
    assert await refused(resp) == ["publicity_workdays"]
    # 1e400 is valid JSON for inf. Whichever layer refuses it (the shared JSON reader, which
    # names "body", or the draft, which names the field), it is a 422, never a 500.
    raw = json.dumps(publicity(publicity_workdays=12345)).replace("12345", "1e400")
    for path in ("/notices/preview", "/notices"):
        resp = await svc.api("POST", path, data=raw,
                             headers={"Content-Type": "application/json"})
        assert await refused(resp) in (["publicity_workdays"], ["body"])
    # and the draft itself never overflows, whatever a reader hands it
    for value in (float("inf"), float("-inf"), float("nan"), 10**400):
        with pytest.raises(NoticeValidationError) as exc:
            parse_draft(publicity(publicity_workdays=value))
        assert [e.field for e in exc.value.errors] == ["publicity_workdays"]


# --- 3. deadline events with a list for a code ----------------------------------------------
@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"code": ["review_start"]}, "code"), ({"code": {"a": 1}}, "code"),
        ({"series": ["health"]}, "series"), ({"series": {"a": 1}}, "series"),
        ({"policy": ["x"]}, "policy"), ({"date": 20200920}, "date"),
    ],
)
async def test_regression_deadline_event_code_or_series_as_a_list_was_a_500(svc, over, field):
    body = {"code": "review_start", "series": "health", "date": "2020-09-20", **over}
    resp = await svc.api("PUT", "/deadline-events", json=body)
    assert await refused(resp) == [field]


# --- 4. ids beyond the database integer ------------------------------------------------------
@pytest.mark.parametrize("raw_id", [HUGE_ID, "2147483648", "0", "-1", "+1", "%201", "1_0",
                                    "٣", "2147483647"])
async def test_regression_notice_id_beyond_the_database_integer_was_a_500(svc, raw_id):
    from tests.notices_service.test_ns_console import login

    resp = await svc.client.get(f"/n/{raw_id}")
    assert resp.status == 404, await resp.text()
    for path in (f"/notices/{raw_id}", f"/sends/{raw_id}", f"/objections/{raw_id}"):
        resp = await svc.api("GET", path)
        assert resp.status == 404, (path, await resp.text())
    resp = await svc.api("POST", f"/notices/{raw_id}/send")
    assert resp.status == 404
    await login(svc)
    for path in (f"/console/notices/{raw_id}", f"/console/sends/{raw_id}",
                 f"/console/objections/{raw_id}"):
        resp = await svc.client.get(path, allow_redirects=False)
        assert resp.status == 404, (path, await resp.text())


# --- 5. NUL and other control characters in text ---------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "通知\u0000"), ("title", "通知\n第二行"), ("title", "通\t知"),
        ("department", "人社厅\u0001"), ("body", "正文\u0000"), ("body", "正文\u001b[31m"),
    ],
)
async def test_regression_nul_in_notice_text_was_a_500_on_postgres(svc, field, value):
    for path in ("/notices", "/notices/preview"):
        resp = await svc.api("POST", path, json={**GENERAL, field: value})
        assert await refused(resp) == [field]


async def test_regression_a_multi_line_body_keeps_its_line_breaks(svc):
    body = "各盟市：\r\n\t请按时申报。\n特此通知。"
    resp = await svc.api("POST", "/notices", json={**GENERAL, "body": body})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["notice"]["body"] == body


async def test_regression_nul_in_the_console_form_is_422_naming_the_field(svc):
    from tests.notices_service.test_ns_console import FORM, csrf, login

    await login(svc)
    token = csrf(await (await svc.client.get("/console/notices/new")).text())
    resp = await svc.client.post("/console/notices/new", data={
        **FORM, "title": "公示\u0000", "action": "create", "_csrf": token})
    html = await resp.text()
    assert resp.status == 422 and "标题不能包含换行、制表符等控制字符" in html


async def _objection(svc) -> Objection:
    from tests.notices_service.kit import chat

    resp = await svc.api("POST", "/notices", json=publicity(publicity_start="2020-10-12"))
    notice_id = (await resp.json())["notice"]["id"]
    svc.clock.set_local(2020, 10, 12, 9)
    talk = chat(svc)
    for text in (f"异议 {notice_id}", "王某", "资历不够", "无"):
        await talk.say("o_regress_nul", text)
    return await Objection.get(openid="o_regress_nul", notice_id=notice_id)


async def test_regression_nul_in_objection_handling_was_a_500_on_postgres(svc):
    objection = await _objection(svc)
    path = f"/objections/{objection.id}"
    for field, action, value in (
        ("assignee", "assign", "李干事\u0000"), ("assignee", "assign", "李\n干事"),
        ("assignee", "assign", ["李干事"]), ("resolution", "close", "经核实\u0000"),
        ("resolution", "close", {"text": "经核实"}),
    ):
        resp = await svc.api("POST", f"{path}/{action}", json={field: value})
        assert await refused(resp) == [field], (field, value)
    await objection.refresh_from_db()
    assert (objection.status, objection.assignee, objection.resolution) == ("open", None, None)
    resp = await svc.api("POST", f"{path}/close", json={"resolution": "经核实：\n符合条件。"})
    assert resp.status == 200, await resp.text()
    await svc.wait_sent((await resp.json())["objection"]["reply_send_id"])


# --- 6. console cookie tokens were never rate limited ----------------------------------------
async def test_regression_console_cookie_token_guessing_was_not_rate_limited(svc):
    statuses = []
    for i in range(25):
        resp = await svc.client.get("/console/notices", allow_redirects=False,
                                    cookies={"zc_admin": f"zca_guess{i}"})
        statuses.append(resp.status)
        if resp.status == 303:  # the stale cookie is dropped with the redirect
            assert re.search(r"zc_admin=\"?\"?;", resp.headers["Set-Cookie"])
    # the API's budget: 20 failures a minute per IP, then 429 with Retry-After
    assert statuses == [303] * 20 + [429] * 5
    assert "请求过于频繁" in await resp.text() and int(resp.headers["Retry-After"]) >= 1
    # one budget for the console and the API
    resp = await svc.client.get("/api/v1/admin/notices",
                                headers={"Authorization": "Bearer zca_guess_api"})
    assert resp.status == 429
    # not being logged in at all is not a guess
    resp = await svc.client.get("/console/notices", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/login"


async def test_regression_api_guesses_count_against_the_console_too(svc):
    for i in range(20):
        resp = await svc.client.get("/api/v1/admin/notices",
                                    headers={"Authorization": f"Bearer zca_guess{i}"})
        assert resp.status == 401
    resp = await svc.client.get("/console/notices", allow_redirects=False,
                                cookies={"zc_admin": "zca_guess_console"})
    assert resp.status == 429


# --- 7. refused certificate admin actions were not audited ----------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/admin/blacklist"), ("GET", "/api/v1/admin/blacklist"),
        ("POST", "/api/v1/admin/certificates/x/revocation"),
        ("POST", "/api/v1/admin/certificates/%00/revocation"),
    ],
)
async def test_regression_refused_certificate_admin_actions_were_not_audited(svc, method, path):
    await svc.token("league_city_officer", "baotou")
    last = await AuditLog.all().order_by("-id").first()
    resp = await svc.client.request(
        method, path, json={},
        headers=await svc.headers("league_city_officer", "baotou"))
    assert resp.status == 403, await resp.text()
    (row,) = await AuditLog.filter(action="refused", id__gt=last.id if last else 0)
    assert row.target == f"{method} {path}"
    assert (row.actor, row.role) == ("baotou经办人", "league_city_officer")
    assert row.token_id is not None and row.ip == "127.0.0.1"
    assert row.detail == {"status": 403, "error": "forbidden"}


async def test_regression_a_long_refused_path_is_audited_cut_to_the_column(svc):
    path = "/api/v1/admin/certificates/" + "x" * 300 + "/revocation"
    resp = await svc.client.post(path, json={},
                                 headers=await svc.headers("league_city_officer", "baotou"))
    assert resp.status == 403
    row = await AuditLog.filter(action="refused").order_by("-id").first()
    assert row.target == f"POST {path}"[:200]
