"""QR images: exact read-back with an independent reader, photo-like distortions, cache."""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from PIL import Image

from certificates.qr import (
    QrRenderer,
    qr_matrix,
    qr_png,
    qr_svg,
    token_from_url,
    verification_url,
)
from certificates.signing import new_public_id
from tests.certificates.cert_testkit import decode_qr, photo_like

BASE = "https://zc.rst.nmg.gov.cn"


@pytest.fixture
def token(ring) -> str:
    return ring.sign(new_public_id(), on=date(2023, 6, 1))


def test_url_building_and_parsing(token):
    url = verification_url(BASE + "/", token)
    assert url == f"{BASE}/v/{token}"
    assert token_from_url(url) == token
    assert token_from_url(f"  {url}/?from=singlemessage#x \n") == token
    assert token_from_url(token) == token
    assert token_from_url("https://example.com/other/path") == ""


def test_png_reads_back_exactly_with_zxing(token):
    url = verification_url(BASE, token)
    png = qr_png(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_qr(png) == [url]


def test_png_is_deterministic(token):
    url = verification_url(BASE, token)
    assert qr_png(url) == qr_png(url)
    assert qr_svg(url) == qr_svg(url)


def test_error_correction_level_q_and_size(token):
    import qrcode

    url = verification_url(BASE, token)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    code.add_data(url)
    code.make(fit=True)
    matrix = qr_matrix(url)
    assert len(matrix) == 17 + 4 * code.version + 8  # same version at level Q + 4-module border
    assert code.version <= 11  # ~150-byte URL stays small enough for phone cameras


@pytest.mark.parametrize(
    ("scale", "rotate", "blur"),
    [(1.37, 12.0, 0.6), (0.83, -14.0, 0.5), (2.21, 10.0, 1.0), (1.5, 45.0, 0.0)],
)
def test_photo_like_variants_still_decode(token, scale, rotate, blur):
    url = verification_url(BASE, token)
    image = photo_like(qr_png(url), scale=scale, rotate=rotate, blur=blur)
    assert decode_qr(image) == [url]


def test_damaged_code_still_decodes_thanks_to_level_q(token):
    # A stamp or stain over part of the code: blank a block away from the finder patterns.
    url = verification_url(BASE, token)
    image = Image.open(io.BytesIO(qr_png(url))).convert("L")
    w, _ = image.size
    image.paste(255, (w // 2 - w // 12, w // 2 - w // 12, w // 2 + w // 12, w // 2 + w // 12))
    assert decode_qr(image) == [url]


def _rasterise_svg(svg: str, module_px: int = 6) -> Image.Image:
    """Minimal rasteriser for our own path format: absolute/relative moves and
    horizontal segments of a 1-module-wide stroke centred on the row."""
    import re

    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    n = int(root.get("viewBox").split()[2])
    image = Image.new("L", (n * module_px, n * module_px), 255)
    d = root.find("{http://www.w3.org/2000/svg}path").get("d")
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", d):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:
            end = x + float(a)
            top = round((y - 0.5) * module_px)
            image.paste(0, (round(x * module_px), top, round(end * module_px), top + module_px))
            x = end
    return image


def test_svg_is_valid_compact_and_matches_the_matrix(token):
    url = verification_url(BASE, token)
    svg = qr_svg(url)
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg) < 8_000
    assert decode_qr(_rasterise_svg(svg)) == [url]


def test_renderer_caches_by_token(token, ring):
    renderer = QrRenderer(BASE, cache_size=2)
    first = renderer.png(token)
    assert renderer.png(token) is first
    assert decode_qr(first) == [renderer.url(token)]
    assert renderer.svg(token) == qr_svg(renderer.url(token))
    info = renderer.cache_info()
    assert (info["png_hits"], info["png_misses"]) == (1, 1)
    others = [ring.sign(new_public_id(), on=date(2023, 6, 1)) for _ in range(2)]
    for other in others:
        renderer.png(other)
    assert renderer.cache_info()["png_size"] == 2  # LRU bound
    renderer.png(token)
    assert renderer.cache_info()["png_misses"] == 4  # evicted, rendered again


def test_renderer_is_thread_safe(token):
    renderer = QrRenderer(BASE)
    results: list[bytes] = []

    def work():
        results.append(renderer.png(token))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1


def test_cache_can_be_disabled(token):
    renderer = QrRenderer(BASE, cache_size=0)
    renderer.png(token)
    renderer.png(token)
    assert renderer.cache_info()["png_misses"] == 2
    assert renderer.cache_info()["png_size"] == 0


def _rasterise_svg_path(svg: str, scale: int = 10) -> Image.Image:
    """Draw our SVG's path (absolute M moves, relative h/m runs) with PIL, independently
    of the code that wrote it, so the SVG itself is what zxing reads."""
    import re

    root = ET.fromstring(svg)  # noqa: S314 - our own output
    size = int(root.get("viewBox").split()[2])
    img = Image.new("L", (size * scale, size * scale), 255)
    ns = "{http://www.w3.org/2000/svg}"
    d = root.find(f"{ns}path").get("d")
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])([-\d.]+)(?:[ ,]([-\d.]+))?", d):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:  # h: a horizontal black run of length a on row y-0.5
            top = int((y - 0.5) * scale)
            img.paste(0, (int(x * scale), top, int((x + float(a)) * scale), top + scale))
            x += float(a)
    return img


def test_svg_drawn_independently_decodes(token):
    url = verification_url(BASE, token)
    assert decode_qr(_rasterise_svg_path(qr_svg(url))) == [url]


def test_stored_images_are_level_q_read_by_zxing(token):
    """A reader we did not write reports the error-correction level of what we store;
    the SVG draws the same modules as the PNG (one encoding makes both)."""
    import io

    import zxingcpp
    from PIL import Image

    from certificates.qr import qr_images

    url = verification_url(BASE, token)
    png, svg = qr_images(url)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    assert [(b.text, b.ec_level) for b in found] == [(url, "Q")]
    assert (png, svg) == (qr_png(url), qr_svg(url))
