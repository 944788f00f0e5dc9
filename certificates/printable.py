"""The printable e-certificate: an A4 landscape page (PNG or PDF) with the fields and the QR.

Why raster with Pillow: the certificate must print the same everywhere, with Chinese text,
without depending on a PDF library's font embedding. The page is drawn at 150 dpi
(1754 x 1240 pixels, enough for text and for a QR code of ~60 modules at 6 px each) and
the PDF is that image on an A4 page. Policy 二(十)1: the electronic certificate has the
same force as paper, so the page says so and tells the reader to scan the code.

Fonts: Chinese glyphs need a CJK font. `find_cjk_font` takes the configured path
(CJK_FONT_PATH) or searches the usual Debian locations and fontconfig; when none is
found it raises `CjkFontNotFound` whose message says which package to install (the
README repeats it). The ID number is printed masked, as everywhere else.

Pure: no database, no web types. Rendering is CPU-bound (~100 ms): run it in an executor.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CjkFontNotFound",
    "PrintableCertificate",
    "find_cjk_font",
    "render_pdf",
    "render_png",
]

DPI = 150
PAGE = (1754, 1240)  # A4 landscape at 150 dpi
_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
)
INSTALL_HINT = (
    "no Chinese (CJK) font found for the printable certificate: install one, e.g. "
    "`apt-get install fonts-wqy-zenhei` (or fonts-noto-cjk), or set CJK_FONT_PATH to a "
    ".ttf/.ttc file with Chinese glyphs"
)
_RED = (155, 28, 28)
_INK = (33, 33, 33)
_MUTED = (110, 110, 110)
_PAPER = (252, 249, 240)


class CjkFontNotFound(RuntimeError):
    """No usable Chinese font; the message says how to install one."""


@dataclass(frozen=True)
class PrintableCertificate:
    """What the page shows, as display strings (dates already formatted)."""

    holder_name: str
    gender: str
    id_number_masked: str
    number: str
    series: str
    specialty: str
    qualification: str
    level: str
    obtained_by: str
    committee: str
    approval_document: str
    approved_on: str
    issued_on: str
    verify_url: str
    status_note: str = ""  # e.g. "已撤销": printed across the page when not valid


def _has_cjk_glyphs(path: Path) -> bool:
    try:
        font = ImageFont.truetype(str(path), 40)
    except OSError:
        return False
    # A font without the glyph draws a ".notdef" box: the same shape for any missing
    # character, so two different Chinese characters must give different bitmaps.
    a = font.getmask("证").getbbox()
    b = font.getmask("书").getbbox()
    return a is not None and b is not None and (
        bytes(font.getmask("证")) != bytes(font.getmask("书"))
    )


def _fontconfig_candidates() -> Iterable[str]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()})


def find_cjk_font(configured: str | None = None) -> Path:
    """The font file to draw Chinese with, or CjkFontNotFound (message: how to fix)."""
    if configured:
        path = Path(configured)
        if path.is_file() and _has_cjk_glyphs(path):
            return path
        raise CjkFontNotFound(f"CJK_FONT_PATH={configured} is not a font with Chinese glyphs; "
                              + INSTALL_HINT)
    for candidate in (*_CANDIDATES, *_fontconfig_candidates()):
        path = Path(candidate)
        if path.is_file() and _has_cjk_glyphs(path):
            return path
    raise CjkFontNotFound(INSTALL_HINT)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break `text` into lines no wider than `width` (character by character: Chinese
    has no spaces, and URLs must break anywhere)."""
    lines, line = [], ""
    for ch in text:
        if font.getlength(line + ch) > width and line:
            lines.append(line)
            line = ch
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def _page(cert: PrintableCertificate, qr_png: bytes, font_path: Path) -> Image.Image:
    def font(size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(font_path), size)

    w, h = PAGE
    page = Image.new("RGB", PAGE, _PAPER)
    draw = ImageDraw.Draw(page)
    # Frame: a thick and a thin red line, like the paper certificate.
    draw.rectangle((40, 40, w - 41, h - 41), outline=_RED, width=10)
    draw.rectangle((62, 62, w - 63, h - 63), outline=_RED, width=2)

    title = font(84)
    draw.text((w // 2, 150), "专业技术资格证书", font=title, fill=_RED, anchor="mm")
    draw.text((w // 2, 232), "内蒙古自治区职称电子证书", font=font(34), fill=_INK, anchor="mm")
    draw.line((180, 285, w - 180, 285), fill=_RED, width=2)

    label_font, value_font = font(30), font(32)
    rows = [
        ("姓　　名", cert.holder_name),
        ("性　　别", cert.gender),
        ("身份证号", cert.id_number_masked),
        ("资格名称", cert.qualification),
        ("级　　别", cert.level),
        ("系　　列", cert.series),
        ("专　　业", cert.specialty),
        ("取得方式", cert.obtained_by),
        ("评审机构", cert.committee),
        ("核准文号", cert.approval_document),
        ("核准日期", cert.approved_on),
        ("发证日期", cert.issued_on),
        ("证书编号", cert.number),
    ]
    x_label, x_value, y = 170, 370, 315
    value_width = PAGE[0] - 170 - 420 - 50 - x_value  # up to the QR code
    for label, value in rows:
        draw.text((x_label, y), label, font=label_font, fill=_MUTED)
        lines = _wrap(value or "—", value_font, value_width)[:2]
        for i, line in enumerate(lines):
            draw.text((x_value, y + i * 40), line, font=value_font, fill=_INK)
        y += 52 + 40 * (len(lines) - 1)

    qr = Image.open(io.BytesIO(qr_png)).convert("RGB")
    side = 420
    qr = qr.resize((side, side), Image.Resampling.NEAREST)
    qx, qy = w - 170 - side, 330
    page.paste(qr, (qx, qy))
    draw.rectangle((qx - 2, qy - 2, qx + side + 1, qy + side + 1), outline=_MUTED, width=1)
    draw.text((qx + side // 2, qy + side + 40), "微信或手机相机扫码查验真伪", font=font(30),
              fill=_INK, anchor="mm")
    url_font = font(20)
    for i, line in enumerate(_wrap(cert.verify_url, url_font, side + 40)[:4]):
        draw.text((qx + side // 2, qy + side + 82 + i * 26), line, font=url_font, fill=_MUTED,
                  anchor="mm")

    foot = font(26)
    draw.text((w // 2, h - 128), "电子证书与纸质证书具有同等效力。证书状态以扫码查验结果为准。",
              font=foot, fill=_INK, anchor="mm")
    draw.text((w // 2, h - 90), "本证书信息来自内蒙古人才信息库，身份证号码已隐去部分数字。",
              font=font(22), fill=_MUTED, anchor="mm")

    if cert.status_note:
        stamp = Image.new("RGBA", PAGE, (0, 0, 0, 0))
        sdraw = ImageDraw.Draw(stamp)
        sdraw.text((int(w * 0.36), h // 2), cert.status_note, font=font(220),
                   fill=(200, 30, 30, 90), anchor="mm")
        stamp = stamp.rotate(20, resample=Image.Resampling.BICUBIC)
        page = Image.alpha_composite(page.convert("RGBA"), stamp).convert("RGB")
    return page


def render_png(cert: PrintableCertificate, qr_png: bytes, font_path: Path) -> bytes:
    """The certificate page as PNG bytes (150 dpi A4 landscape)."""
    buffer = io.BytesIO()
    _page(cert, qr_png, font_path).save(buffer, format="PNG", dpi=(DPI, DPI), optimize=True)
    return buffer.getvalue()


def render_pdf(cert: PrintableCertificate, qr_png: bytes, font_path: Path) -> bytes:
    """The certificate page as a one-page A4 PDF."""
    buffer = io.BytesIO()
    _page(cert, qr_png, font_path).save(
        buffer, format="PDF", resolution=DPI, title="专业技术资格证书"
    )
    return buffer.getvalue()
