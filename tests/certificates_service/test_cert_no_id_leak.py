"""ID numbers never leave in clear: not in any response, log line, outgoing WeChat
message, the audit log, nor any database column (encrypted at rest).

One scenario touches every path that handles an ID number (issue, import with a bad row,
binding code, blacklist, chat binding, the employer's ID comparison on the page and the
API, the verification history, printable certificate, CLI import report); the test then
greps everything that came out for every ID number it used.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from tortoise import connections

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from bot.logs import JsonFormatter
from handlers.certificates_keys import CERT_LOG
from tests.certificates_service.support import (
    bulk_rows,
    cert_row,
    csv_bytes,
    fresh_id_number,
    unique,
)
from tests.certificates_service.test_cert_chat import OrderedSimulator
from tests.conftest import AES_KEY, APPID, TOKEN, run_cli


@pytest.fixture
def seen():
    """Everything that leaves the service, as text."""
    return []


async def _call(seen: list, client, method: str, url: str, **kw):
    resp = await client.request(method, url, **kw)
    body = await resp.read()
    seen.append(f"{method} {url} {resp.status} {dict(resp.headers)} "
                + body.decode("utf-8", "replace"))
    return resp.status, body


async def test_id_numbers_absent_from_responses_logs_messages_and_tables(
    certs, hr, seen, caplog, tmp_path, database_url, keyset_path
):
    caplog.set_level(logging.DEBUG)
    ids: list[str] = []
    h = hr.headers
    status, body = await _call(seen, certs, "POST", "/api/v1/admin/committees", headers=h,
                               json={"code": unique("LEAK"), "name": "工程技术高评委",
                                     "series": ["工程技术"], "levels": ["senior_deputy"],
                                     "filing_number": "备1", "filed_on": "2020-06-20",
                                     "valid_until": "2023-06-19"})
    code = __import__("json").loads(body)["code"]

    row = cert_row(code, name="乌云其木格", id_number=fresh_id_number(female=True))
    ids.append(row["id_number"])
    status, body = await _call(seen, certs, "POST", "/api/v1/admin/certificates", headers=h,
                               json=row)
    assert status == 201
    data = __import__("json").loads(body)
    token = data["verify_url"].rsplit("/v/", 1)[1]

    # Refused issue with a bad ID number (the message must not echo it).
    bad = row["id_number"][:-1] + ("0" if row["id_number"][-1] != "0" else "1")
    ids.append(bad)
    await _call(seen, certs, "POST", "/api/v1/admin/certificates", headers=h,
                json=cert_row(code, id_number=bad))

    # Import: good rows, then a file with a bad last row; the CLI too.
    rows = bulk_rows(30, code)
    ids += [r["id_number"] for r in rows]
    await _call(seen, certs, "POST", "/api/v1/admin/certificates/imports?wait=1&filename=a.csv",
                headers=h, data=csv_bytes(rows[:20]))
    rows[-1]["issued_on"] = "2099-01-01"
    path = tmp_path / "leak.csv"
    path.write_bytes(csv_bytes(rows[20:]))
    await _call(seen, certs, "POST", "/api/v1/admin/certificates/imports?wait=1&filename=b.csv",
                headers=h, data=path.read_bytes())
    cli = await asyncio.to_thread(run_cli, "certificates", "import", str(path),
                                  env={"DATABASE_URL": database_url,
                                       "SIGNING_KEYSET_PATH": str(keyset_path)})
    seen.append(cli.stdout + cli.stderr)

    # Employer: page, API, comparisons by ID number (right and wrong).
    other = fresh_id_number()
    ids.append(other)
    await _call(seen, certs, "GET", f"/v/{token}")
    await _call(seen, certs, "POST", f"/v/{token}", data={"answer": row["id_number"]})
    await _call(seen, certs, "POST", f"/v/{token}", data={"answer": other})
    await _call(seen, certs, "GET", f"/api/v1/certificates/verify/{token}")
    await _call(seen, certs, "POST", f"/api/v1/certificates/verify/{token}/match",
                json={"id_number": row["id_number"]})
    await _call(seen, certs, "POST", f"/api/v1/certificates/verify/{token}/match",
                json={"id_number": bad})

    # HR: binding code (sent by WeChat), blacklist, details, printable.
    openid = unique("o_leak_")
    status, body = await _call(seen, certs, "POST", "/api/v1/admin/talent/binding-codes",
                               headers=h, json={"id_number": row["id_number"],
                                                "send_to_openid": openid})
    binding = __import__("json").loads(body)["code"]
    await _call(seen, certs, "POST", "/api/v1/admin/blacklist", headers=h,
                json={"id_number": rows[0]["id_number"], "entered_on": "2024-01-02",
                      "reason": "学术不端", "document": "内人社〔2024〕9号"})
    await _call(seen, certs, "GET", "/api/v1/admin/blacklist", headers=h)
    await _call(seen, certs, "GET", f"/api/v1/admin/certificates/{data['public_id']}",
                headers=h)

    # Holder in chat.
    sim = OrderedSimulator(certs.session, str(certs.make_url("/wechat")), token=TOKEN,
                           appid=APPID, aes_key=AES_KEY, mode="plain")
    for text in ("我的证书", "乌云其木格", row["id_number"], binding, "谁查过我的证书",
                 "证书二维码 1"):
        reply = await sim.send_text(openid, text)
        seen.append(reply.body.decode("utf-8", "replace"))
    assert "绑定成功" in seen[-3]
    fake = FakeWeChatControl(certs.session, certs.server.app[FAKE_BASE])
    seen.append(str(await fake.calls()))
    seen.append(str(await fake.messages(openid)))
    await certs.server.app[CERT_LOG].flush()

    # Everything that went out, every log line, every stored row.
    formatter = JsonFormatter()
    seen += [formatter.format(r) for r in caplog.records]
    conn = connections.get("default")
    for table in ("talent_person", "certificate", "audit_log", "certificate_verification",
                  "credit_blacklist", "talent_binding_code", "wechat_user"):
        seen.append(str(await conn.execute_query_dict(f'SELECT * FROM "{table}"')))  # noqa: S608
    text = "\n".join(seen)
    assert len(caplog.records) > 20 and "乌***格" in text  # the scenario really ran
    for number in ids:
        assert number not in text, "an ID number leaked"
        assert number.lower() not in text
