"""App keys and wiring of the certificates feature: the service (keys, cipher, QR
renderer, clock), one-time binding codes, the verification log and the page templates.

The signing keyset comes from SIGNING_KEYSET_PATH. Without it (the embedded default) a
development keyset is generated once in data/ with a key valid from 1990, so that demo
imports of old certificates can be signed; PRODUCTION=true refuses to start without an
explicit keyset.
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from datetime import date
from pathlib import Path

import jinja2
from aiohttp import web

from bot.appkeys import STORE
from bot.storage.base import StateStore
from bot.tasks import cancel_and_wait
from certificates.binding import BindingService
from certificates.personal_data import PersonalDataCipher
from certificates.qr import QrRenderer
from certificates.qr_backfill import QrBackfill
from certificates.registry import CertificateService
from certificates.signing import KeyRing, generate_keyset
from certificates.verification_log import VerificationLog
from config.database import dedicated_connection
from config.settings import Settings, SettingsError

CERTS: web.AppKey[CertificateService] = web.AppKey("certificates")
CERT_BINDING: web.AppKey[BindingService] = web.AppKey("certificate_binding")
CERT_LOG: web.AppKey[VerificationLog] = web.AppKey("certificate_verification_log")
CERT_PAGES: web.AppKey[jinja2.Environment] = web.AppKey("certificate_templates")
CERT_PAGE_CACHE: web.AppKey[PageCache] = web.AppKey("certificate_page_cache")

DEV_KEYSET = Path("data/signing-keys.dev.json")
DEV_KEY_VALID_FROM = date(1990, 1, 1)
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class PageCache:
    """Rendered verification pages and API answers by everything they show (LRU):
    rendering the template or signing the statement is most of a scan's CPU, and most
    scans repeat a recent answer exactly. Keys include the verdict itself, so a
    revocation is never served from an old entry."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, str] = OrderedDict()

    def get(self, key: Hashable) -> str | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: str) -> None:
        self._pages[key] = page
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


def load_keyring(settings: Settings) -> KeyRing:
    """The signing key ring named by the settings (see the module docstring)."""
    if settings.signing_keyset_path:
        try:
            return KeyRing.from_keyset_file(settings.signing_keyset_path)
        except (OSError, ValueError) as exc:
            raise SettingsError(
                f"configuration error: SIGNING_KEYSET_PATH: cannot load the keyset ({exc})"
            ) from None
    if settings.production:
        raise SettingsError("configuration error: SIGNING_KEYSET_PATH: required in production "
                            "(create one with `python -m certificates.keytool generate PATH`)")
    if not DEV_KEYSET.exists():
        DEV_KEYSET.parent.mkdir(parents=True, exist_ok=True)
        try:
            generate_keyset(DEV_KEYSET, kid="dev1", valid_from=DEV_KEY_VALID_FROM)
        except FileExistsError:
            pass  # another process created it first
    return KeyRing.from_keyset_file(DEV_KEYSET)


def field_key(settings: Settings) -> bytes:
    return base64.b64decode(settings.field_key.get_secret_value())


def build_service(settings: Settings, store: StateStore) -> CertificateService:
    return CertificateService(
        cipher=PersonalDataCipher(field_key(settings)),
        keyring=load_keyring(settings),
        renderer=QrRenderer(settings.public_base_url),
        store=store,
        font_path=settings.cjk_font_path,
    )


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        enable_async=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    """The verification log writer, the rate-limit/cache sync of the service, and the
    QR backfill after imports."""
    tasks = [
        asyncio.create_task(app[CERT_LOG].run(), name="certificate-verification-log"),
        asyncio.create_task(app[CERTS].run_background(), name="certificate-sync"),
    ]
    backfill = app[CERTS].qr_backfill
    if backfill is not None:
        tasks.append(asyncio.create_task(backfill.run(), name="certificate-qr-backfill"))
    yield
    await cancel_and_wait(tasks)  # repeated cancels: see bot.tasks for why one may be lost
    reader = app[CERTS].reader
    if reader is not None:
        await reader.close()


def setup_keys(app: web.Application, settings: Settings) -> None:
    app[CERTS] = build_service(settings, app[STORE])
    # Imports through the admin API: QR images made after the commit, in the background.
    app[CERTS].qr_backfill = QrBackfill(app[CERTS].renderer, app[STORE])
    app[CERTS].reader = dedicated_connection(settings)
    app[CERT_BINDING] = BindingService(field_key(settings), app[STORE])
    app[CERT_LOG] = VerificationLog()
    app[CERT_PAGES] = templates()
    app[CERT_PAGE_CACHE] = PageCache()
    app.cleanup_ctx.append(_background_ctx)
