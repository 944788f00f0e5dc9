"""`python -m bot chat`: talk to the bot from a terminal, as a WeChat user would.

Messages go through the real webhook, signed (and encrypted in safe mode) by the user
simulator. Replies that arrive later as customer-service messages (slow handlers, long
answers) are fetched from the fake platform and printed too.

Type text to send it; `/click KEY` presses a menu button; `/event subscribe` sends an
event; `/quit` leaves.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web

from config.settings import EMBEDDED, load_settings


async def _start_local_service():
    from bot.app import create_app
    from bot.appkeys import FAKE_BASE

    settings = load_settings(wechat_api_base=EMBEDDED, log_level="WARNING")
    from config.migrate import apply_migrations

    await apply_migrations(settings)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", app[FAKE_BASE], settings


async def _discover_fake(url: str) -> str | None:
    """A service on the embedded default tells where its fake platform listens."""
    try:
        async with aiohttp.ClientSession() as session, session.get(
            url.rstrip("/") + "/_dev/fake-wechat", timeout=aiohttp.ClientTimeout(total=3)
        ) as resp:
            return (await resp.json())["fake_wechat"] if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
        return None


async def _read_line(prompt: str) -> str | None:
    loop = asyncio.get_running_loop()
    print(prompt, end="", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    return None if line == "" else line.rstrip("\n")


async def run_chat(*, url: str | None, fake: str | None, openid: str,
                   mode: str | None) -> int:
    from bot.fake_platform.control import FakeWeChatControl
    from bot.fake_platform.simulator import UserSimulator

    runner = None
    settings = load_settings()
    if url is None:
        runner, url, fake, settings = await _start_local_service()
    aes = settings.aes_keys[0] if settings.aes_keys else None
    if fake is None:
        fake = await _discover_fake(url)
    mode = mode or ("safe" if aes else "plain")
    async with aiohttp.ClientSession() as session:
        sim = UserSimulator(session, url.rstrip("/") + settings.wechat_webhook_path,
                            token=settings.wechat_token.get_secret_value(),
                            appid=settings.wechat_appid, aes_key=aes, mode=mode)
        control = FakeWeChatControl(session, fake) if fake else None
        shown = len(await control.messages(openid)) if control else 0
        print(f"已连接 {url}（{mode} 模式）。输入文字发送，/quit 退出。")
        try:
            while True:
                line = await _read_line("我> ")
                if line is None or line.strip() == "/quit":
                    break
                if not line.strip():
                    continue
                if line.startswith("/click "):
                    reply = await sim.send_event(openid, "CLICK", line.split(None, 1)[1])
                elif line.startswith("/event "):
                    reply = await sim.send_event(openid, line.split(None, 1)[1])
                else:
                    reply = await sim.send_text(openid, line)
                if reply.content:
                    print(f"公众号> {reply.content}")
                if control:
                    await asyncio.sleep(0.3)
                    messages = await control.messages(openid)
                    for m in messages[shown:]:
                        text = (m.get("text") or {}).get("content")
                        print(f"公众号（客服消息）> {text or m}")
                    shown = len(messages)
        finally:
            if runner is not None:
                await runner.cleanup()
    return 0
