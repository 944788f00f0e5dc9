"""Key rotation end to end, the offline verifier command on a QR image served by the
service (also photographed), and the printable certificate (PDF and PNG)."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import pytest
from PIL import Image

from bot.app import create_app
from certificates.printable import CjkFontNotFound, find_cjk_font
from certificates.signing import KeyRing, rotate_keyset
from handlers.certificates_commands import register
from tests.certificates.cert_testkit import decode_qr, photo_like, seeded_key
from tests.certificates_service.support import Hr
from tests.conftest import run_cli


async def test_rotation_keeps_old_certificates_valid(aiohttp_client, make_settings, tmp_path):
    path = tmp_path / "keys.json"
    KeyRing([seeded_key("kA", date(2019, 1, 1))]).save_keyset(path)
    before = await aiohttp_client(create_app(make_settings(signing_keyset_path=str(path))))
    hr = await Hr.region_admin(before)
    code = await hr.committee(filed_on="2020-06-20", valid_until="2023-06-19")
    old = await hr.issued(code, issued_on="2021-03-15")
    assert ".kA." in old["token"]

    rotate_keyset(path, new_kid="kB", effective=date(2022, 1, 1))
    after = await aiohttp_client(create_app(make_settings(signing_keyset_path=str(path))))
    hr = await Hr.region_admin(after)
    keys = (await (await after.get("/api/v1/keys")).json())["keys"]
    assert [(k["kid"], k["valid_until"]) for k in keys] == [("kA", "2021-12-31"), ("kB", None)]

    body = await (await after.get(f"/api/v1/certificates/verify/{old['token']}")).json()
    assert body["status"] == "valid", "a certificate stays valid under the key of its issue day"
    new = await hr.issued(code, issued_on="2022-05-10", approved_on="2022-05-01")
    assert ".kB." in new["token"]
    assert (await after.get(f"/v/{new['token']}")).status == 200

    # The retired key cannot vouch for a certificate dated after its retirement.
    stolen = KeyRing.from_keyset_file(path).sign(new["public_id"], "kA", on=date(2021, 12, 31))
    assert (await after.get(f"/v/{stolen}")).status == 404


async def test_offline_verifier_command_on_served_qr(certs, hr, tmp_path):
    issued = await hr.issued(await hr.committee())
    png = await (await certs.get(issued["qr_png"])).read()
    keys = tmp_path / "keys.json"
    keys.write_bytes(await (await certs.get("/api/v1/keys")).read())
    qr = tmp_path / "qr.png"
    qr.write_bytes(png)
    photo = tmp_path / "photo.png"
    photo_like(png, scale=1.61, rotate=-17, blur=0.7).save(photo)

    result = await asyncio.to_thread(
        run_cli, "certificates", "verify-offline", str(photo), "--keys", str(keys),
        "--issued-on", "2021-03-15")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "签名有效" in result.stdout and issued["public_id"] in result.stdout

    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["certificates", "verify-offline", str(qr), "--keys", str(keys)])
    assert args.func(args) == 0
    forged = KeyRing([seeded_key("k2019", date(2019, 1, 1), seed="attacker")]).sign(
        issued["public_id"], on=date(2021, 3, 15))
    args = parser.parse_args(["certificates", "verify-offline", forged, "--keys", str(keys)])
    assert args.func(args) == 1


async def test_printable_certificate_pdf_and_png(certs, hr):
    issued = await hr.issued(await hr.committee(), name="张三明")
    base = f"/api/v1/admin/certificates/{issued['public_id']}/printable"
    resp = await certs.get(base + ".pdf", headers=hr.headers)
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert (await resp.read()).startswith(b"%PDF")
    resp = await certs.get(base + ".png", headers=hr.headers)
    assert resp.status == 200
    page = Image.open(io.BytesIO(await resp.read()))
    assert page.size == (1754, 1240)
    assert decode_qr(page) == [issued["verify_url"]], "the printed QR code must scan"
    assert (await certs.get(base + ".png")).status == 401


async def test_missing_cjk_font_fails_with_instructions(aiohttp_client, cert_settings, tmp_path):
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"nothing")
    with pytest.raises(CjkFontNotFound, match="apt-get install fonts-wqy-zenhei"):
        find_cjk_font(str(bogus))
    client = await aiohttp_client(create_app(cert_settings(cjk_font_path=str(bogus))))
    hr = await Hr.region_admin(client)
    issued = await hr.issued(await hr.committee())
    status, body = await hr.get(f"/api/v1/admin/certificates/{issued['public_id']}/printable.pdf")
    assert status == 503 and "中文字体" in body["errors"][0]["message"]
