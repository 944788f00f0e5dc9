"""Admin API: publicity windows in working days (2020 and 2026 from chinesecalendar, 2027
from config/holidays), the refused year, role checks, and the audit log."""

from __future__ import annotations

import pytest

from models import AuditLog, Notice
from tests.notices_service.kit import publicity


@pytest.mark.parametrize(
    ("start", "end", "what"),
    [
        ("2020-01-20", "2020-02-03", "2020 春节（含延长假期）"),
        ("2020-09-28", "2020-10-10", "2020 国庆中秋，10月10日周六调休上班"),
        ("2026-02-12", "2026-02-25", "2026 春节，2月14日周六上班"),
        ("2026-09-28", "2026-10-09", "2026 国庆"),
        ("2027-02-01", "2027-02-15", "2027 春节（数据文件）"),
        ("2027-09-29", "2027-10-11", "2027 国庆（数据文件），10月9日周六上班"),
    ],
)
async def test_preview_counts_five_working_days_across_the_holidays(svc, start, end, what):
    resp = await svc.api("POST", "/notices/preview", json=publicity(publicity_start=start))
    assert resp.status == 200, await resp.text()
    draft = (await resp.json())["draft"]
    assert (draft["publicity_start"], draft["publicity_end"]) == (start, end), what
    assert draft["publicity_workdays"] == 5
    assert draft["provisional_calendar"] is start.startswith("2027")


async def test_a_year_without_holiday_data_is_refused_naming_the_field(svc):
    resp = await svc.api("POST", "/notices", json=publicity(publicity_start="2028-03-06"))
    assert resp.status == 422
    errors = (await resp.json())["errors"]
    assert errors[0]["field"] == "publicity_start"
    assert "2028 年的法定节假日安排尚未录入" in errors[0]["message"]


async def test_a_window_running_into_the_unknown_year_is_refused_too(svc):
    resp = await svc.api("POST", "/notices", json=publicity(
        publicity_start="2027-12-28", publicity_end="2028-01-05"))
    assert resp.status == 422
    (error,) = (await resp.json())["errors"]
    assert error["field"] == "publicity_end" and "2028" in error["message"]


async def test_review_result_window_shorter_than_five_working_days_is_refused(svc):
    # 2020-09-28..10-09: Mon-Wed, then the National Day holiday: 3 working days.
    resp = await svc.api("POST", "/notices", json=publicity(
        publicity_start="2020-09-28", publicity_end="2020-10-09"))
    assert resp.status == 422
    (error,) = (await resp.json())["errors"]
    assert error["field"] == "publicity_end"
    assert "只有 4 个工作日" in error["message"] and "2020-10-10" in error["message"]
    resp = await svc.api("POST", "/notices", json=publicity(publicity_workdays=3))
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "publicity_workdays"


async def test_other_publicity_may_be_shorter(svc):
    resp = await svc.api("POST", "/notices", json=publicity(
        review_result=False, publicity_start="2020-06-01", publicity_end="2020-06-03"))
    assert resp.status == 201, await resp.text()
    notice = (await resp.json())["notice"]
    assert notice["publicity_workdays"] == 3 and notice["review_result"] is False


async def test_every_bad_field_is_reported_at_once(svc):
    resp = await svc.api("POST", "/notices", json={"kind": "memo", "league_cities": [],
                                                   "series": "all"})
    assert resp.status == 422
    fields = {e["field"] for e in (await resp.json())["errors"]}
    assert fields == {"kind", "title", "body", "department", "league_cities"}
    resp = await svc.api("POST", "/notices", json=publicity(series=None))
    assert [e["field"] for e in (await resp.json())["errors"]] == ["series"]


async def test_body_must_be_a_json_object(svc):
    resp = await svc.api("POST", "/notices", data=b"[1, 2]",
                         headers={"Content-Type": "application/json"})
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "body"


async def test_without_a_token_it_is_401(svc):
    resp = await svc.client.post("/api/v1/admin/notices", json=publicity())
    assert resp.status == 401
    resp = await svc.client.get("/api/v1/admin/notices",
                                headers={"Authorization": "Bearer zca_not-a-token"})
    assert resp.status == 401


async def test_officer_targeting_another_league_city_gets_403(svc):
    last = await AuditLog.all().order_by("-id").first()
    title = "包头市越权发布测试公示"
    resp = await svc.api("POST", "/notices", role="league_city_officer", league_city="baotou",
                         json=publicity(league_cities=["baotou", "chifeng"], title=title))
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "forbidden_league_city" and "赤峰市" in body["message"]
    resp = await svc.api("POST", "/notices/preview", role="league_city_officer",
                         league_city="baotou", json=publicity(league_cities="all"))
    assert resp.status == 403
    assert "不能面向全区" in (await resp.json())["message"]
    # Refusals are admin actions too: who tried what, when, from where.
    refused = await AuditLog.filter(action="refused", id__gt=last.id if last else 0
                                    ).order_by("id")
    assert [(r.target, r.detail["error"]) for r in refused] == [
        ("POST /api/v1/admin/notices", "forbidden_league_city"),
        ("POST /api/v1/admin/notices/preview", "forbidden_league_city"),
    ]
    assert {(r.actor, r.role, r.ip) for r in refused} == {
        ("baotou经办人", "league_city_officer", "127.0.0.1")}
    assert all(r.at is not None for r in refused)
    assert not await Notice.filter(title=title).exists()  # nothing written


async def test_officer_may_target_own_league_city_and_only_sees_its_notices(svc):
    mine = await svc.api("POST", "/notices", role="league_city_officer", league_city="baotou",
                         json=publicity(league_cities=["baotou"]))
    assert mine.status == 201
    mine_id = (await mine.json())["notice"]["id"]
    theirs = await svc.api("POST", "/notices", json=publicity(league_cities=["chifeng"]))
    theirs_id = (await theirs.json())["notice"]["id"]

    listed = await svc.api("GET", "/notices", role="league_city_officer", league_city="baotou")
    ids = {n["id"] for n in (await listed.json())["notices"]}
    assert mine_id in ids and theirs_id not in ids
    resp = await svc.api("GET", f"/notices/{theirs_id}", role="league_city_officer",
                         league_city="baotou")
    assert resp.status == 403
    resp = await svc.api("POST", f"/notices/{theirs_id}/send", role="league_city_officer",
                         league_city="baotou")
    assert resp.status == 403
    resp = await svc.api("GET", f"/notices/{mine_id}", role="league_city_officer",
                         league_city="baotou")
    assert resp.status == 200


async def test_region_admin_may_target_everything_and_a_notice_is_sent_once(svc):
    resp = await svc.api("POST", "/notices", json=publicity())
    notice_id = (await resp.json())["notice"]["id"]
    first = await svc.api("POST", f"/notices/{notice_id}/send")
    assert first.status == 201
    again = await svc.api("POST", f"/notices/{notice_id}/send")
    assert again.status == 409
    assert (await again.json())["send_id"] == (await first.json())["send"]["id"]


async def test_admin_actions_land_in_the_audit_log(svc):
    before = await AuditLog.all().count()
    resp = await svc.api("POST", "/notices", role="league_city_officer", league_city="ordos",
                         json=publicity(league_cities=["ordos"]))
    notice_id = (await resp.json())["notice"]["id"]
    await svc.api("POST", f"/notices/{notice_id}/send", role="league_city_officer",
                  league_city="ordos")
    rows = await AuditLog.filter(id__gt=0).order_by("-id").limit(
        await AuditLog.all().count() - before)
    actions = {r.action: r for r in rows}
    created, sent = actions["notice.create"], actions["notice.send"]
    assert created.actor == "ordos经办人" and created.role == "league_city_officer"
    assert created.target == f"notice:{notice_id}" and created.ip == "127.0.0.1"
    assert created.at is not None and sent.detail["recipients"] == 0


async def test_deadlines_and_committee_events(svc):
    resp = await svc.api("PUT", "/deadline-events",
                         json={"code": "review_start", "series": "health", "date": "2020-09-20"})
    assert resp.status == 200, await resp.text()
    resp = await svc.api("PUT", "/deadline-events", role="league_city_officer",
                         league_city="baotou",
                         json={"code": "review_start", "series": "health", "date": "2020-09-20"})
    assert resp.status == 403
    resp = await svc.api("PUT", "/deadline-events", json={"code": "nope", "date": "x"})
    assert resp.status == 422
    assert {e["field"] for e in (await resp.json())["errors"]} == {"code", "date"}
    resp = await svc.api("GET", "/deadlines")
    data = await resp.json()
    absolute = {d["code"]: d["due"] for d in data["deadlines"]["*"]}
    assert absolute["application_complete"] == "2020-06-30"
    assert absolute["review_and_publicity_complete"] == "2020-10-30"
    assert absolute["approval_filing_complete"] == "2020-12-31"
    assert absolute["committee_refiling"] == "2020-06-30"
    health = {d["code"]: d["due"] for d in data["deadlines"]["health"]}
    assert health["evaluation_plan_filed"] == "2020-09-13"


async def test_tokens_are_stored_hashed_and_a_revoked_token_is_refused(svc):
    import hashlib
    from datetime import UTC, datetime

    from handlers.admin_auth import create_token
    from models import AdminToken

    row, plaintext = await create_token("阿拉善盟经办人", "league_city_officer", "alxa")
    stored = await AdminToken.get(id=row.id)
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in repr(await AdminToken.filter(id=row.id).values())
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert (await svc.client.get("/api/v1/admin/notices", headers=headers)).status == 200
    await AdminToken.filter(id=row.id).update(revoked_at=datetime.now(UTC))
    assert (await svc.client.get("/api/v1/admin/notices", headers=headers)).status == 401
