"""The HR console in headless Chromium, end to end: log in with a token, write a publicity
and preview it (the computed end of its window shows), create and send it, watch the
progress bar fill in live, then work an objection through to its close.

The screenshot test of the send page: the finished bar must show green for the sent share
and red for the failed share, at the right places, under the blue header; the page must
not scroll sideways at a laptop's width. Screenshots are kept in NOTICES_SCREENSHOT_DIR
(default: the test's tmp dir) for a person to look at.

Run with `pytest -m browser` (CI installs Chromium first).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from bot.app import create_app
from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from handlers.admin_auth import create_token
from handlers.notices_keys import NOTICES_CLOCK
from models import NoticeDelivery, NoticeSubscription, Objection
from tests.browser.cdp import Browser
from tests.notices_service.kit import FAST, Chat, Clock, add_subscriber

pytestmark = pytest.mark.browser

BLUE = (29, 79, 145)
GREEN = (46, 139, 87)
RED = (214, 69, 69)


@pytest.fixture
async def console(aiohttp_client, make_settings):
    app = create_app(make_settings(**FAST))
    clock = Clock()
    app[NOTICES_CLOCK] = clock
    client = await aiohttp_client(app)
    await NoticeSubscription.all().delete()
    yield client, clock
    await NoticeDelivery.filter(status__in=["pending", "sending"]).update(status="cancelled")


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NOTICES_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pixel(png: bytes, x: float, y: float) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((int(x), int(y)))


def _near(colour: tuple[int, int, int], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(colour, want, strict=True))


async def _fill(page, values: dict[str, str]) -> None:
    await page.evaluate(
        "(v => { for (const [k, x] of Object.entries(v)) {"
        " document.querySelector(k).value = x; } })(" + json.dumps(values) + ")")


async def _wait_for(page, expression: str, limit_s: float = 15.0):
    for _ in range(int(limit_s / 0.1)):
        value = await page.evaluate(expression)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {expression}")


async def test_console_from_login_to_a_closed_objection(console, tmp_path):
    client, clock = console
    _, token = await create_token("包头市人社局 王科长", "league_city_officer", "baotou")
    for openid in ("o_br_1", "o_br_2", "o_br_3"):
        await add_subscriber(openid, "baotou", ["engineering"])
    fake = FakeWeChatControl(client.session, client.server.app[FAKE_BASE])
    await fake.add_user("o_br_3", subscribe=0)  # the platform answers 43004 for this one
    shots = _shots(tmp_path)
    url = client.make_url

    async with Browser.launch() as browser:
        page = await browser.new_page(width=1280, height=900, scale=1, mobile=False)
        await page.goto(str(url("/console/notices")))
        assert await page.evaluate("location.pathname") == "/console/login"
        await _fill(page, {"#token": token})
        await page.navigation("document.querySelector('form').submit()")
        assert await page.evaluate("location.pathname") == "/console/notices"
        assert "王科长" in await page.evaluate("document.querySelector('header').innerText")

        await page.goto(str(url("/console/notices/new")))
        await _fill(page, {
            "#title": "包头市2020年度工程技术系列中级职称评审结果公示",
            "#department": "包头市人力资源和社会保障局",
            "#body": "经包头市工程技术系列中级评委会评审，以下人员通过……",
            "#publicity_start": "2020-09-28",
        })
        await page.evaluate("document.querySelector('input[name=series_scope][value=some]')"
                            ".checked = true; document.querySelector("
                            "'input[name=series][value=engineering]').checked = true")
        await page.navigation("document.querySelector('button[value=preview]').click()")
        window = await page.evaluate("document.querySelector('#computed-window').innerText")
        assert window == "2020-09-28 至 2020-10-10（5 个工作日）"
        assert await page.evaluate("document.querySelector('#recipients').innerText") \
            == "3 位订阅用户"
        (shots / "notice-preview.png").write_bytes(await page.screenshot())

        await page.navigation("document.querySelector('button[value=create]').click()")
        assert (await page.evaluate("location.pathname")).startswith("/console/notices/")
        notice_id = int((await page.evaluate("location.pathname")).rsplit("/", 1)[1])
        await page.navigation("document.querySelector('#send-button').click()")
        assert (await page.evaluate("location.pathname")).startswith("/console/sends/")

        await _wait_for(page, "document.querySelector('#send').dataset.finished === '1'")
        counts = await page.evaluate("""(() => ({
            sent: document.querySelector('#sent').innerText,
            failed: document.querySelector('#failed').innerText,
            percent: document.querySelector('#percent').innerText,
            status: document.querySelector('#status-text').innerText,
            failures: document.querySelector('#failures tbody').innerText,
            bar: (() => { const r = document.querySelector('.progress')
                            .getBoundingClientRect();
                          return {left: r.left, width: r.width, y: r.top + r.height / 2}; })(),
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth}))()""")
        assert (counts["sent"], counts["failed"], counts["percent"]) == ("2", "1", "100%")
        assert counts["status"] == "发送完成"
        assert "43004" in counts["failures"] and "用户未关注服务号" in counts["failures"]
        assert counts["scrollWidth"] <= counts["innerWidth"]
        await asyncio.sleep(0.5)  # the bar's width transition (0.4 s)
        png = await page.screenshot()
        (shots / "send-progress.png").write_bytes(png)
        bar = counts["bar"]
        assert _near(_pixel(png, bar["left"] + bar["width"] * 0.30, bar["y"]), GREEN)
        assert _near(_pixel(png, bar["left"] + bar["width"] * 0.62, bar["y"]), GREEN)
        assert _near(_pixel(png, bar["left"] + bar["width"] * 0.72, bar["y"]), RED)
        assert _near(_pixel(png, bar["left"] + bar["width"] * 0.97, bar["y"]), RED)
        assert _near(_pixel(png, 640, 10), BLUE)

        await page.goto(str(url("/console/notices")))
        listed = await page.evaluate("document.querySelector('table').innerText")
        assert "2020-09-28 至 2020-10-10（5个工作日）" in listed and "查看进度" in listed
        (shots / "notices.png").write_bytes(await page.screenshot())

        # An applicant objects in chat while the window is open; the officer closes it.
        clock.set_local(2020, 9, 30, 10)
        talk = Chat(client)
        for text in (f"异议 {notice_id}", "第2名 赵某", "业绩材料不实", "无"):
            await talk.say("o_br_1", text)
        objection = await Objection.get(openid="o_br_1")

        await page.goto(str(url("/console/objections")))
        assert objection.reference in await page.evaluate("document.body.innerText")
        (shots / "objections.png").write_bytes(await page.screenshot())
        await page.navigation(
            f"document.querySelector('a[href=\"/console/objections/{objection.id}\"]').click()")
        await _fill(page, {"#assignee": "李干事"})
        await page.navigation("document.querySelector('#assignee').form.submit()")
        await _fill(page, {"#resolution-input": "经核实，业绩材料真实，异议不成立。"})
        await page.navigation("document.querySelector('#resolution-input').form.submit()")
        status = await page.evaluate("document.querySelector('#objection-status').innerText")
        assert status == "已办结"
        (shots / "objection-closed.png").write_bytes(await page.screenshot())

    await objection.refresh_from_db()
    assert (objection.status, objection.assignee) == ("closed", "李干事")
    for _ in range(100):
        replies = [m for m in await fake.messages("o_br_1") if m["template_id"]
                   == "dev-template-objection"]
        if replies:
            break
        await asyncio.sleep(0.05)
    assert replies[0]["data"]["keyword1"]["value"] == objection.reference
