"""The real command-line programs, as separate processes: serve, several workers on one
port, retry dedup across processes (on Redis), fake-wechat, push-menu, migrate, chat."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys

import aiohttp
import pytest

from bot.fake_platform import FakeWeChatControl, UserSimulator
from tests.conftest import AES_KEY, APPID, ROOT, SECRET, TOKEN, run_cli
from tests.support import processes as procs
from tests.support.backends import REDIS_URL


@pytest.fixture
def fake_wechat():
    port = procs.free_port()
    proc = procs.start(["fake-wechat", "--port", str(port)],
                       {"WECHAT_APPID": APPID, "WECHAT_APPSECRET": SECRET}, port)
    yield f"http://127.0.0.1:{port}"
    procs.stop(proc)


@pytest.fixture
def service_env(database_url, fake_wechat):
    env = {
        "DATABASE_URL": database_url,
        "WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_APPSECRET": SECRET,
        "WECHAT_AES_KEY": AES_KEY, "WECHAT_API_BASE": fake_wechat,
        "HANDLERS_MODULE": "tests.support.handlers",
        "STORE_NAMESPACE": f"tp{secrets.token_hex(5)}",
        "LOG_LEVEL": "WARNING",
    }
    if REDIS_URL:
        env["REDIS_URL"] = REDIS_URL
    return env


def serve(env: dict, *extra: str) -> tuple[subprocess.Popen, str]:
    port = procs.free_port()
    proc = procs.start(["serve", "--port", str(port), "--no-migrate", *extra], env, port)
    return proc, f"http://127.0.0.1:{port}"


async def test_serve_answers_over_http(service_env):
    proc, base = serve(service_env)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            sim = UserSimulator(session, f"{base}/wechat", token=TOKEN, appid=APPID,
                                aes_key=AES_KEY, mode="safe")
            reply = await sim.send_text("o_proc", "帮助")
            assert "自测" in reply.content
    finally:
        procs.stop(proc)


async def test_push_menu_sends_the_menu_data(service_env, fake_wechat):
    out = run_cli("push-menu", env=service_env)
    assert out.returncode == 0, out.stderr
    async with aiohttp.ClientSession() as session:
        menu = await FakeWeChatControl(session, fake_wechat).menu()
    expected = json.loads((ROOT / "config" / "menu.json").read_text(encoding="utf-8"))
    assert menu == expected


def test_chat_command_talks_to_a_running_service(service_env, fake_wechat):
    proc, base = serve(service_env)
    try:
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bot", "chat", "--url", base, "--fake", fake_wechat,
             "--openid", "o_terminal"],
            input="帮助\n多条\n/quit\n", cwd=ROOT, env={**__import__("os").environ,
                                                        **service_env},
            capture_output=True, text=True, timeout=60,
        )
    finally:
        procs.stop(proc)
    assert out.returncode == 0, out.stderr
    assert "公众号> 可以这样使用本服务号" in out.stdout
    assert "公众号> 第一条" in out.stdout
    assert "公众号（客服消息）> 第二条" in out.stdout


def test_migrate_is_idempotent(database_url):
    out = run_cli("migrate", env={"DATABASE_URL": database_url})
    assert out.returncode == 0, out.stderr
    assert "nothing (up to date)" in out.stdout


if REDIS_URL:  # needs a store shared by processes: the PostgreSQL + Redis pass

    async def test_retry_dedup_across_two_server_processes(service_env):
        """WeChat may deliver a retry to another process: it is handled once, same reply."""
        (p1, base1), (p2, base2) = serve(service_env), serve(service_env)
        try:
            async with aiohttp.ClientSession() as session:
                sims = [UserSimulator(session, f"{b}/wechat", token=TOKEN, appid=APPID,
                                      aes_key=AES_KEY, mode="safe") for b in (base1, base2)]
                for _ in range(5):
                    mid = UserSimulator.new_msg_id()
                    replies = await asyncio.gather(
                        *(s.send_text("o_two_procs", "count", msg_id=mid)
                          for s in sims for _ in range(2)))
                    assert {r.content for r in replies} == {"第1次"}
        finally:
            procs.stop(p1)
            procs.stop(p2)

    async def test_serve_with_two_workers_on_one_port(service_env):
        proc, base = serve(service_env, "--workers", "2")
        try:
            pids = set()
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                # The port answers once the first worker listens; the second may still be
                # starting. Ask (new connection each time) until both pids have answered.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while len(pids) < 2 and loop.time() < deadline:
                    try:
                        async with session.get(f"{base}/healthz") as resp:
                            assert resp.status == 200
                            pids.add((await resp.json())["worker"])
                    except aiohttp.ClientConnectionError:
                        pass  # a worker between bind and serve; ask again
                    if len(pids) < 2:
                        await asyncio.sleep(0.05)
                assert len(pids) == 2, f"only {pids} answered within 30 s"
                sim = UserSimulator(session, f"{base}/wechat", token=TOKEN, appid=APPID,
                                    aes_key=AES_KEY, mode="safe")
                mid = UserSimulator.new_msg_id()
                replies = await asyncio.gather(
                    *(sim.send_text("o_workers", "count", msg_id=mid) for _ in range(6)))
                assert {r.content for r in replies} == {"第1次"}
        finally:
            procs.stop(proc)


def test_event_loop_choice(monkeypatch):
    """`bot serve` uses uvloop when installed; EVENT_LOOP=asyncio opts out, typos fail."""
    import importlib.util

    from bot.serving import event_loop_factory

    monkeypatch.setenv("EVENT_LOOP", "asyncio")
    assert event_loop_factory() == ("asyncio", None)
    monkeypatch.setenv("EVENT_LOOP", "uv-loop")
    with pytest.raises(ValueError, match="EVENT_LOOP"):
        event_loop_factory()
    monkeypatch.setenv("EVENT_LOOP", "auto")
    name, factory = event_loop_factory()
    installed = importlib.util.find_spec("uvloop") is not None
    assert name == ("uvloop" if installed else "asyncio")
    if installed:
        loop = factory()
        assert type(loop).__module__.startswith("uvloop")
        loop.close()
    else:
        monkeypatch.setenv("EVENT_LOOP", "uvloop")
        with pytest.raises(ValueError, match="not installed"):
            event_loop_factory()


def test_server_start_up_freezes_the_heap_and_collects_young_objects_less_often():
    """What `bot serve` runs on start-up, in a process of its own (frozen objects are
    never freed, so never in the test process): the start-up heap is frozen and the
    collector's thresholds are the server's (see bot.serving.GC_THRESHOLDS)."""
    code = (
        "import asyncio, gc, json\n"
        "from bot.serving import GC_THRESHOLDS, freeze_startup_heap\n"
        "before = gc.get_threshold()\n"
        "asyncio.run(freeze_startup_heap(None))\n"
        "print(json.dumps([before, gc.get_threshold(), list(GC_THRESHOLDS),"
        " gc.get_freeze_count()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    before, after, wanted, frozen = json.loads(out)
    assert before == [700, 10, 10]  # Python's default, so the change is ours
    assert after == wanted and after[0] > before[0]
    assert frozen > 10_000
