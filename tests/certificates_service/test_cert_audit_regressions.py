"""Regressions found in an audit of the public verification path: odd form bodies on the
page, a stale "valid" after a revocation, certificates deleted from the database."""

from __future__ import annotations

import asyncio

from handlers.certificates_keys import CERT_LOG, CERTS
from models import Certificate, CertificateQr, VerificationEvent

REVOCATION = {"revoked_on": "2024-09-01", "reason": "申报材料弄虚作假，依规撤销",
              "document": "内人社职撤〔2024〕9号"}


async def _status(client, token: str) -> str:
    resp = await client.get(f"/api/v1/certificates/verify/{token}")
    body = await resp.json(content_type=None)
    return body["code"] if resp.status == 404 else body["status"]


async def _delete(public_id: str) -> None:
    """What a DBA removing a wrongly imported row does."""
    cert = await Certificate.get(public_id=public_id)
    await CertificateQr.filter(certificate_id=cert.id).delete()
    await cert.delete()


async def test_regression_match_form_not_utf8_was_a_500(certs, hr):
    token = (await hr.issued(await hr.committee()))["token"]
    form = "application/x-www-form-urlencoded"
    bodies = [
        (b"answer=\xff\xfe", form),
        (b"answer=x", form + "; charset=no-such-charset"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"abc", "multipart/form-data"),
    ]
    for body, ctype in bodies:
        resp = await certs.post(f"/v/{token}", data=body, headers={"Content-Type": ctype})
        assert resp.status == 422, (body, ctype)
        html = await resp.text()
        assert 'data-status="valid"' in html and "无法读取提交的内容" in html
        resp = await certs.post("/v/not-a-token", data=body, headers={"Content-Type": ctype})
        assert resp.status == 404, (body, ctype)
    # A readable form still gets its answer.
    resp = await certs.post(f"/v/{token}", data={"answer": "张三明"})
    assert resp.status == 200 and "一致：与持证人的姓名一致" in await resp.text()


async def test_regression_scan_read_before_revocation_cached_it_as_valid(certs, hr):
    service = certs.server.app[CERTS]
    issued = await hr.issued(await hr.committee())
    token = issued["token"]
    real = service._load_pairs
    read, resume = asyncio.Event(), asyncio.Event()

    async def slow(public_ids):
        found = await real(public_ids)  # reads the certificate before the revocation
        read.set()
        await resume.wait()
        return found

    service._load_pairs = slow
    scan = asyncio.create_task(_status(certs, token))
    await read.wait()
    service._load_pairs = real
    status, data = await hr.post(
        f"/api/v1/admin/certificates/{issued['public_id']}/revocation", REVOCATION)
    assert status == 201, data
    await asyncio.sleep(0.3)  # the background poll has seen the invalidation
    resume.set()
    assert await scan == "valid"  # it started before the revocation: fair enough
    # ...but what it read must not be served afterwards.
    assert await _status(certs, token) == "revoked"
    assert 'data-status="revoked"' in await (await certs.get(f"/v/{token}")).text()


async def test_regression_deleted_certificate_qr_and_match_were_500s(certs, hr):
    issued = await hr.issued(await hr.committee(), name="张三明")
    token = issued["token"]
    assert (await certs.get(f"/v/{token}")).status == 200  # its record is cached now
    await _delete(issued["public_id"])
    for path in (f"/v/{token}/qr.png", f"/v/{token}/qr.svg"):
        assert (await certs.get(path)).status == 404, path
    resp = await certs.post(f"/v/{token}", data={"answer": "张三明"})
    assert resp.status == 404 and 'data-status="not_genuine"' in await resp.text()
    resp = await certs.post(f"/api/v1/certificates/verify/{token}/match",
                            json={"name": "张三明"})
    assert resp.status == 404
    assert (await resp.json(content_type=None))["code"] == "certificate_not_found"
    # The cached record was dropped: every URL now says 查无此证.
    assert (await certs.get(f"/v/{token}")).status == 404
    assert await _status(certs, token) == "certificate_not_found"


async def test_regression_log_entry_of_deleted_certificate_blocked_the_verification_log(
    certs, hr
):
    code = await hr.committee()
    gone, kept = await hr.issued(code), await hr.issued(code)
    log = certs.server.app[CERT_LOG]
    await log.flush()
    assert (await certs.get(f"/v/{gone['token']}")).status == 200
    await _delete(gone["public_id"])
    assert (await certs.get(f"/v/{gone['token']}")).status == 200  # cached: logged again
    assert (await certs.get(f"/v/{kept['token']}")).status == 200
    await log.flush()  # raised IntegrityError, and kept every entry for a retry forever
    assert await VerificationEvent.filter(certificate__public_id=kept["public_id"]).count() == 1
    assert (await log.flush()) == 0
