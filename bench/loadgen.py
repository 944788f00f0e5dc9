"""A small closed-loop load generator: N connections, each sending its next prepared
request as soon as the previous answer arrives. Prints requests/s and latency percentiles.

Run in its own process, so that it does not share an event loop with the server.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import aiohttp


async def run(url: str, requests: list[tuple[dict, bytes]], concurrency: int,
              warmup: int) -> dict:
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(requests)

        async def worker(record: bool) -> None:
            nonlocal errors
            for params, body in queue:
                start = time.perf_counter()
                async with session.post(url, params=params, data=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                if record:
                    latencies.append(time.perf_counter() - start)

        warm = requests[:warmup]
        queue = iter(warm)
        await asyncio.gather(*(worker(False) for _ in range(concurrency)))
        queue = iter(requests[warmup:])
        began = time.perf_counter()
        await asyncio.gather(*(worker(True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "rps": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
    }


def main() -> None:
    url, path, concurrency, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path, encoding="utf-8") as fh:
        prepared = [(r["params"], r["body"].encode()) for r in json.load(fh)]
    print(json.dumps(asyncio.run(run(url, prepared, concurrency, warmup))))


if __name__ == "__main__":
    main()
