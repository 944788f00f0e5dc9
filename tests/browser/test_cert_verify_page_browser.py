"""The verification page in headless Chromium at a phone's size, as an employer sees it:
the verdict banner is on the first screen in its colour (so the nonce-based CSP lets the
styles through), nothing scrolls sideways, the name check works by typing and submitting,
and the screenshot shows the banner. Screenshots are kept in CERT_SCREENSHOT_DIR (default
the test's tmp dir) for a person to look at.

Run with `pytest -m browser` (CI installs Chromium first); needs the Debian package
`chromium`, and fails with instructions when it is missing.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from bot.app import create_app
from certificates.signing import KeyRing
from tests.browser.cdp import Browser
from tests.certificates.cert_testkit import K2019_FROM, K2019_UNTIL, K2022_FROM, seeded_key
from tests.certificates_service.support import Hr

pytestmark = pytest.mark.browser

GREEN, RED, GREY = (26, 127, 55), (198, 40, 40), (75, 85, 99)


@pytest.fixture
async def client(aiohttp_client, make_settings, tmp_path):
    path = tmp_path / "keys.json"
    KeyRing([seeded_key("k2019", K2019_FROM, K2019_UNTIL),
             seeded_key("k2022", K2022_FROM)]).save_keyset(path)
    return await aiohttp_client(create_app(make_settings(signing_keyset_path=str(path))))


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CERT_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _top_colour(png: bytes) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image.getpixel((image.width // 2, 12))


async def _layout(page) -> dict:
    return await page.evaluate("""(() => {
        const s = document.querySelector('.status').getBoundingClientRect();
        const bg = getComputedStyle(document.querySelector('.status')).backgroundColor;
        return {bannerBottom: s.bottom, bg, headline: document.querySelector('h1').innerText,
                innerWidth: window.innerWidth,
                scrollWidth: document.documentElement.scrollWidth,
                text: document.body.innerText};
    })()""")


async def test_verify_page_in_chromium(client, tmp_path):
    hr = await Hr.region_admin(client)
    code = await hr.committee()
    valid = await hr.issued(code, name="张三明")
    revoked = await hr.issued(code, name="巴特尔", level="正高级", qualification="正高级工程师")
    status, _ = await hr.post(f"/api/v1/admin/certificates/{revoked['public_id']}/revocation",
                              {"revoked_on": "2024-09-01", "document": "内人社职撤〔2024〕3号",
                               "reason": "申报材料弄虚作假（论文抄袭），依规撤销"})
    assert status == 201
    shots = _shots(tmp_path)

    async with Browser.launch() as browser:
        page = await browser.new_page(width=390, height=844)

        await page.goto(str(client.make_url(f"/v/{valid['token']}")))
        layout = await _layout(page)
        assert layout["headline"] == "证书有效"
        assert layout["bg"] == "rgb(26, 127, 55)"  # the styles passed the CSP
        assert layout["bannerBottom"] < 300, "the verdict must be seen without scrolling"
        assert layout["scrollWidth"] <= layout["innerWidth"], "no sideways scrolling"
        assert "张*明" in layout["text"] and "张三明" not in layout["text"]
        png = await page.screenshot()
        (shots / "verify-valid.png").write_bytes(png)
        assert Image.open(io.BytesIO(png)).size == (780, 1688)
        assert _top_colour(png) == GREEN

        # The employer types the candidate's full name and submits.
        await page.evaluate("document.querySelector('input[name=answer]').value = '张三明'")
        await page.navigation("document.querySelector('form').submit()")
        answer = await page.evaluate("document.querySelector('.answer').innerText")
        assert answer.startswith("一致")
        (shots / "verify-match.png").write_bytes(await page.screenshot())

        await page.goto(str(client.make_url(f"/v/{revoked['token']}")))
        layout = await _layout(page)
        assert layout["headline"] == "证书已撤销"
        assert "2024年9月1日" in layout["text"] and "论文抄袭" in layout["text"]
        png = await page.screenshot()
        (shots / "verify-revoked.png").write_bytes(png)
        assert _top_colour(png) == RED

        await page.goto(str(client.make_url(f"/v/{valid['token'][:-3]}")))
        layout = await _layout(page)
        assert layout["headline"] == "查无此证"
        png = await page.screenshot()
        (shots / "verify-not-genuine.png").write_bytes(png)
        assert _top_colour(png) == GREY
