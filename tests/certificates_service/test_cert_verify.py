"""Verification over HTTP: the page and the JSON API for valid, revoked and void
certificates; forged, truncated, re-signed and unknown tokens answer alike; the
"matches / does not match" check; rate limits; the verification log."""

from __future__ import annotations

import base64
import re
from datetime import date

from bot.app import create_app
from certificates.signing import KeyRing, new_public_id
from certificates.statement import verify_statement
from handlers.certificates_keys import CERT_LOG, CERTS
from models import Certificate, VerificationEvent
from tests.certificates.cert_testkit import K2022_FROM, seeded_key
from tests.certificates_service.support import Hr, cert_row


def _flip_last_signature_char(token: str) -> str:
    head, sig = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 0x01
    return head + "." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


async def test_valid_page_and_json(certs, hr):
    code = await hr.committee()
    issued = await hr.issued(code, name="张三明")
    token = issued["token"]

    resp = await certs.get(f"/v/{token}")
    assert resp.status == 200
    html = await resp.text()
    assert 'data-status="valid"' in html and "证书有效" in html
    assert "张*明" in html and "张三明" not in html
    assert "高级工程师" in html and "内人社职字〔2021〕45号" in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]

    resp = await certs.get(f"/api/v1/certificates/verify/{token}")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "valid" and body["status_label"] == "有效"
    cert = body["certificate"]
    assert cert["holder_name"] == "张*明" and cert["level"] == "senior_deputy"
    assert cert["committee"]["filing_number"] == "内人社职备〔2020〕12号"
    assert cert["approved_on"] == "2021-03-01" and cert["revocation"] is None
    # The signed statement checks against the published keys.
    keys = await (await certs.get("/api/v1/keys")).json()
    payload = verify_statement(body["signed_statement"], KeyRing.from_public_json(keys))
    assert payload["status"] == "valid" and ["姓名", "张*明"] in payload["fields"]


async def test_revocation_shown_on_page_and_in_json_at_once(certs, hr):
    code = await hr.committee()
    issued = await hr.issued(code)
    token = issued["token"]
    assert (await certs.get(f"/v/{token}")).status == 200  # cached as valid now
    status, data = await hr.post(
        f"/api/v1/admin/certificates/{issued['public_id']}/revocation",
        {"revoked_on": "2024-09-01", "reason": "申报材料弄虚作假（论文抄袭），依规撤销",
         "document": "内人社职撤〔2024〕3号"},
    )
    assert status == 201, data
    html = await (await certs.get(f"/v/{token}")).text()
    assert 'data-status="revoked"' in html and "证书已撤销" in html
    assert "2024年9月1日" in html and "论文抄袭" in html and "内人社职撤〔2024〕3号" in html
    body = await (await certs.get(f"/api/v1/certificates/verify/{token}")).json()
    assert body["status"] == "revoked"
    assert body["certificate"]["revocation"] == {
        "revoked_on": "2024-09-01", "reason": "申报材料弄虚作假（论文抄袭），依规撤销",
        "document": "内人社职撤〔2024〕3号"}
    assert "弄虚作假" in body["reasons"][0]
    # Revoking twice is refused; the holder is on the blacklist for five years.
    status, data = await hr.post(
        f"/api/v1/admin/certificates/{issued['public_id']}/revocation",
        {"revoked_on": "2024-09-02", "reason": "x", "document": "y"})
    assert status == 409 and data["code"] == "already_revoked"
    status, data = await hr.get("/api/v1/admin/blacklist")
    entry = next(e for e in data["entries"] if e["document"] == "内人社职撤〔2024〕3号")
    assert entry["entered_on"] == "2024-09-01" and entry["until"] == "2029-08-31"


async def test_void_committee_shown_with_reason(certs, hr):
    from models import ReviewCommittee

    code = await hr.committee()
    issued = await hr.issued(code)
    # The filing is later found never to have been made (data corrected by the department).
    await ReviewCommittee.filter(code=code).update(filing_number=None, filed_on=None,
                                                   valid_until=None)
    await hr.service.forget_record(issued["public_id"])
    html = await (await certs.get(f"/v/{issued['token']}")).text()
    assert 'data-status="void_committee_not_filed"' in html and "证书无效" in html
    assert "未经人力资源社会保障部门核准备案" in html
    body = await (await certs.get(f"/api/v1/certificates/verify/{issued['token']}")).json()
    assert body["status"] == "void_committee_not_filed"


async def test_forged_truncated_resigned_and_unknown_look_the_same(certs, hr):
    code = await hr.committee()
    issued = await hr.issued(code)  # issued 2021-03-15: signed by k2019
    token = issued["token"]
    ring = KeyRing([seeded_key("k2022", K2022_FROM)])
    resigned = ring.sign(issued["public_id"], "k2022", on=date(2023, 1, 1))
    forger = KeyRing([seeded_key("k2019", date(2019, 1, 1), seed="attacker")])
    forged = forger.sign(issued["public_id"], "k2019", on=date(2021, 3, 15))
    unknown = KeyRing([seeded_key("k2019", date(2019, 1, 1))]).sign(new_public_id(),
                                                                    on=date(2021, 3, 15))
    bad = {
        "forged": forged,
        "bit_flipped": _flip_last_signature_char(token),
        "truncated": token[:-5],
        "resigned_with_later_key": resigned,
        "unknown_certificate": unknown,
        "garbage": "hello",
    }
    pages, apis = set(), set()
    for name, value in bad.items():
        resp = await certs.get(f"/v/{value}")
        assert resp.status == 404, name
        html = await resp.text()
        assert 'data-status="not_genuine"' in html, name
        pages.add(re.sub(r'nonce="[^"]+"', "", html).replace(value, "TOKEN"))
        resp = await certs.get(f"/api/v1/certificates/verify/{value}")
        assert resp.status == 404 and resp.content_type == "application/problem+json"
        apis.add(await resp.text())
    assert len(pages) == 1 and len(apis) == 1, "every bad token must answer exactly alike"
    body = apis.pop()
    assert '"code": "certificate_not_found"' in body
    assert issued["public_id"] not in body


async def test_scan_of_the_issued_token_needs_no_ed25519_but_a_forgery_does(certs, hr,
                                                                          monkeypatch):
    """The stored token is compared instead of verified (the cold-scan cost); a token
    that names a real certificate but differs from its issued one is verified."""
    from certificates.algorithms import Ed25519Algorithm

    checks: list[bytes] = []
    original = Ed25519Algorithm.verify

    def counting(self, public_key, signature, message):
        checks.append(signature)
        return original(self, public_key, signature, message)

    monkeypatch.setattr(Ed25519Algorithm, "verify", counting)
    issued = await hr.issued(await hr.committee())
    checks.clear()
    assert (await certs.get(f"/v/{issued['token']}")).status == 200
    assert checks == []
    forger = KeyRing([seeded_key("k2019", date(2019, 1, 1), seed="attacker")])
    forged = forger.sign(issued["public_id"], "k2019", on=date(2021, 3, 15))
    assert (await certs.get(f"/v/{forged}")).status == 404
    assert len(checks) == 1
    unknown = forger.sign(new_public_id(), "k2019", on=date(2021, 3, 15))
    assert (await certs.get(f"/v/{unknown}")).status == 404
    assert len(checks) == 1, "an unknown certificate is not genuine whatever its signature"


async def test_match_name_and_id_answers_only_yes_or_no(certs, hr):
    code = await hr.committee()
    row = cert_row(code, name="乌云其木格")
    status, data = await hr.post("/api/v1/admin/certificates", row)
    assert status == 201
    token = data["verify_url"].rsplit("/v/", 1)[1]
    url = f"/api/v1/certificates/verify/{token}/match"
    for body, expected in [({"name": "乌云其木格"}, True), ({"name": "乌云其其格"}, False),
                           ({"id_number": row["id_number"]}, True),
                           ({"id_number": row["id_number"].lower()}, True)]:
        resp = await certs.post(url, json=body)
        assert resp.status == 200
        answer = await resp.json()
        assert answer == {"matches": expected, "field": next(iter(body))}
    resp = await certs.post(url, json={"id_number": "150102199001011234"})
    assert resp.status == 422
    problem = await resp.json()
    assert problem["code"] == "invalid_request" and problem["errors"][0]["field"] == "id_number"
    resp = await certs.post(url, json={"name": "a", "id_number": row["id_number"]})
    assert resp.status == 422
    # The page form: the employer types a name or an ID number.
    resp = await certs.post(f"/v/{token}", data={"answer": row["id_number"]})
    html = await resp.text()
    assert 'data-match="yes"' in html and row["id_number"] not in html
    resp = await certs.post(f"/v/{token}", data={"answer": "乌云"})
    assert 'data-match="no"' in await resp.text()


async def test_verification_log_records_time_ip_and_agent(certs, hr):
    code = await hr.committee()
    issued = await hr.issued(code)
    await certs.get(f"/v/{issued['token']}", headers={"User-Agent": "EmployerPhone/1.0"})
    await certs.get(f"/api/v1/certificates/verify/{issued['token']}",
                    headers={"User-Agent": "HR-System/2.1"})
    await certs.server.app[CERT_LOG].flush()
    cert = await Certificate.get(public_id=issued["public_id"])
    events = await VerificationEvent.filter(certificate_id=cert.id).order_by("id")
    assert [(e.channel, e.action, e.outcome, e.user_agent) for e in events] == [
        ("page", "view", "valid", "EmployerPhone/1.0"),
        ("api", "view", "valid", "HR-System/2.1"),
    ]
    assert all(e.ip == "127.0.0.1" and e.at is not None for e in events)


async def test_rate_limits_per_ip_and_per_token(aiohttp_client, cert_settings):
    client = await aiohttp_client(create_app(cert_settings(cert_verify_limit_ip=5,
                                                           cert_verify_limit_token=3,
                                                           cert_match_limit_token=2)))
    hr = await Hr.region_admin(client)
    code = await hr.committee()
    a = await hr.issued(code)
    statuses = [(await client.get(f"/api/v1/certificates/verify/{a['token']}")).status
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    resp = await client.get(f"/api/v1/certificates/verify/{a['token']}")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["code"] == "rate_limited"
    # The same IP is now at 5: anything else it asks is refused too, pages included.
    resp = await client.get("/v/garbage-token")
    assert resp.status == 429


async def test_match_rate_limit_per_token(aiohttp_client, cert_settings):
    client = await aiohttp_client(create_app(cert_settings(cert_match_limit_token=2)))
    hr = await Hr.region_admin(client)
    issued = await hr.issued(await hr.committee())
    url = f"/api/v1/certificates/verify/{issued['token']}/match"
    statuses = [(await client.post(url, json={"name": f"张{c}明"})).status for c in "一二三"]
    assert statuses == [200, 200, 429]
    resp = await client.post(url, json={"name": "张三明"})
    assert (await resp.json())["code"] == "match_rate_limited"


async def test_keys_endpoint_publishes_public_keys_only(certs):
    resp = await certs.get("/api/v1/keys")
    assert resp.status == 200
    doc = await resp.json()
    assert [k["kid"] for k in doc["keys"]] == ["k2019", "k2022"]
    assert all("private_key" not in k for k in doc["keys"])
    assert doc["keys"][0]["valid_until"] == "2021-12-31"


async def test_urls_carry_no_sequential_number(certs, hr):
    issued = await hr.issued(await hr.committee())
    cert = await Certificate.get(public_id=issued["public_id"])
    for url in (issued["verify_url"], issued["qr_png"], issued["qr_svg"]):
        path = url.split("://", 1)[-1].split("/", 1)[1]
        assert str(cert.id) not in re.findall(r"\d+", path.replace(issued["token"], ""))
        assert issued["number"] not in url
    assert len(base64.urlsafe_b64decode(issued["public_id"] + "==")) == 16
    assert certs.server.app[CERTS].keyring.verify(issued["token"]) == issued["public_id"]


async def test_raw_record_query_agrees_with_the_orm(certs, hr):
    """The hand-written verification query must read what the ORM reads (both dialects)."""
    from certificates.registry import record_json, record_of
    from models import CertificateRevocation

    code = await hr.committee()
    plain = await hr.issued(code, name="欧阳娜娜")
    revoked = await hr.issued(code)
    await hr.post(f"/api/v1/admin/certificates/{revoked['public_id']}/revocation",
                  {"revoked_on": "2024-09-01", "reason": "弄虚作假", "document": "撤〔2024〕1号"})
    exchanged = await hr.issued(None, obtained_by="区外证书换发", original_issuer="北京市人社局",
                                approved_on="2024-04-20", issued_on="2024-05-01")
    service = hr.service
    for issued in (plain, revoked, exchanged):
        cert = await Certificate.get(public_id=issued["public_id"]).select_related(
            "person", "committee")
        revocation = await CertificateRevocation.get_or_none(certificate_id=cert.id)
        record = record_of(cert, revocation)
        expected = record_json(cert.id, cert.person_id, record, cert.token)
        assert await service.load_record(issued["public_id"]) == expected
        pairs = await service._load_pairs([issued["public_id"]])  # what the scan caches
        assert pairs[issued["public_id"]] == (expected, record)
    assert await service.load_record(new_public_id()) is None


async def test_page_values_are_escaped(certs, hr):
    """The page is a cached skeleton filled with escaped values: markup in a record or
    in the URL is shown as text, never run."""
    code = await hr.committee()
    issued = await hr.issued(code, specialty='电气<script>alert("x")</script>&\'')
    page = await (await certs.get(f"/v/{issued['token']}")).text()
    assert "<script>" not in page
    assert "电气&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;" in page
    resp = await certs.get("/v/%3Cscript%3Ex%3C%2Fscript%3E")
    assert resp.status == 404
    body = await resp.text()
    assert "<script>" not in body and 'action="/v/&lt;script&gt;x&lt;/script&gt;#match"' not in body
    assert "查无此证" in body


async def test_verification_reader_survives_a_dropped_database_connection(certs, hr):
    """On PostgreSQL the scans read through a connection of their own (no pool reset per
    query); if the server drops it, the next scan reconnects. On SQLite there is none."""
    import asyncpg

    from tests.support.backends import DATABASE_URL, ON_POSTGRES

    service = certs.server.app[CERTS]
    if not ON_POSTGRES:
        assert service.reader is None
        return
    first = await hr.issued(await hr.committee())
    assert (await certs.get(f"/v/{first['token']}")).status == 200
    pid = service.reader._conn.get_server_pid()
    admin = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    second = await hr.issued(await hr.committee())  # not cached: must be read again
    assert (await certs.get(f"/v/{second['token']}")).status == 200
    assert service.reader._conn.get_server_pid() != pid


def test_page_skeleton_escapes_each_value_even_one_holding_a_nul():
    """Values are escaped together, joined by NUL; a value with a NUL of its own must
    still land in its own slot, escaped."""
    from handlers.certificates_pages import Skeleton, _slot

    skeleton = Skeleton(f"<p>{_slot(0)}|{_slot(1)}|{_slot(0)}</p>")
    assert skeleton.fill(["张&三", "<b>"]) == "<p>张&amp;三|&lt;b&gt;|张&amp;三</p>".encode()
    assert skeleton.fill(["a\x00<b>", "'"]) == b"<p>a\x00&lt;b&gt;|&#39;|a\x00&lt;b&gt;</p>"
