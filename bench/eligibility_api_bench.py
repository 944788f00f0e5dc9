"""POST /api/v1/eligibility requests per second next to a bare aiohttp handler, same run.

    .venv/bin/python bench/eligibility_api_bench.py [--requests 20000] [--concurrency 64] [--pin]

The service runs as its own process (`python -m bot serve`, one worker, Redis store, so
every request pays the per-IP rate-limit counter as in production), the bare baseline
(bench/bare_server.py: reads the body, answers `success`) as another, and the closed-loop
load generator (bench/loadgen.py) as a third. Both servers get the same bodies. Two kinds
of request: `complete` answer sets (every fact answered: a full evaluation and the whole
contract JSON with trace, about 6 KB) and `partial` ones (the first few answers, as a
mini-program asking step by step sends: the result lists `needs`). Rounds are interleaved
so drift hits all alike; the best round of each is reported.

Two ratios to the bare handler are printed (target: at least 0.40):
- `rps ratio`: requests/s. On a 2-core machine the Python load generator needs about as
  much CPU per request as the bare server, so the bare run is bound by the client and
  this ratio flatters the API (it can even exceed 1 for light requests);
- `CPU ratio`: the bare server's CPU time per request divided by the API server's
  (from /proc, lowest round), i.e. the share of the bare handler's throughput the API
  keeps when the server, not the client, is the bottleneck. This one decides the target.

As in production: the real app (`python -m bot serve`) with all its middlewares, the
per-IP rate limit counted in Redis (ELIGIBILITY_API_RATE_LIMIT set high so it is counted
but never reached), no database write (the API stores nothing unless `"save": true`).
LOG_LEVEL is WARNING because the harness does not drain the server's output; at INFO
each request would also write its JSON access line. Both servers run on the same event
loop: the one `serve` picks (bot.serving.event_loop_factory: uvloop when installed,
unless EVENT_LOOP=asyncio), so the loop is not what the ratio measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eligibility_bench import complete_answer_sets  # noqa: E402

import eligibility  # noqa: E402
from bot.serving import event_loop_factory  # noqa: E402
from tests.support.processes import free_port, start, stop  # noqa: E402

TARGET_RATIO = 0.40
PATH = "/api/v1/eligibility"
# bench/bare_server.py under uvloop, when the service runs on uvloop too
BARE_ON_UVLOOP = ("import asyncio, runpy, sys, uvloop; "
                  "asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
                  "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def partial_answer_sets(complete: list[dict], seed: int = 2021) -> list[dict]:
    """What a front end sends mid-interview: the answers to the first k questions asked."""
    rng = random.Random(seed)
    out = []
    for full in complete:
        so_far: dict = {}
        for _ in range(rng.randint(0, 8)):
            needs = eligibility.evaluate(so_far).needs
            if not needs:
                break
            so_far[needs[0]] = full[needs[0]]
        out.append(so_far)
    return out


def write_requests(answer_sets: list[dict], n: int, path: Path) -> None:
    bodies = [json.dumps({"answers": a}, ensure_ascii=False) for a in answer_sets]
    rows = [{"params": {}, "body": bodies[i % len(bodies)]} for i in range(n)]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


# --pin: servers on CPU 0, the load generator on CPU 1. Steadier on a busy machine, but
# then the bare server is bound by the (Python) load generator, which flatters the ratio;
# the default leaves scheduling to the OS, as bench/webhook_bench.py does.
SERVER_CPU, CLIENT_CPU = {0}, {1}


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, path: Path, concurrency: int, warmup: int, *, pin: bool,
         server_pid: int) -> dict:
    """One closed-loop run; adds the server's CPU µs per request (warm-up included)."""
    before = cpu_seconds(server_pid)
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "loadgen.py"), url, str(path), str(concurrency),
         str(warmup)], capture_output=True, text=True, check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, CLIENT_CPU)) if pin else None,
    )
    result = json.loads(out.stdout)
    result["cpu_us"] = (cpu_seconds(server_pid) - before) * 1e6 / (result["requests"] + warmup)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sets", type=int, default=2000, help="distinct answer sets")
    parser.add_argument("--pin", action="store_true", help="servers and client on separate CPUs")
    args = parser.parse_args()
    pin = args.pin and can_pin()
    warmup = min(2000, args.requests // 5)
    tmp = Path(tempfile.mkdtemp())
    env = {
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # no WeChat calls on this path
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite://{tmp}/bench.sqlite3"),
        "STORE_NAMESPACE": f"bench{secrets.token_hex(4)}",
        "ELIGIBILITY_API_RATE_LIMIT": "10000000",  # counted, never reached
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=ROOT,
                   env={**os.environ, **env}, check=True, capture_output=True)
    complete = complete_answer_sets(args.sets)
    files = {"complete": tmp / "complete.json", "partial": tmp / "partial.json"}
    write_requests(complete, args.requests + warmup, files["complete"])
    write_requests(partial_answer_sets(complete), args.requests + warmup, files["partial"])

    bare_port, app_port = free_port(), free_port()
    loop_name, _ = event_loop_factory()  # what `serve` will use, in this environment
    bare_cmd = [str(ROOT / "bench" / "bare_server.py"), str(bare_port)]
    if loop_name == "uvloop":
        bare_cmd = ["-c", BARE_ON_UVLOOP, *bare_cmd]
    bare = subprocess.Popen([sys.executable, *bare_cmd])
    app = start(["serve", "--port", str(app_port), "--no-migrate"], env, app_port)
    if pin:  # both servers on one CPU, the load generator on another
        os.sched_setaffinity(bare.pid, SERVER_CPU)
        os.sched_setaffinity(app.pid, SERVER_CPU)
    time.sleep(0.5)
    results: dict[str, list[dict]] = {"bare": [], "complete": [], "partial": []}
    try:
        for _ in range(args.rounds):
            results["bare"].append(load(f"http://127.0.0.1:{bare_port}{PATH}",
                                        files["complete"], args.concurrency, warmup, pin=pin,
                                        server_pid=bare.pid))
            for kind in ("complete", "partial"):
                results[kind].append(load(f"http://127.0.0.1:{app_port}{PATH}", files[kind],
                                          args.concurrency, warmup, pin=pin,
                                          server_pid=app.pid))
    finally:
        stop(app)
        bare.terminate()
        bare.wait()
    best = {k: max(v, key=lambda r: r["rps"]) for k, v in results.items()}
    cpu = {k: min(r["cpu_us"] for r in v) for k, v in results.items()}
    print(f"{'':10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'rps ratio':>10}{'errors':>7}"
          f"{'server CPU µs/req':>18}{'CPU ratio':>10}")
    for name in ("bare", "complete", "partial"):
        r = best[name]
        ratio = r["rps"] / best["bare"]["rps"]
        print(f"{name:10}{r['rps']:8.0f}{r['p50_ms']:8.1f}{r['p99_ms']:8.1f}{ratio:10.2f}"
              f"{r['errors']:7d}{cpu[name]:18.0f}{cpu['bare'] / cpu[name]:10.2f}")
    print(f"({args.requests} requests per run, {args.concurrency} connections, best of "
          f"{args.rounds} interleaved rounds, one worker, {loop_name} event loop for both, "
          f"Redis store for the rate limit; "
          f"{'servers and load generator on separate CPUs' if pin else 'not pinned'})")
    worst = min(cpu["bare"] / cpu["complete"], cpu["bare"] / cpu["partial"])
    errors = best["complete"]["errors"] + best["partial"]["errors"]
    met = worst >= TARGET_RATIO and errors == 0
    print(f"target: API at least {TARGET_RATIO:.0%} of the bare handler (CPU ratio): "
          f"{'met' if met else 'NOT met'} (worst {worst:.0%})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
