"""The offline verifier, end to end as a subprocess on real files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date

import pytest

from certificates.offline_verify import main
from certificates.qr import qr_png, verification_url
from certificates.signing import KeyRing
from tests.certificates.cert_testkit import K2022_FROM, REPO, photo_like, seeded_key

BASE = "https://zc.rst.nmg.gov.cn"
PID = "Q2VydGlmaWNhdGUwMDAwMQ"
ISSUED = date(2021, 3, 15)


@pytest.fixture
def keys_file(ring, tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(ring.public_keys_json(), encoding="utf-8")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certificates.offline_verify", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_subprocess_valid_png(ring, keys_file, tmp_path):
    token = ring.sign(PID, on=ISSUED)
    png = tmp_path / "qr.png"
    png.write_bytes(qr_png(verification_url(BASE, token)))
    result = run_cli("--keys", str(keys_file), str(png))
    assert result.returncode == 0, result.stderr
    assert "签名有效" in result.stdout
    assert "k2019" in result.stdout and PID in result.stdout
    assert "离线查验只能确认二维码签名的真伪" in result.stdout


def test_subprocess_photo_of_forged_code(keys_file, tmp_path):
    forger = KeyRing([seeded_key("k2022", K2022_FROM, seed="attacker")])
    token = forger.sign(PID, on=date(2023, 1, 1))
    png = tmp_path / "forged.jpg.png"
    photo_like(qr_png(verification_url(BASE, token))).save(png, format="PNG")
    result = run_cli("--keys", str(keys_file), str(png))
    assert result.returncode == 1
    assert "签名无效" in result.stdout


def test_photo_like_png_in_process(ring, keys_file, tmp_path, capsys):
    token = ring.sign(PID, on=ISSUED)
    buffer = io.BytesIO()
    photo_like(qr_png(verification_url(BASE, token)), rotate=-11).save(buffer, format="PNG")
    png = tmp_path / "photo.png"
    png.write_bytes(buffer.getvalue())
    assert main(["--keys", str(keys_file), "--issued-on", "2021-03-15", str(png)]) == 0
    assert "签名有效" in capsys.readouterr().out


def test_token_and_url_arguments(ring, keys_file, capsys):
    token = ring.sign(PID, on=ISSUED)
    assert main(["--keys", str(keys_file), token]) == 0
    assert main(["--keys", str(keys_file), verification_url(BASE, token)]) == 0
    assert main(["--keys", str(keys_file), token[:-5]]) == 1
    capsys.readouterr()


def test_issue_date_outside_key_validity(ring, keys_file, capsys):
    token = ring.sign(PID, on=ISSUED)
    assert main(["--keys", str(keys_file), "--issued-on", "2023-01-01", token]) == 1
    assert "不在有效期内" in capsys.readouterr().out


def test_other_site_warning(ring, keys_file, capsys):
    token = ring.sign(PID, on=ISSUED)
    url = verification_url("https://evil.example.com", token)
    assert main(["--keys", str(keys_file), "--base-url", BASE, url]) == 0
    assert "警告" in capsys.readouterr().out
    assert main(["--keys", str(keys_file), "--base-url", BASE, verification_url(BASE, token)]) == 0
    assert "警告" not in capsys.readouterr().out


def test_image_without_qr(keys_file, tmp_path, capsys):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    assert main(["--keys", str(keys_file), str(blank)]) == 1
    assert "未能在图片中识别出二维码" in capsys.readouterr().out


def test_bad_keys_file(tmp_path, ring, capsys):
    bad = tmp_path / "keys.json"
    bad.write_text(ring.keyset_document().__repr__(), encoding="utf-8")
    assert main(["--keys", str(bad), "anything"]) == 2
    private = tmp_path / "private.json"
    private.write_text(json.dumps(ring.keyset_document()), encoding="utf-8")
    assert main(["--keys", str(private), "anything"]) == 2  # refuses a private keyset
    assert main(["--keys", str(tmp_path / "missing.json"), "anything"]) == 2
    capsys.readouterr()
