"""QR images are made once, without anybody asking for them: at issue for a single
certificate, after the commit for an import (in the server's background, or by the
import command with a progress bar). Read back with zxing-cpp."""

from __future__ import annotations

import asyncio
import time

from models import Certificate, CertificateQr
from tests.certificates.cert_testkit import decode_qr
from tests.certificates_service.support import bulk_rows, csv_bytes
from tests.conftest import run_cli


async def _images(number_prefix: str) -> dict[str, CertificateQr]:
    certs = await Certificate.filter(number__startswith=number_prefix)
    rows = await CertificateQr.filter(certificate_id__in=[c.id for c in certs])
    by_id = {r.certificate_id: r for r in rows}
    return {c.token: by_id[c.id] for c in certs if c.id in by_id}


def _check(images: dict[str, CertificateQr], base: str) -> None:
    for token, row in images.items():
        assert decode_qr(bytes(row.png)) == [f"{base}/v/{token}"]
        assert row.svg.startswith("<svg") and row.base_url == base


async def test_single_issue_stores_the_images_at_once(certs, hr):
    issued = await hr.issued(await hr.committee())
    cert = await Certificate.get(public_id=issued["public_id"])
    row = await CertificateQr.get(certificate_id=cert.id)  # no request for it was made
    assert decode_qr(bytes(row.png)) == [issued["verify_url"]]


async def test_api_import_renders_them_in_the_background(certs, hr):
    rows = bulk_rows(3, await hr.committee(), tag="QRAPI")
    status, body = await hr.import_file(csv_bytes(rows), wait="1")
    assert status in (200, 201), body
    base = hr.service.renderer.public_base_url
    deadline = time.monotonic() + 90  # a worker process starts, then ~50 ms per code
    for _ in range(900):
        images = await _images("QRAPI-")
        if len(images) == 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(images) == 3
    _check(images, base)


async def test_cli_import_renders_them_after_the_commit(hr, database_url, tmp_path,
                                                        keyset_path):
    rows = bulk_rows(4, await hr.committee(), tag="QRCLI")
    path = tmp_path / "export.csv"
    path.write_bytes(csv_bytes(rows))
    env = {"DATABASE_URL": database_url, "SIGNING_KEYSET_PATH": str(keyset_path),
           "PUBLIC_BASE_URL": "https://zc.example.cn"}
    result = await asyncio.to_thread(run_cli, "certificates", "import", str(path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "已生成4张证书的二维码图片" in result.stdout
    assert "二维码 [##############################] 100.0% 4/4 行" in result.stderr
    images = await _images("QRCLI-")
    assert len(images) == 4
    _check(images, "https://zc.example.cn")
