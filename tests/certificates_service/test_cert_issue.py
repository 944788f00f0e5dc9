"""Issuing through the admin API: only a filed committee, within its filing and scope
(二(六)6, 二(六)2, 二(五)2); exchanges need the original issuer (二(十)2); roles."""

from __future__ import annotations

from models import Certificate, CertificateQr, Person
from tests.certificates.cert_testkit import decode_qr
from tests.certificates_service.support import Hr, cert_row


async def test_issue_ok_stores_encrypted_id_and_qr_rendered_once(hr, certs):
    code = await hr.committee()
    row = cert_row(code)
    status, data = await hr.post("/api/v1/admin/certificates", row)
    assert status == 201, data
    assert len(data["public_id"]) == 22
    assert row["id_number"] not in str(data)
    cert = await Certificate.get(public_id=data["public_id"]).select_related("person")
    person: Person = cert.person
    assert row["id_number"] not in person.id_number_enc
    assert hr.service.cipher.decrypt(person.id_number_enc) == row["id_number"]
    assert person.gender in ("M", "F")
    # QR rendered at issue, stored, and it reads back with an independent reader.
    qr = await CertificateQr.get(certificate_id=cert.id)
    assert decode_qr(bytes(qr.png)) == [data["verify_url"]]
    resp = await certs.get(data["qr_png"])
    assert resp.status == 200 and resp.content_type == "image/png"
    assert await resp.read() == bytes(qr.png)
    resp = await certs.get(data["qr_svg"])
    assert resp.status == 200 and (await resp.text()).startswith("<svg")


async def test_refused_for_unfiled_committee(hr):
    code = await hr.committee(filing_number=None, filed_on=None, valid_until=None)
    status, data = await hr.issue(code)
    assert status == 422
    assert data["code"] == "issue_refused"
    assert any("未经人力资源社会保障部门核准备案" in e["message"] for e in data["errors"])
    assert all(e["field"] == "committee" for e in data["errors"])


async def test_refused_when_filing_expired_before_approval(hr):
    code = await hr.committee(filed_on="2017-01-01", valid_until="2019-12-31")
    status, data = await hr.issue(code, approved_on="2021-03-01")
    assert status == 422
    assert any("到期" in e["message"] for e in data["errors"])


async def test_refused_out_of_scope_series_and_level(hr):
    code = await hr.committee()
    status, data = await hr.issue(code, series="卫生", specialty="护理", qualification="主任护师")
    assert status == 422
    assert any("不含卫生系列" in e["message"] for e in data["errors"])
    status, data = await hr.issue(code, level="中级", qualification="工程师")
    assert status == 422
    assert any("不含中级职称" in e["message"] for e in data["errors"])


async def test_refused_bad_id_and_dates_with_field_names(hr):
    code = await hr.committee()
    row = cert_row(code)
    bad = row["id_number"][:-1] + ("0" if row["id_number"][-1] != "0" else "1")
    status, data = await hr.post("/api/v1/admin/certificates",
                                 {**row, "id_number": bad, "issued_on": "2021-02-30"})
    assert status == 422
    fields = {e["field"] for e in data["errors"]}
    assert {"id_number", "issued_on"} <= fields
    assert bad not in str(data)


async def test_exchange_needs_original_issuer_and_no_committee(hr):
    status, data = await hr.issue(None, obtained_by="区外证书换发", issued_on="2024-05-01",
                                  approved_on="2024-04-20")
    assert status == 422
    assert [e["field"] for e in data["errors"]] == ["original_issuer"]
    status, data = await hr.issue(None, obtained_by="区外证书换发", issued_on="2024-05-01",
                                  approved_on="2024-04-20", original_number="BJ-2019-1",
                                  original_issuer="北京市人力资源和社会保障局")
    assert status == 201, data
    cert = await Certificate.get(public_id=data["public_id"])
    assert cert.obtained_by == "exchange" and cert.original_issuer.startswith("北京")


async def test_duplicate_number_and_name_mismatch_refused(hr):
    code = await hr.committee()
    first = cert_row(code)
    status, _ = await hr.post("/api/v1/admin/certificates", first)
    assert status == 201
    status, data = await hr.post("/api/v1/admin/certificates", {**first})
    assert status == 422 and data["errors"][0]["field"] == "number"
    other = cert_row(code, id_number=first["id_number"], name="李四")
    status, data = await hr.post("/api/v1/admin/certificates", other)
    assert status == 422 and data["errors"][0]["field"] == "name"


async def test_committee_filing_longer_than_three_years_refused(hr):
    status, data = await hr.post("/api/v1/admin/committees", {
        "code": "TOO-LONG-1", "name": "某评委会", "series": ["卫生"], "levels": ["intermediate"],
        "filing_number": "某备〔2020〕1号", "filed_on": "2020-01-10", "valid_until": "2024-12-31",
    })
    assert status == 422
    assert data["errors"][0]["field"] == "valid_until"
    assert "3年" in data["errors"][0]["message"]


async def test_admin_endpoints_need_token_and_role(certs, hr):
    resp = await certs.post("/api/v1/admin/certificates", json={})
    assert resp.status == 401
    officer = await Hr.league_officer(certs, "baotou")
    code = await hr.committee()  # a region-level committee
    status, data = await officer.issue(code)
    assert status == 422
    assert "本盟市" in data["errors"][0]["message"]
    own = await officer.committee(league_city="baotou", name="包头市工程技术中级评审委员会",
                                  levels=["intermediate"])
    status, data = await officer.issue(own, level="中级", qualification="工程师")
    assert status == 201, data
    status, _ = await officer.post(f"/api/v1/admin/certificates/{data['public_id']}/revocation",
                                   {"revoked_on": "2024-01-01", "reason": "x", "document": "y"})
    assert status == 403
    status, _ = await officer.post("/api/v1/admin/committees",
                                   {"code": "X1", "name": "x", "league_city": "hohhot"})
    assert status == 403
    # Binding codes: only for holders of the officer's own league city's certificates.
    region_holder = cert_row(code)
    assert (await hr.post("/api/v1/admin/certificates", region_holder))[0] == 201
    status, _ = await officer.post("/api/v1/admin/talent/binding-codes",
                                   {"id_number": region_holder["id_number"]})
    assert status == 403
    own_holder = cert_row(own, level="中级", qualification="工程师")
    assert (await officer.post("/api/v1/admin/certificates", own_holder))[0] == 201
    status, body = await officer.post("/api/v1/admin/talent/binding-codes",
                                      {"id_number": own_holder["id_number"]})
    assert status == 201 and len(body["code"]) == 8
