"""Offline check of a certificate QR code against the published public keys.

Why: an employer, an auditor or a court may want to check a certificate without trusting
the network or this service's web pages. Given the keys document (``GET /api/v1/keys``,
saved once), this tells whether a QR code (image file) or a token/URL was signed by one
of the published keys. It cannot tell whether the certificate was later revoked or is
void: that needs the online check, and the output says so.

Usage::

    python -m certificates.offline_verify --keys keys.json certificate-qr.png
    python -m certificates.offline_verify --keys keys.json 'https://.../v/v1.ed25519....'
    python -m certificates.offline_verify --keys keys.json --issued-on 2021-03-05 TOKEN

Exit status: 0 signature valid; 1 invalid signature, or no QR code readable; 2 usage
error or unreadable keys file.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from certificates.qr import token_from_url
from certificates.signing import InvalidToken, KeyRing, VerifiedToken

__all__ = ["main"]

OFFLINE_NOTE = (
    "说明：离线查验只能确认二维码签名的真伪，不能确认证书当前是否有效（例如是否已被撤销、"
    "评审委员会是否经过核准备案）。请扫码或打开上面的网址进行在线查验。"
)


def _read_qr_texts(path: Path) -> list[str]:
    """Texts of all QR codes found in the image at `path`."""
    import zxingcpp  # imported lazily: only image input needs the native reader
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        gray = image.convert("L")
    results = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in results if r.text]


def _check(text: str, ring: KeyRing, issued_on: date | None) -> VerifiedToken | None:
    try:
        return ring.verify_details(token_from_url(text), issued_on=issued_on)
    except InvalidToken:
        return None


def _print_valid(text: str, found: VerifiedToken, ring: KeyRing, expected_base: str | None) -> None:
    key = ring.get(found.kid)
    assert key is not None
    if key.valid_until:
        period = f"{key.valid_from.isoformat()} 至 {key.valid_until.isoformat()} 期间"
    else:
        period = f"{key.valid_from.isoformat()} 起"
    print("结果：签名有效，该二维码由已公布的密钥签发。")
    print(f"密钥编号：{found.kid}（算法 {found.alg}，用于签发 {period}发放的证书）")
    print(f"证书公开编号：{found.public_id}")
    if "://" in text:
        print(f"在线查验网址：{text.strip()}")
        if expected_base and not _same_site(text, expected_base):
            print(f"警告：二维码中的网址不属于 {expected_base}，请勿在该网址输入任何个人信息。")
    print(OFFLINE_NOTE)


def _same_site(url: str, base: str) -> bool:
    a, b = urlsplit(url.strip()), urlsplit(base.strip())
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower()) and a.path.startswith(
        b.path.rstrip("/") + "/"
    )


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # e.g. a long token is not a valid file name
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m certificates.offline_verify",
        description="离线查验职称电子证书二维码的签名（需要已公布的公钥文件）。",
    )
    parser.add_argument("source", help="二维码图片路径，或二维码中的网址/令牌")
    parser.add_argument("--keys", required=True, type=Path, help="公钥文件（/api/v1/keys 的内容）")
    parser.add_argument(
        "--issued-on",
        type=date.fromisoformat,
        help="证书上的发证日期（YYYY-MM-DD），给出时同时检查签名密钥在该日期是否有效",
    )
    parser.add_argument("--base-url", help="本系统的网址（可选），用于提示二维码是否指向其他网站")
    args = parser.parse_args(argv)

    try:
        ring = KeyRing.from_public_json(args.keys.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"错误：无法读取公钥文件 {args.keys}：{exc}", file=sys.stderr)
        return 2

    source_path = Path(args.source)
    if _is_file(source_path):
        try:
            texts = _read_qr_texts(source_path)
        except OSError as exc:
            print(f"错误：无法读取图片 {source_path}：{exc}", file=sys.stderr)
            return 1
        if not texts:
            print("结果：未能在图片中识别出二维码，请换一张更清晰、端正的照片。")
            return 1
    else:
        texts = [args.source]

    for text in texts:
        found = _check(text, ring, args.issued_on)
        if found is not None:
            _print_valid(text, found, ring, args.base_url)
            return 0
    print("结果：签名无效。该二维码不是由已公布的密钥签发的，或内容已被篡改、不完整。")
    if args.issued_on is not None:
        print("（也可能是签名密钥在所给发证日期时不在有效期内。）")
    print("请勿仅凭此证书认定职称，请联系发证机关核实。")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
