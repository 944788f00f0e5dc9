"""Certificate benchmarks on PostgreSQL + Redis, each next to a baseline from the same run.

1. Import: a generated 100,000-row CSV through `python -m bot certificates import`
   (rows/s), and the same file with a bad last row (rejected whole: check rate).
2. Verification: requests/s and latency percentiles of ``GET /v/{token}`` (the page) and
   ``GET /api/v1/certificates/verify/{token}`` (JSON with a signed statement) served by
   `python -m bot serve` (one worker, PostgreSQL, Redis: rate limits, record cache,
   verification log all on), next to a bare aiohttp handler answering "ok" in the same
   run, with the same closed-loop load generator in its own process. Target: at least
   40 % of the bare throughput. Two kinds of traffic: re-scans of 500 certificates (the
   common case; the caches work) and "cold" scans where every request is a certificate
   not seen before in the run (database, Ed25519 and rendering every time).
3. QR generation per second (PNG and SVG, uncached) next to SHA-256 of the same URLs.

    .venv/bin/python bench/certificates_bench.py [--rows 100000] [--requests 20000]

Needs PostgreSQL and Redis on loopback (PG_ADMIN_URL, REDIS_URL; defaults are the local
CI services). Creates and drops a scratch database; uses a fresh Redis namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from certificates.idcard import check_character  # noqa: E402
from certificates.qr import (  # noqa: E402
    QrRenderer,
    qr_images,
    qr_png,
    qr_svg,
    verification_url,
)
from certificates.signing import KeyRing, SigningKey, generate_keyset, new_public_id  # noqa: E402

PG_ADMIN = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
HEADER = ["证书编号", "姓名", "性别", "身份证号码", "手机号码", "系列", "专业", "资格名称",
          "级别", "取得方式", "评委会代码", "核准文号", "核准日期", "发证日期", "原发证机关",
          "原证书编号"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def id_number(i: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=i // 1000)
    body = f"150102{born:%Y%m%d}{i % 1000:03d}"
    return body + check_character(body)


def csv_file(path: Path, rows: int, *, tag: str, bad_last: bool = False) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for i in range(rows):
        approved = "2021-02-30" if bad_last and i == rows - 1 else "2021-03-01"
        writer.writerow([f"{tag}-{i:06d}", "张三明" if i % 2 else "王芳", "", id_number(i), "",
                         "工程技术", "电气工程", "高级工程师", "副高级", "评审", "BENCH",
                         "内人社职字〔2021〕45号", approved, "2021-03-15", "", ""])
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")


@contextmanager
def scratch_database():
    name = f"zc_certbench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=1800, check=False)


def timed_import(env: dict[str, str], path: Path, rows: int) -> tuple[float, str]:
    started = time.perf_counter()
    # --no-qr: the QR images are generated after the commit (certificates.qr_backfill);
    # their rate is part 3 below, not part of the import's rows/s.
    result = cli(env, "certificates", "import", "--no-qr", str(path))
    elapsed = time.perf_counter() - started
    return elapsed, result.stdout.strip().splitlines()[0] if result.stdout else result.stderr


# -- load generation ------------------------------------------------------------------------


async def load(urls: list[str], concurrency: int, warmup: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(queue, record: bool) -> None:
            for url in queue:
                started = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if record:
                    latencies.append(time.perf_counter() - started)

        warm = iter(urls[:warmup])
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        statuses.clear()
        rest = iter(urls[warmup:])
        began = time.perf_counter()
        await asyncio.gather(*(worker(rest, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "rps": n / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000, "statuses": statuses}


def run_load(urls: list[str], concurrency: int, warmup: int) -> dict:
    """The load generator in its own process (it must not share the server's CPU loop)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(urls, fh)
    try:
        out = subprocess.run([sys.executable, __file__, "--loadgen", fh.name, str(concurrency),
                              str(warmup)], capture_output=True, text=True, timeout=1800,
                             check=True)
    finally:
        os.unlink(fh.name)
    return json.loads(out.stdout)


def bare_server(port: int) -> None:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    # The same event loop as `serve` (uvloop when installed, EVENT_LOOP): like with like.
    from bot.serving import event_loop_factory

    name, new_loop = event_loop_factory()
    loop = new_loop() if new_loop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    print(f"bare server event loop: {name}", file=sys.stderr, flush=True)
    web.run_app(app, loop=loop, host="127.0.0.1", port=port, print=None, access_log=None)


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])),
                                          timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# -- QR -----------------------------------------------------------------------------------


def rate(fn, inputs: list[str], seconds: float) -> float:
    fn(inputs[0])
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(inputs[n % len(inputs)])
        n += 1
    return n / (time.perf_counter() - start)


def qr_bench(seconds: float) -> None:
    ring = KeyRing([SigningKey.generate("kbench", date(2020, 1, 1))])
    tokens = [ring.sign(new_public_id(), on=date(2024, 1, 1)) for _ in range(100)]
    urls = [verification_url("https://zc.rst.nmg.gov.cn", t) for t in tokens]
    base = rate(lambda u: hashlib.sha256(u.encode()).digest(), urls, 1)
    png = rate(qr_png, urls, seconds)
    svg = rate(qr_svg, urls, seconds)
    both = rate(qr_images, urls, seconds)
    renderer = QrRenderer("https://zc.rst.nmg.gov.cn", cache_size=len(tokens))
    for t in tokens:
        renderer.png(t)
    cached = rate(renderer.png, tokens, 1)
    print("\nQR generation (one core, error correction Q, ~150-byte URL)")
    print(f"  baseline sha256(url)        {base:>12,.0f} /s")
    print(f"  PNG, uncached               {png:>12,.1f} /s  ({1000 / png:.1f} ms each)")
    print(f"  SVG, uncached               {svg:>12,.1f} /s  ({1000 / svg:.1f} ms each)")
    print(f"  PNG + SVG, one encoding     {both:>12,.1f} /s  ({1000 / both:.1f} ms each; "
          "what issue and the import backfill store)")
    print(f"  PNG, in-process cache hit   {cached:>12,.0f} /s")


# -- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the import file")
    parser.add_argument("--requests", type=int, default=20_000, help="per measured endpoint")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--qr-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with scratch_database() as db_url, tempfile.TemporaryDirectory() as tmp:
        keyset = Path(tmp) / "keys.json"
        generate_keyset(keyset, kid="kbench", valid_from=date(2000, 1, 1))
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS,
               "STORE_NAMESPACE": f"bench{secrets.token_hex(3)}",
               "SIGNING_KEYSET_PATH": str(keyset), "LOG_LEVEL": "WARNING",
               "CERT_VERIFY_LIMIT_IP": "1000000000", "CERT_VERIFY_LIMIT_TOKEN": "1000000000",
               "PUBLIC_BASE_URL": "https://zc.rst.nmg.gov.cn"}
        assert cli(env, "migrate").returncode == 0
        result = cli(env, "certificates", "committee-add", "--code", "BENCH", "--name",
                     "内蒙古自治区工程技术高级专业技术资格评审委员会", "--series", "工程技术",
                     "--levels", "senior_full,senior_deputy", "--filing-number",
                     "内人社职备〔2020〕12号", "--filed-on", "2020-06-20",
                     "--valid-until", "2023-06-19")
        assert result.returncode == 0, result.stderr

        print(f"Import ({args.rows:,} rows, CSV, PostgreSQL, one transaction)")
        bad = Path(tmp) / "bad.csv"
        csv_file(bad, args.rows, tag="BENCH", bad_last=True)
        elapsed, line = timed_import(env, bad, args.rows)
        print(f"  bad last row: rejected whole in {elapsed:.1f} s "
              f"({args.rows / elapsed:,.0f} rows/s checked, incl. process start): {line}")
        good = Path(tmp) / "good.csv"
        csv_file(good, args.rows, tag="BENCH")
        elapsed, line = timed_import(env, good, args.rows)
        print(f"  good file: {line}")
        print(f"  wall time incl. process start: {elapsed:.1f} s "
              f"({args.rows / elapsed:,.0f} rows/s)")

        async def tokens(limit: int) -> list[str]:
            conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://"))
            try:
                rows = await conn.fetch(
                    "SELECT token FROM certificate ORDER BY random() LIMIT $1", limit)
            finally:
                await conn.close()
            return [r["token"] for r in rows]

        n, warm = args.requests, min(2000, args.requests // 5)
        every = asyncio.run(tokens(args.rounds * (n + warm)))
        sample = every[:500]  # re-scans of recently seen certificates: warm caches
        port, bare_port = free_port(), free_port()
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--no-migrate",
                                   "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_for(f"http://127.0.0.1:{port}", server)
            wait_for(f"http://127.0.0.1:{bare_port}", bare)
            base = f"http://127.0.0.1:{port}"
            targets = {
                "bare aiohttp handler": f"http://127.0.0.1:{bare_port}/v/",
                "GET /v/{token} (page)": f"{base}/v/",
                "GET /api/v1/certificates/verify": f"{base}/api/v1/certificates/verify/",
            }
            # Rounds alternate the three targets, so a noisy neighbour on the machine hits
            # all of them alike; each ratio is taken within its own round.
            rounds: list[dict[str, dict]] = []
            cold_label = "GET /v/{token}, every scan new (cold)"
            for r in range(args.rounds):
                results = {
                    label: run_load([prefix + sample[i % len(sample)] for i in range(n + warm)],
                                    args.concurrency, warm)
                    for label, prefix in targets.items()
                }
                # Each request a certificate not seen before in this run (no cache helps;
                # only certificates 0..rows exist, so small runs wrap around).
                first = r * (n + warm)
                results[cold_label] = run_load(
                    [f"{base}/v/{every[(first + i) % len(every)]}" for i in range(n + warm)],
                    args.concurrency, warm)
                rounds.append(results)
        finally:
            for proc in (server, bare):
                proc.terminate()
                proc.wait(timeout=30)

        print(f"\nVerification ({args.concurrency} connections, {n:,} requests per run, "
              f"{args.rounds} interleaved rounds, medians; one server process; PostgreSQL + "
              "Redis; rate limits, caches and the verification log on)")
        for label in rounds[0]:
            runs = [r[label] for r in rounds]
            ratio = statistics.median(r[label]["rps"] / r["bare aiohttp handler"]["rps"]
                                      for r in rounds)
            statuses: dict[str, int] = {}
            for run in runs:
                for code, count in run["statuses"].items():
                    statuses[code] = statuses.get(code, 0) + count
            print(f"  {label:<34} {statistics.median(x['rps'] for x in runs):>8,.0f} req/s  "
                  f"p50 {statistics.median(x['p50_ms'] for x in runs):6.1f} ms  "
                  f"p99 {statistics.median(x['p99_ms'] for x in runs):6.1f} ms  "
                  f"{ratio:6.1%} of bare  statuses {statuses}")
            print("    per round req/s: " + ", ".join(f"{x['rps']:,.0f}" for x in runs))

        async def logged() -> int:
            conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://"))
            try:
                return await conn.fetchval("SELECT count(*) FROM certificate_verification")
            finally:
                await conn.close()

        print(f"  verification log rows written: {asyncio.run(logged()):,}")
    qr_bench(args.qr_seconds)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        with open(sys.argv[2], encoding="utf-8") as fh:
            urls = json.load(fh)
        print(json.dumps(asyncio.run(load(urls, int(sys.argv[3]), int(sys.argv[4])))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]))
    else:
        raise SystemExit(main())
