"""Command line: the progress bar of a send, queuing reminders, and the deliver command's
refusals of configurations it cannot serve."""

from __future__ import annotations

import asyncio

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from tests.conftest import run_cli
from tests.notices_service.kit import add_subscriber, broadcast, publicity


async def cli(*args: str, **env: str):
    return await asyncio.to_thread(run_cli, *args, env=env)


async def test_progress_bar_shows_counts_and_failures_by_errcode(quiet, database_url):
    for openid in ("o_cli_1", "o_cli_2", "o_cli_3", "o_cli_4"):
        await add_subscriber(openid, "tongliao", ["economics"])
    await FakeWeChatControl(quiet.client.session, quiet.app[FAKE_BASE]).inject(
        "/cgi-bin/message/template/send", errcode=43101)
    send_id = await broadcast(quiet, publicity())
    out = await cli("notices", "progress", str(send_id), DATABASE_URL=database_url)
    assert out.returncode == 0, out.stderr
    assert "[" + "." * 30 + "]   0.0%  0/4  sent 0  pending 4  failed 0" in out.stdout
    await quiet.deliver()
    out = await cli("notices", "progress", str(send_id), "--follow", DATABASE_URL=database_url)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("[" + "#" * 30 + "] 100.0%  4/4  sent 3  pending 0  failed 1")
    assert "(43101 用户拒收（未订阅该消息）: 1)" in line
    listed = await cli("notices", "sends", DATABASE_URL=database_url)
    assert f"{send_id}\tnotice\ttemplate" in listed.stdout
    missing = await cli("notices", "progress", "999999", DATABASE_URL=database_url)
    assert missing.returncode == 2 and "no send 999999" in missing.stderr


async def test_reminders_command_queues_what_is_due_once(quiet, database_url):
    await add_subscriber("o_cli_rem", "wuhai", ["archives"])
    now = "2020-10-23T09:00+08:00"  # a week before 10-30 (review and publicity complete)
    first = await cli("notices", "reminders", "--now", now, DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    assert "queued reminder nmg-2020:review_and_publicity_complete:2020-10-30:7d@*: " \
        "1 recipient(s)" in first.stdout
    again = await cli("notices", "reminders", "--now", now, DATABASE_URL=database_url)
    assert again.stdout.strip() == "no reminder due"
    naive = await cli("notices", "reminders", "--now", "2020-10-23T09:00",
                      DATABASE_URL=database_url)
    assert naive.returncode == 2 and "timezone" in naive.stderr


async def test_deliver_refuses_what_it_cannot_serve(tmp_path):
    embedded = await cli("deliver", WECHAT_API_BASE="embedded")
    assert embedded.returncode == 2 and "WECHAT_API_BASE" in embedded.stderr
    sqlite = await cli("deliver", "--workers", "2", WECHAT_API_BASE="http://127.0.0.1:9",
                       DATABASE_URL=f"sqlite://{tmp_path}/x.sqlite3")
    assert sqlite.returncode == 2 and "SKIP LOCKED" in sqlite.stderr
