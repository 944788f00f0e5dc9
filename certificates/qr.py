"""QR images of certificate verification URLs: ``{PUBLIC_BASE_URL}/v/{token}``.

Why these settings: the QR code is printed on paper certificates and shown on phones,
then scanned by employers, sometimes from a photo of a photocopy. Error-correction
level Q (about 25 % of codewords recoverable) survives stains, folds and a stamp
overlapping the corner, and still keeps a ~150-byte URL at version 10-11. The quiet zone
is the standard 4 modules.

Output is deterministic for the same URL and options (same mask choice, no timestamps in
the PNG), so images can be cached by token and compared byte for byte in tests.

Generation is CPU-bound (~15-20 ms, mostly the mask search of the `qrcode` library) and
synchronous on purpose: the web layer runs it in an executor, e.g.
``await loop.run_in_executor(None, renderer.png, token)``. `QrRenderer` keeps an
in-memory LRU cache keyed by token (entries: PNG ~1.5 KB, SVG ~6 KB; default 512 entries
per format, i.e. a few MB), guarded by a lock so that executor threads can share it. The
cache is per process; it only saves CPU when the same certificate is shown repeatedly
(the holder's page, re-scans), which is the common case.

PNG rendering uses the library's Pillow backend. SVG is serialised here from the
library's module matrix as one stroked path with one segment per horizontal run of dark
modules (~6 KB for a version-11 code), about a fifth of the library's per-module SVG.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

import qrcode
import qrcode.constants
import qrcode.image.pil

__all__ = [
    "QrRenderer",
    "qr_images",
    "qr_matrix",
    "qr_png",
    "qr_svg",
    "token_from_url",
    "verification_url",
]

VERIFY_PATH = "/v/"
DEFAULT_BOX_SIZE = 8  # pixels per module in the PNG
DEFAULT_BORDER = 4  # quiet zone in modules (the standard's minimum)


def verification_url(base_url: str, token: str) -> str:
    """``{base_url}/v/{token}``; tokens are URL-safe, so no escaping is needed."""
    return f"{base_url.rstrip('/')}{VERIFY_PATH}{token}"


def token_from_url(text: str) -> str:
    """The token inside a verification URL, or `text` itself if it is not a URL.

    Tolerates what scanners and chat apps add: surrounding whitespace, a query string
    or fragment, a trailing slash. Does not verify anything.
    """
    text = text.strip()
    if "://" in text:
        path = urlsplit(text).path
        head, sep, tail = path.rpartition(VERIFY_PATH)
        return tail.strip("/") if sep else ""
    return text


def _make(data: str, border: int, box_size: int = DEFAULT_BOX_SIZE) -> qrcode.QRCode:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=box_size, border=border
    )
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_matrix(data: str, *, border: int = DEFAULT_BORDER) -> list[list[bool]]:
    """The module matrix (True = dark) including the quiet zone."""
    return _make(data, border).get_matrix()


def qr_png(data: str, *, box_size: int = DEFAULT_BOX_SIZE, border: int = DEFAULT_BORDER) -> bytes:
    """PNG bytes (1-bit black on white) of the QR code for `data`."""
    image = _make(data, border, box_size).make_image(image_factory=qrcode.image.pil.PilImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def qr_svg(data: str, *, border: int = DEFAULT_BORDER, size: str = "40mm") -> str:
    """Standalone SVG text of the QR code for `data`, `size` wide and high.

    Coordinates are in modules. Each horizontal run of dark modules is one stroked
    segment of width 1 along the middle of its row ("M4 7.5h3m2 0h1..."), which keeps
    the file small; ``shape-rendering="crispEdges"`` keeps module edges sharp.
    """
    return _svg(qr_matrix(data, border=border), size)


def qr_images(data: str, *, box_size: int = DEFAULT_BOX_SIZE,
              border: int = DEFAULT_BORDER) -> tuple[bytes, str]:
    """PNG and SVG of one QR code, from one encoding (the mask search, most of the
    cost, runs once): what a certificate's issue stores."""
    code = _make(data, border, box_size)
    buffer = io.BytesIO()
    code.make_image(image_factory=qrcode.image.pil.PilImage).save(buffer)
    return buffer.getvalue(), _svg(code.get_matrix())


def _svg(matrix: list[list[bool]], size: str = "40mm") -> str:
    n = len(matrix)
    commands = []
    for y, row in enumerate(matrix):
        pen = None  # x where the previous run of this row ended
        x = 0
        while x < n:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < n and row[x]:
                x += 1
            move = f"M{start} {y}.5" if pen is None else f"m{start - pen} 0"
            commands.append(f"{move}h{x - start}")
            pen = x
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{size}" '
        f'height="{size}" viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path stroke="#000" stroke-width="1" fill="none" d="{"".join(commands)}"/></svg>\n'
    )


class _LruCache:
    """A tiny thread-safe LRU map. Two threads missing on the same key may both
    compute the value; the result is identical, so that is harmless."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[str, bytes | str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: str, make: Callable[[], bytes | str]) -> bytes | str:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
        value = make()
        if self._capacity > 0:
            with self._lock:
                self._data[key] = value
                self._data.move_to_end(key)
                while len(self._data) > self._capacity:
                    self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class QrRenderer:
    """Renders verification QR codes for one PUBLIC_BASE_URL, caching by token.

    One instance per process, shared by request handlers (thread-safe).
    `cache_size=0` disables caching.
    """

    def __init__(
        self,
        public_base_url: str,
        *,
        cache_size: int = 512,
        box_size: int = DEFAULT_BOX_SIZE,
        border: int = DEFAULT_BORDER,
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self._box_size = box_size
        self._border = border
        self._png = _LruCache(cache_size)
        self._svg = _LruCache(cache_size)

    def url(self, token: str) -> str:
        return verification_url(self.public_base_url, token)

    def png(self, token: str) -> bytes:
        url = self.url(token)
        value = self._png.get_or_make(
            token, lambda: qr_png(url, box_size=self._box_size, border=self._border)
        )
        assert isinstance(value, bytes)
        return value

    def svg(self, token: str) -> str:
        url = self.url(token)
        value = self._svg.get_or_make(token, lambda: qr_svg(url, border=self._border))
        assert isinstance(value, str)
        return value

    def images(self, token: str) -> tuple[bytes, str]:
        """PNG and SVG together (one encoding), both kept in the caches."""
        png, svg = qr_images(self.url(token), box_size=self._box_size, border=self._border)
        self._png.get_or_make(token, lambda: png)
        self._svg.get_or_make(token, lambda: svg)
        return png, svg

    def cache_info(self) -> dict[str, int]:
        """Hit/miss counters and sizes, for metrics."""
        return {
            "png_hits": self._png.hits,
            "png_misses": self._png.misses,
            "png_size": len(self._png),
            "svg_hits": self._svg.hits,
            "svg_misses": self._svg.misses,
            "svg_size": len(self._svg),
        }
