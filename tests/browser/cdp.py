"""A small headless-Chromium driver over the DevTools protocol (CDP), for browser tests.

Why our own: the tests need four things (open a page at a phone's size, evaluate
JavaScript, wait for navigations, take a screenshot); Chromium's DevTools protocol over
aiohttp's websocket client does that without another dependency or a downloaded browser
build. The browser is the system's (Debian package `chromium`), found on PATH or via
CHROMIUM_PATH; `find_chromium` fails with instructions when there is none.

    async with Browser.launch() as browser:
        page = await browser.new_page(width=390, height=844)
        await page.goto(url)
        title = await page.evaluate("document.title")
        png = await page.screenshot()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from typing import Any

import aiohttp

TIMEOUT = 30.0  # seconds for any one browser step
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
    "--disable-extensions", "--disable-sync", "--metrics-recording-only", "--mute-audio",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
)


class BrowserMissing(RuntimeError):
    pass


def find_chromium() -> str:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        raise BrowserMissing(f"CHROMIUM_PATH={configured} is not an executable")
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing(
        "headless Chromium not found: install the Debian package `chromium` "
        "(apt-get install -y --no-install-recommends chromium; .ci/run does this) "
        "or set CHROMIUM_PATH; browser tests run with `pytest -m browser`"
    )


class CdpError(RuntimeError):
    pass


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    async def goto(self, url: str) -> None:
        waiter = self.browser.expect("Page.loadEventFired", self.session_id)
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {result['errorText']}")
        await asyncio.wait_for(waiter, TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CdpError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigation(self, action: str) -> None:
        """Run `action` (JavaScript that navigates, e.g. a form submit) and wait."""
        waiter = self.browser.expect("Page.loadEventFired", self.session_id)
        await self.evaluate(action)
        await asyncio.wait_for(waiter, TIMEOUT)

    async def screenshot(self) -> bytes:
        result = await self.send("Page.captureScreenshot", {"format": "png",
                                                            "captureBeyondViewport": False})
        return base64.b64decode(result["data"])


class Browser:
    def __init__(self, process: asyncio.subprocess.Process, ws: aiohttp.ClientWebSocketResponse,
                 session: aiohttp.ClientSession, profile: tempfile.TemporaryDirectory) -> None:
        self.process = process
        self.ws = ws
        self.session = session
        self.profile = profile
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future]] = []
        self._reader = asyncio.create_task(self._read())
        self._drain: asyncio.Task | None = None  # keeps Chromium's stderr pipe from filling

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls):
        executable = find_chromium()
        profile = tempfile.TemporaryDirectory(prefix="zc-chromium-")
        process = await asyncio.create_subprocess_exec(
            executable, *FLAGS, f"--user-data-dir={profile.name}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        session = aiohttp.ClientSession()
        browser = None
        try:
            url = await asyncio.wait_for(cls._devtools_url(process), TIMEOUT)
            ws = await session.ws_connect(url, max_msg_size=64 * 1024 * 1024)
            browser = cls(process, ws, session, profile)
            assert process.stderr is not None
            browser._drain = asyncio.create_task(_drain(process.stderr))
            yield browser
        finally:
            if browser is not None:
                await browser.close()
            else:
                await session.close()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                profile.cleanup()

    @staticmethod
    async def _devtools_url(process: asyncio.subprocess.Process) -> str:
        assert process.stderr is not None
        seen = []
        while True:
            line = await process.stderr.readline()
            if not line:
                raise CdpError("Chromium exited before DevTools started: "
                               + b"".join(seen).decode(errors="replace")[-2000:])
            seen.append(line)
            text = line.decode(errors="replace").strip()
            if text.startswith("DevTools listening on "):
                return text.removeprefix("DevTools listening on ")

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(CdpError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            method, session = data.get("method"), data.get("sessionId")
            for entry in list(self._waiters):
                want, want_session, future = entry
                if want == method and want_session in (None, session) and not future.done():
                    future.set_result(data.get("params", {}))
                    self._waiters.remove(entry)

    def expect(self, method: str, session_id: str | None = None) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session_id, future))
        return future

    async def send(self, method: str, params: dict[str, Any] | None = None, *,
                   session_id: str | None = None) -> dict[str, Any]:
        message_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        await self.ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, TIMEOUT)

    async def new_page(self, *, width: int = 390, height: int = 844, scale: float = 2,
                       mobile: bool = True) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        for task in (self._reader, self._drain):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self.ws.close()
        await self.session.close()
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.profile.cleanup()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
