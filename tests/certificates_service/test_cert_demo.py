"""`python -m bot serve --demo` prints verify URLs of demo certificates that work: two
valid, one revoked; a second start adds nothing."""

from __future__ import annotations

import re
import secrets

import aiohttp

from models import Certificate, ReviewCommittee
from tests.support import processes as procs
from tests.support.backends import REDIS_URL

URL = re.compile(r"(DEMO-2024-\d{4})（(有效|已撤销)）: (http://\S+/v/\S+)")


def _serve(env: dict) -> tuple[list[tuple[str, str, str]], object]:
    port = procs.free_port()
    proc = procs.start(["serve", "--port", str(port), "--no-migrate", "--demo"], env, port)
    found: list[tuple[str, str, str]] = []
    while len(found) < 3:
        line = proc.stdout.readline()
        assert line, "the demo URLs were not printed"
        if m := URL.search(line):
            found.append(m.groups())
    return found, proc


async def test_serve_demo_prints_working_verify_urls(certs, database_url, keyset_path):
    env = {"DATABASE_URL": database_url, "SIGNING_KEYSET_PATH": str(keyset_path),
           "STORE_NAMESPACE": f"demo{secrets.token_hex(4)}", "LOG_LEVEL": "WARNING"}
    if REDIS_URL:
        env["REDIS_URL"] = REDIS_URL
    found, proc = _serve(env)
    try:
        assert [(n, s) for n, s, _ in found] == [("DEMO-2024-0001", "有效"),
                                                 ("DEMO-2024-0002", "有效"),
                                                 ("DEMO-2024-0003", "已撤销")]
        async with aiohttp.ClientSession() as http:
            for _, state, url in found:
                async with http.get(url) as resp:
                    page = await resp.text()
                assert resp.status == 200
                assert ("证书有效" if state == "有效" else "证书已撤销") in page
    finally:
        procs.stop(proc)
    again, proc = _serve(env)
    procs.stop(proc)
    assert [u.split("/v/")[1] for *_, u in again] == [u.split("/v/")[1] for *_, u in found]
    assert await Certificate.filter(number__startswith="DEMO-2024-").count() == 3
    assert await ReviewCommittee.filter(code="DEMO-ENG").count() == 1
