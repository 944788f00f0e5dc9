"""Broadcast delivery: 100,000 messages to the fake platform with no rate limit, on
PostgreSQL + Redis, with 1 and with 4 worker processes (`python -m bot deliver`), and the
4-worker run again with one worker SIGKILLed half-way and restarted. Next to it, in the
same run, a bare baseline: the same number of processes posting the same messages straight
to the fake platform (no database, no outbox). The figures to quote are messages/s and the
ratio to that baseline; the kill run reports duplicates and losses (both must be 0).

    .venv/bin/python bench/delivery_bench.py [--messages 100000] [--concurrency 64]
        [--pg postgres://postgres@127.0.0.1:5432] [--redis redis://127.0.0.1:6379/0]

Each run gets a fresh fake platform process, so its counts are that run's only.
Duplicates: recipients with more than one message at the platform. Losses: recipients
with none, or rows not `sent`. "Resent after takeover" counts calls repeated under the
same `client_msg_id` after the kill: the fake platform answers those from memory, as
WeChat's template API does for 10 minutes (the resend here comes within seconds). The
bench sends template messages; subscribe notifications have no such key and are held
instead of resent (see notices/delivery.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import free_port, start, stop  # noqa: E402

TEMPLATE = "/cgi-bin/message/template/send"
PAYLOAD = {"template_id": "bench-template", "url": "http://127.0.0.1/n/1",
           "data": {"first": {"value": "【公示】2020年度工程技术系列高级职称评审结果公示"},
                    "keyword1": {"value": "自治区工程技术高评委"},
                    "keyword2": {"value": "公示期：2020-10-12 至 2020-10-16（5个工作日）"},
                    "remark": {"value": "点击查看全文。"}}}


# --- the bare baseline: processes posting straight to the platform ------------------------
async def _bare(base: str, first: int, count: int, concurrency: int, prefix: str) -> float:
    from bot.storage import MemoryStore
    from bot.wechat_client import WeChatClient

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = WeChatClient(session, MemoryStore(), appid=os.environ["WECHAT_APPID"],
                              secret=os.environ["WECHAT_APPSECRET"], base_url=base,
                              max_retries=0)
        await client.get_access_token()
        todo = iter(range(first, first + count))
        started = time.perf_counter()

        async def sender() -> None:
            for i in todo:
                openid = f"{prefix}{i}"
                await client.call("POST", TEMPLATE, json={
                    "touser": openid, **PAYLOAD, "client_msg_id": f"bare:{openid}"})

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.perf_counter() - started


def bare_main(argv: list[str]) -> None:
    base, first, count, concurrency, prefix = argv
    elapsed = asyncio.run(_bare(base, int(first), int(count), int(concurrency), prefix))
    print(json.dumps({"elapsed": elapsed}))


def run_bare(base: str, env: dict, messages: int, procs: int, concurrency: int) -> float:
    share = messages // procs
    children = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "--bare-child", base, str(i * share), str(share),
             str(concurrency), f"o_bare{procs}_"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
        for i in range(procs)
    ]
    elapsed = [json.loads(c.communicate()[0])["elapsed"] for c in children]
    return share * procs / max(elapsed)


# --- the real thing: outbox + worker processes --------------------------------------------
async def _count(pg_url: str, sql: str, *args) -> int:
    conn = await asyncpg.connect(pg_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _create_send(openids: list[str]) -> int:
    from notices.outbox import create_send

    send = await create_send(purpose="notice", channel="template", payload=PAYLOAD,
                             openids=openids, created_by="bench", requires_subscription=True)
    return send.id


async def _fake_summary(base: str) -> tuple[dict, int, Counter]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/_fake/messages", params={"summary": "1"}) as resp:
            data = await resp.json()
        async with http.get(f"{base}/_fake/calls", params={"path": TEMPLATE}) as resp:
            calls = (await resp.json())["calls"]
    keys = Counter(c["body"].get("client_msg_id") for c in calls if c.get("errcode") == 0)
    return data["counts"], data["replayed"], keys


def run_workers(env: dict, openids: list[str], workers: int, kill: bool) -> dict:
    from config.database import close_db, init_db
    from config.settings import Settings

    pg_url = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    port = free_port()
    fake = start(["fake-wechat", "--port", str(port)], env, port)
    base = f"http://127.0.0.1:{port}"
    worker_env = {**env, "WECHAT_API_BASE": base}
    procs: list[subprocess.Popen] = []
    try:
        settings = Settings(database_url=env["DATABASE_URL"])

        async def create() -> int:
            await init_db(settings)
            try:
                return await _create_send(openids)
            finally:
                await close_db()

        procs = [_spawn_worker(worker_env) for _ in range(workers)]
        time.sleep(2.0)  # let the workers start (import, connect) before the clock starts
        send_id = asyncio.run(create())
        started = time.perf_counter()
        pending_sql = ("SELECT count(*) FROM notice_delivery WHERE send_id = $1 "
                       "AND status IN ('pending', 'sending')")
        killed_at = None
        while True:
            time.sleep(0.2)
            left = asyncio.run(_count(pg_url, pending_sql, send_id))
            if kill and killed_at is None and left <= len(openids) // 2:
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()
                killed_at = len(openids) - left
                held = asyncio.run(_count(
                    pg_url, "SELECT count(*) FROM notice_delivery WHERE send_id = $1 "
                    "AND status = 'sending'", send_id))
                print(f"    killed worker pid {procs[0].pid} at {killed_at} done "
                      f"({held} rows in flight)", flush=True)
                procs[0] = _spawn_worker(worker_env)
            if left == 0:
                break
        elapsed = time.perf_counter() - started
        statuses = asyncio.run(_statuses(pg_url, send_id))
        counts, replayed, keys = asyncio.run(_fake_summary(base))
        got = Counter(counts.get(o, 0) for o in openids)
        return {
            "workers": workers, "killed": kill, "seconds": round(elapsed, 2),
            "rate": len(openids) / elapsed, "statuses": statuses,
            "duplicates": sum(1 for o in openids if counts.get(o, 0) > 1),
            "losses": got.get(0, 0) + sum(n for s, n in statuses.items() if s != "sent"),
            "resent_after_takeover": sum(n - 1 for n in keys.values() if n > 1),
            "replayed_by_platform": replayed,
        }
    finally:
        for p in procs:
            stop(p)
        stop(fake)


async def _statuses(pg_url: str, send_id: int) -> dict[str, int]:
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM notice_delivery "
                                "WHERE send_id = $1 GROUP BY status", send_id)
        return {r["status"]: r["n"] for r in rows}
    finally:
        await conn.close()


def _spawn_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bot", "deliver"], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def _create_db(pg_admin: str, name: str) -> None:
    conn = await asyncpg.connect(f"{pg_admin}/test".replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _migrate(db_url: str) -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=ROOT,  # noqa: S603
                         env={**os.environ, "DATABASE_URL": db_url}, capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(out.stderr)


async def _subscribers(messages: int, db_url: str) -> list[str]:
    openids = [f"o_bench_{i:06d}" for i in range(messages)]
    conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "notice_subscription",
            records=[(o, "hohhot", '["engineering"]', True, now, now) for o in openids],
            columns=["openid", "league_city", "series", "active", "created_at", "updated_at"],
        )
    finally:
        await conn.close()
    return openids


async def _drop(pg_admin: str, name: str) -> None:
    conn = await asyncpg.connect(f"{pg_admin}/test".replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    if sys.argv[1:2] == ["--bare-child"]:
        bare_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    name = f"zc_bench_{secrets.token_hex(4)}"
    db_url = f"{args.pg}/{name}"
    env = {
        "DATABASE_URL": db_url, "REDIS_URL": args.redis, "LOG_LEVEL": "WARNING",
        "STORE_NAMESPACE": f"bench{secrets.token_hex(3)}", "DELIVERY_RATE": "0",
        "DELIVERY_CONCURRENCY": str(args.concurrency), "DELIVERY_BATCH": str(args.batch),
        "DELIVERY_LEASE": "10", "DELIVERY_POLL_INTERVAL": "0.2",
        "WECHAT_APPID": "wxbenchappid00001", "WECHAT_APPSECRET": "bench-secret",
    }
    print(f"delivery bench: {args.messages} messages, concurrency {args.concurrency} per "
          f"process, PostgreSQL + Redis, {os.cpu_count()} CPUs", flush=True)
    asyncio.run(_create_db(args.pg, name))
    os.environ.update({k: v for k, v in env.items() if k.startswith("WECHAT_")})
    try:
        _migrate(db_url)
        openids = asyncio.run(_subscribers(args.messages, db_url))
        results = []
        for workers, kill in ((1, False), (4, False), (4, True)):
            port = free_port()
            fake = start(["fake-wechat", "--port", str(port)], env, port)
            try:
                bare = run_bare(f"http://127.0.0.1:{port}", env, args.messages, workers,
                                args.concurrency)
            finally:
                stop(fake)
            label = f"{workers} worker(s)" + (", one SIGKILLed mid-way" if kill else "")
            print(f"  {label}: bare baseline {bare:,.0f} msg/s", flush=True)
            result = run_workers(env, openids, workers, kill)
            result["bare_rate"] = bare
            results.append(result)
            print(f"  {label}: {result['rate']:,.0f} msg/s in {result['seconds']} s "
                  f"(ratio to bare {result['rate'] / bare:.2f}); rows {result['statuses']}; "
                  f"duplicates {result['duplicates']}, losses {result['losses']}, "
                  f"resent after takeover {result['resent_after_takeover']} "
                  f"(answered from the platform's idempotency record: "
                  f"{result['replayed_by_platform']})", flush=True)
        print(json.dumps(results, ensure_ascii=False))
        bad = [r for r in results if r["duplicates"] or r["losses"]]
        if bad:
            raise SystemExit("duplicates or losses found")
    finally:
        asyncio.run(_drop(args.pg, name))


if __name__ == "__main__":
    main()
