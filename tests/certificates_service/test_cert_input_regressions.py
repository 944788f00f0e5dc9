"""Regressions from the second audit of the certificate admin API: inputs that gave 500s
or were silently accepted, import reports echoing ID numbers, and league-city scoping of
certificate details. Every test talks to the real app over HTTP and checks the status and
that the error names the field (run on SQLite and on PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

from certificates.idcard import mask_id_number
from models import Certificate, ReviewCommittee
from tests.certificates_service.support import HEADER_CN, KEYS, Hr, cert_row, csv_bytes, unique

COMMITTEE = {"name": "评委会", "series": ["工程技术"], "levels": ["senior_deputy"]}


async def _committee_refused(hr: Hr, **overrides: Any) -> list[dict[str, str]]:
    code = unique("C")
    status, body = await hr.post("/api/v1/admin/committees",
                                 {**COMMITTEE, "code": code, **overrides})
    assert status == 422, body
    assert not await ReviewCommittee.exists(code=code)
    return body["errors"]


def _fields(errors: list[dict[str, Any]]) -> set[str]:
    return {e["field"] for e in errors}


async def _job(hr: Hr, url: str) -> dict[str, Any]:
    for _ in range(100):
        status, job = await hr.get(url)
        assert status == 200, job
        if job["status"] != "running":
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("import did not finish")


# -- 1. committees ---------------------------------------------------------------------------


async def test_regression_committee_series_as_a_number_was_a_500(hr):
    assert _fields(await _committee_refused(hr, series=5)) == {"series"}
    assert _fields(await _committee_refused(hr, series=[["工程技术"]])) == {"series"}


async def test_regression_committee_levels_as_a_number_was_a_500(hr):
    assert _fields(await _committee_refused(hr, levels=5)) == {"levels"}
    assert _fields(await _committee_refused(hr, levels=[{"a": 1}])) == {"levels"}


async def test_regression_committee_name_over_128_characters_was_a_500(hr):
    errors = await _committee_refused(hr, name="评" * 200)
    assert _fields(errors) == {"name"} and "128" in errors[0]["message"]
    assert await hr.committee(name="评" * 128)


async def test_regression_committee_league_city_over_32_characters_was_a_500(hr):
    assert _fields(await _committee_refused(hr, league_city="x" * 40)) == {"league_city"}
    assert _fields(await _committee_refused(hr, league_city=7)) == {"league_city"}


async def test_regression_committee_unknown_league_city_was_accepted(hr):
    errors = await _committee_refused(hr, league_city="no-such-city")
    assert _fields(errors) == {"league_city"} and "baotou" in errors[0]["message"]
    code = await hr.committee(league_city="baotou")
    assert (await ReviewCommittee.get(code=code)).league_city == "baotou"
    code = await hr.committee(league_city="")  # region level
    assert (await ReviewCommittee.get(code=code)).league_city is None


# -- 2. a CSV record the csv module refuses ------------------------------------------------


async def test_regression_import_csv_cell_over_field_limit_was_a_500(hr):
    code = await hr.committee()
    good = cert_row(code)
    data = csv_bytes([good, cert_row(code, specialty="电" * 140_000)])
    status, report = await hr.import_file(data, wait="1")
    assert status == 422, report
    assert report["errors"] == [{"row": 3, "field": "specialty", "message": report["message"]}]
    assert "第3行" in report["message"] and "专业" in report["message"]
    assert "未导入" in report["message"]
    assert not await Certificate.exists(number=good["number"])  # all or nothing


async def test_regression_import_csv_cell_over_field_limit_failed_with_a_generic_error(hr):
    code = await hr.committee()
    good = cert_row(code)
    data = csv_bytes([good, cert_row(code, specialty="电" * 140_000)])
    status, started = await hr.import_file(data)
    assert status == 202, started
    job = await _job(hr, started["status_url"])
    assert job["status"] == "rejected", job
    assert job["report"]["errors"][0]["row"] == 3
    assert job["report"]["errors"][0]["field"] == "specialty"
    assert "系统错误" not in job["report"]["message"]
    assert not await Certificate.exists(number=good["number"])


async def test_regression_import_csv_stray_quote_was_a_500(hr):
    """An unpaired quote swallows the rest of the file into one cell."""
    code = await hr.committee()
    rows = [cert_row(code, number=unique("Q"))]
    rows += [cert_row(code, specialty="x" * 2000) for _ in range(70)]
    data = csv_bytes(rows).replace("电气工程".encode(), '"电气工程'.encode(), 1)
    status, report = await hr.import_file(data, wait="1")
    assert status == 422, report
    assert report["errors"][0]["row"] == 2 and report["errors"][0]["field"] == "specialty"
    assert "引号" in report["message"]


# -- 3. ID numbers echoed in import messages -----------------------------------------------


def _shifted_csv(row: dict[str, Any]) -> bytes:
    """An export without quoting: the commas in the name shift every later cell right, so
    the ID number lands in the 系列 column."""
    line = ",".join(row.get(k, "") for k in KEYS).replace(row["name"], "张,三,明", 1)
    return ("\ufeff" + ",".join(HEADER_CN) + "\n" + line + "\n").encode()


async def test_regression_import_echoed_a_shifted_id_number_in_error_messages(hr):
    code = await hr.committee()
    row = cert_row(code, name="张三明")
    data = _shifted_csv(row)
    status, report = await hr.import_file(data, wait="1", dry_run="1")
    assert status == 422
    text = str(report)
    assert row["id_number"] not in text
    series = [e for e in report["errors"] if e["field"] == "series"]
    assert series and mask_id_number(row["id_number"]) in series[0]["message"]
    # the background job's report, kept in the state store, holds no ID number either
    status, started = await hr.import_file(data, dry_run="1")
    job = await _job(hr, started["status_url"])
    assert job["status"] == "rejected" and row["id_number"] not in str(job)
    stored = await hr.service.store.get_json(f"certimport:{started['import_id']}")
    assert row["id_number"] not in str(stored)


# -- 4. league-city scoping of details and the printable certificate -----------------------


async def test_regression_officer_read_another_league_citys_certificate(certs, hr):
    code = await hr.committee(league_city="baotou")
    cert = await hr.issued(code, name="王小明")
    details = f"/api/v1/admin/certificates/{cert['public_id']}"
    other = await Hr.league_officer(certs, "chifeng")
    status, body = await other.get(details)
    assert status == 403 and body["errors"][0]["field"] == "public_id"
    assert "王" not in str(body) and cert["number"] not in str(body)
    status, body = await other.get(details + "/printable.pdf")
    assert status == 403 and body["errors"][0]["field"] == "public_id"
    own = await Hr.league_officer(certs, "baotou")
    status, body = await own.get(details)
    assert status == 200 and body["number"] == cert["number"]
    resp = await certs.get(details + "/printable.pdf", headers=own.headers)
    assert resp.status == 200 and resp.content_type == "application/pdf"


async def test_regression_region_admin_still_reads_every_certificate(certs, hr):
    code = await hr.committee(league_city="baotou")
    cert = await hr.issued(code)
    details = f"/api/v1/admin/certificates/{cert['public_id']}"
    admin = await Hr.region_admin(certs)
    status, body = await admin.get(details)
    assert status == 200 and body["public_id"] == cert["public_id"]
    resp = await certs.get(details + "/printable.pdf", headers=admin.headers)
    assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
    # a certificate without a committee (exam): region administrators only
    exam = await hr.issued(None, obtained_by="考试", approval_document="内人社考字〔2021〕1号")
    officer = await Hr.league_officer(certs, "baotou")
    status, body = await officer.get(f"/api/v1/admin/certificates/{exam['public_id']}")
    assert status == 403 and body["errors"][0]["field"] == "public_id"
    assert (await admin.get(f"/api/v1/admin/certificates/{exam['public_id']}"))[0] == 200


# -- 5. NUL and other control characters ----------------------------------------------------


async def test_regression_nul_in_issued_certificate_was_a_500_on_postgresql(hr):
    code = await hr.committee()
    for field, value in (("specialty", "电气\u0000"), ("name", "张\u0000明"),
                         ("approval_document", "内人社\u001b职字"), ("number", "N\u0000")):
        status, body = await hr.issue(code, **{field: value})
        assert status == 422, (field, body)
        assert field in _fields(body["errors"]), body
        assert "控制字符" in str(body)


async def test_regression_nul_in_import_cell_was_a_500_on_postgresql(hr):
    code = await hr.committee()
    good = cert_row(code)
    data = csv_bytes([good, cert_row(code, qualification="高级\u0000工程师")])
    for mode in ({"wait": "1"}, {"wait": "1", "dry_run": "1"}):
        status, report = await hr.import_file(data, **mode)
        assert status == 422, report
        assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "qualification")]
        assert "资格名称" in report["errors"][0]["message"]
    assert not await Certificate.exists(number=good["number"])
    status, report = await hr.import_file(csv_bytes([good]), filename="a\u0000.csv", wait="1")
    assert status == 422 and report["errors"][0]["field"] == "filename"


async def test_regression_nul_in_committee_was_a_500_on_postgresql(hr):
    assert _fields(await _committee_refused(hr, name="评委会\u0000")) == {"name"}
    assert _fields(await _committee_refused(hr, code="C\u0000" + unique(""))) == {"code"}
    assert _fields(await _committee_refused(hr, built_by="人社厅\u0007")) == {"built_by"}
    assert _fields(await _committee_refused(
        hr, filing_number="备\u0000", filed_on="2020-06-20", valid_until="2023-06-19",
    )) == {"filing_number"}


async def test_regression_nul_in_revocation_and_blacklist_was_a_500_on_postgresql(certs, hr):
    cert = await hr.issued(await hr.committee())
    url = f"/api/v1/admin/certificates/{cert['public_id']}/revocation"
    good = {"revoked_on": "2022-01-01", "reason": "材料造假", "document": "内人社发〔2022〕1号"}
    for field, value in (("reason", "造假\u0000"), ("document", "文\u0000"),
                         ("document", "文\n号")):
        status, body = await hr.post(url, {**good, field: value})
        assert status == 422, body
        assert _fields(body["errors"]) == {field}
    assert (await hr.get(f"/api/v1/admin/certificates/{cert['public_id']}"))[1]["status"] \
        != "revoked"
    row = cert_row(await hr.committee())
    assert (await hr.post("/api/v1/admin/certificates", row))[0] == 201
    status, body = await hr.post("/api/v1/admin/blacklist", {
        "id_number": row["id_number"], "entered_on": "2022-01-01",
        "reason": "造假\u0000", "document": "文号"})
    assert status == 422 and _fields(body["errors"]) == {"reason"}
    # a reason may span lines; the revocation then goes through
    status, body = await hr.post(url, {**good, "reason": "材料造假\n经核实"})
    assert status == 201, body
    # a public id holding NUL is simply not found
    status, body = await hr.get("/api/v1/admin/certificates/%00abc")
    assert status == 404 and body["errors"][0]["field"] == "public_id"
    status, body = await hr.post("/api/v1/admin/certificates/%00abc/revocation", good)
    assert status == 404


async def test_regression_an_import_declared_too_large_was_read_before_it_was_refused(certs, hr):
    """A Content-Length over 64 MB was only refused after 64 MB had been read: now at
    once, before the body (here: never sent) is read."""
    from handlers.certificates_admin import IMPORT_MAX_BYTES

    url = certs.make_url("/api/v1/admin/certificates/imports")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"POST {url.raw_path}?filename=a.csv HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: {hr.headers['Authorization']}\r\n"
                 f"Content-Length: {IMPORT_MAX_BYTES + 1}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert head.split()[1] == b"413"


async def test_an_import_streamed_past_the_limit_is_413(certs, hr, monkeypatch):
    monkeypatch.setattr("handlers.certificates_admin.IMPORT_MAX_BYTES", 1000)

    async def chunks():  # chunked: no length to check first
        for _ in range(5):
            yield b"x" * 400

    resp = await certs.post("/api/v1/admin/certificates/imports", data=chunks(),
                            params={"filename": "a.csv"}, headers=hr.headers)
    assert resp.status == 413
    assert [e["field"] for e in (await resp.json())["errors"]] == ["file"]
