"""The HR console over HTTP (no browser): login with a token, CSRF, preview with the computed
window end, create, send, progress, objections. tests/browser/ drives the same pages in
Chromium."""

from __future__ import annotations

import re

from models import AuditLog, Objection
from tests.notices_service.kit import add_subscriber, chat


def csrf(html: str) -> str:
    return re.search(r'name="_csrf" value="([0-9a-f]{64})"', html).group(1)


async def login(svc, role="region_admin", league_city=None):
    token = await svc.token(role, league_city)
    resp = await svc.client.post("/console/login", data={"token": token},
                                 allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/notices"
    cookie = resp.headers["Set-Cookie"]
    assert "zc_admin=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    svc.client.session.cookie_jar.update_cookies({"zc_admin": token})
    return token


FORM = {
    "kind": "publicity", "title": "2020年度卫生系列高级职称评审结果公示",
    "department": "自治区卫生高评委",
    "body": "经评审……", "league_scope": "all", "series_scope": "some", "series": "health",
    "review_result": "on", "publicity_start": "2020-09-28", "publicity_workdays": "5",
}


async def test_pages_need_a_login_and_a_bad_token_is_refused(svc):
    resp = await svc.client.get("/console/notices", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/login"
    resp = await svc.client.post("/console/login", data={"token": "zca_wrong"})
    assert resp.status == 401
    assert "令牌无效" in await resp.text()


async def test_preview_create_send_and_watch(svc):
    await add_subscriber("o_console_1", "hinggan", ["health"])
    await add_subscriber("o_console_2", "hinggan", ["engineering"])
    await login(svc)
    page = await svc.client.get("/console/notices/new")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    token = csrf(await page.text())

    refused = await svc.client.post("/console/notices/new", data={**FORM, "action": "preview"})
    assert refused.status == 403  # no CSRF token

    preview = await svc.client.post("/console/notices/new",
                                    data={**FORM, "action": "preview", "_csrf": token})
    html = await preview.text()
    assert preview.status == 200, html
    # 09-28..09-30, then the National Day holiday, 10-09 (Fri) and 10-10 (Sat, worked)
    assert "2020-09-28 至 <b>2020-10-10</b>（5 个工作日）" in html
    assert "1 位订阅用户" in html
    assert "【公示】2020年度卫生系列高级职称评审结果公示" in html

    short = await svc.client.post("/console/notices/new", data={
        **FORM, "action": "preview", "_csrf": token, "publicity_end": "2020-10-09"})
    assert short.status == 422
    assert "只有 4 个工作日" in await short.text()

    created = await svc.client.post("/console/notices/new",
                                    data={**FORM, "action": "create", "_csrf": token},
                                    allow_redirects=False)
    assert created.status == 303
    notice_url = created.headers["Location"]
    page = await svc.client.get(notice_url)
    html = await page.text()
    assert "确认发送" in html and "将发送给 <b>1</b> 位订阅用户" in html
    sent = await svc.client.post(f"{notice_url}/send", data={"_csrf": csrf(html)},
                                 allow_redirects=False)
    assert sent.status == 303
    send_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    progress = await svc.wait_sent(send_id)
    assert progress["sent"] == 1
    page = await svc.client.get(f"/console/sends/{send_id}")
    html = await page.text()
    assert 'id="sent">1<' in html and "发送完成" in html
    # the page's script polls the API with the same cookie
    api = await svc.client.get(f"/api/v1/admin/sends/{send_id}")
    assert api.status == 200
    assert await AuditLog.filter(action="console.login").exists()


async def test_an_officer_publishes_to_their_own_league_city_only(svc):
    await login(svc, "league_city_officer", "hinggan")
    page = await svc.client.get("/console/notices/new")
    html = await page.text()
    assert "盟市经办人只能向本盟市发布" in html and 'name="league_cities"' not in html
    created = await svc.client.post("/console/notices/new", data={
        **FORM, "league_scope": "all", "action": "create", "_csrf": csrf(html)},
        allow_redirects=False)
    assert created.status == 303
    resp = await svc.api("GET", created.headers["Location"].replace("/console", ""),
                         role="league_city_officer", league_city="hinggan")
    assert (await resp.json())["notice"]["league_cities"] == ["hinggan"]


async def test_objections_are_assigned_and_closed_from_the_console(svc):
    resp = await svc.api("POST", "/notices", json={
        "kind": "publicity", "title": "兴安盟中级职称评审结果公示", "body": "名单……",
        "department": "兴安盟人社局", "league_cities": ["hinggan"], "series": "all",
        "publicity_start": "2020-10-12"}, role="league_city_officer", league_city="hinggan")
    notice_id = (await resp.json())["notice"]["id"]
    svc.clock.set_local(2020, 10, 12, 9)
    talk = chat(svc)
    for text in (f"异议 {notice_id}", "王某", "资历不够", "无"):
        await talk.say("o_console_obj", text)
    objection = await Objection.get(openid="o_console_obj")

    await login(svc, "league_city_officer", "hinggan")
    listing = await (await svc.client.get("/console/objections")).text()
    assert objection.reference in listing and "待处理" in listing
    page = await svc.client.get(f"/console/objections/{objection.id}")
    token = csrf(await page.text())
    await svc.client.post(f"/console/objections/{objection.id}/assign",
                          data={"assignee": "李干事", "_csrf": token})
    empty = await svc.client.post(f"/console/objections/{objection.id}/close",
                                  data={"resolution": " ", "_csrf": token})
    assert empty.status == 422 and "请填写办理结果" in await empty.text()
    done = await svc.client.post(f"/console/objections/{objection.id}/close",
                                 data={"resolution": "经核实，符合条件。", "_csrf": token})
    html = await done.text()
    assert "已办结" in html and "经核实，符合条件。" in html
    await objection.refresh_from_db()
    assert (objection.status, objection.assignee) == ("closed", "李干事")
    await svc.wait_sent(objection.reply_send_id)


async def test_public_notice_page(svc):
    resp = await svc.api("POST", "/notices", json={
        "kind": "publicity", "title": "公开页测试公示", "body": "正文<script>x</script>",
        "department": "某单位", "league_cities": "all", "series": "all",
        "publicity_start": "2020-10-12"})
    notice_id = (await resp.json())["notice"]["id"]
    svc.clock.set_local(2020, 10, 13, 9)
    html = await (await svc.client.get(f"/n/{notice_id}")).text()
    assert "公开页测试公示" in html and f"回复“异议 {notice_id}”" in html
    assert "<script>x" not in html and "&lt;script&gt;" in html
    deadlines = await (await svc.client.get("/deadlines")).text()
    assert "2020-06-30" in deadlines and "完成组织申报" in deadlines


async def test_a_refused_console_form_is_audited(svc):
    await login(svc, "league_city_officer", "hinggan")
    last = await AuditLog.all().order_by("-id").first()
    resp = await svc.client.post("/console/notices/new", data={
        **FORM, "league_scope": "all", "action": "create", "_csrf": "stale"},
        allow_redirects=False)
    assert resp.status == 403
    (row,) = await AuditLog.filter(action="refused", id__gt=last.id)
    assert row.target == "POST /console/notices/new" and row.role == "league_city_officer"
    assert row.ip == "127.0.0.1"


async def test_console_headers_on_every_console_response_and_nowhere_else(svc):
    """handlers.path_middleware: the console's security headers on its pages, its login
    page and its static files; the webhook, API and verification paths skip it."""
    for path in ("/console/login", "/console/static/console.js"):
        resp = await svc.client.get(path)
        assert resp.status == 200, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'"), path
        assert resp.headers["Cache-Control"] == "no-store", path
    other = await svc.client.get("/healthz")
    assert "Content-Security-Policy" not in other.headers
