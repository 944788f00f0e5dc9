"""QR generation throughput: PNG (and SVG) codes per second next to a bare baseline.

Why: verification pages and the holder's "my certificate" view render QR codes on
demand (off the event loop, cached per token). This tells how much CPU an uncached
render costs on this machine; the baseline (SHA-256 of the same URLs) in the same run
makes numbers from different machines comparable.

    .venv/bin/python bench/qr_bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from datetime import date

from certificates.qr import QrRenderer, qr_png, qr_svg, verification_url
from certificates.signing import KeyRing, SigningKey, new_public_id

BASE_URL = "https://zc.rst.nmg.gov.cn"


def rate(label: str, fn: Callable[[str], object], inputs: list[str], seconds: float) -> float:
    """Calls per second of fn over inputs (cycled) for about `seconds`."""
    fn(inputs[0])  # warm-up (imports, first-use allocations)
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        fn(inputs[n % len(inputs)])
        n += 1
    per_second = n / (time.perf_counter() - start)
    print(f"{label:<40} {per_second:>12,.1f} /s  ({1000 / per_second:8.3f} ms each, n={n})")
    return per_second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args(argv)

    ring = KeyRing([SigningKey.generate("kbench", date(2020, 1, 1))])
    tokens = [ring.sign(new_public_id(), on=date(2024, 1, 1)) for _ in range(200)]
    urls = [verification_url(BASE_URL, t) for t in tokens]
    print(f"URL length {len(urls[0])} characters, e.g. {urls[0]}")

    base = rate("baseline: sha256(url)", lambda u: hashlib.sha256(u.encode()).digest(), urls, 1)
    png = rate("qr_png(url), uncached", qr_png, urls, args.seconds)
    rate("qr_svg(url), uncached", qr_svg, urls, args.seconds)
    rate("sign token (Ed25519)", lambda _: ring.sign(new_public_id(), on=date(2024, 1, 1)), urls, 1)
    rate("verify token (Ed25519)", ring.verify, tokens, 1)
    renderer = QrRenderer(BASE_URL, cache_size=len(tokens))
    for t in tokens:
        renderer.png(t)
    rate("QrRenderer.png(token), cache hit", renderer.png, tokens, 1)
    print(f"PNG generation is {base / png:,.0f}x slower than hashing the same URL.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
