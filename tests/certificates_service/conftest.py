"""Fixtures for the certificate service tests: a started app with the deterministic test
key ring (k2019 until 2021-12-31, then k2022), and an HR helper with admin tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import create_app
from certificates.signing import KeyRing
from tests.certificates.cert_testkit import K2019_FROM, K2019_UNTIL, K2022_FROM, seeded_key
from tests.certificates_service.support import Hr


@pytest.fixture
def keyset_path(tmp_path: Path) -> Path:
    ring = KeyRing([seeded_key("k2019", K2019_FROM, K2019_UNTIL), seeded_key("k2022", K2022_FROM)])
    path = tmp_path / "signing-keys.json"
    ring.save_keyset(path)
    return path


@pytest.fixture
def cert_settings(make_settings, keyset_path):
    def make(**overrides):
        return make_settings(signing_keyset_path=str(keyset_path), **overrides)

    return make


@pytest.fixture
async def certs(aiohttp_client, cert_settings):
    """The service over real HTTP, with the test key ring."""
    return await aiohttp_client(create_app(cert_settings()))


@pytest.fixture
async def hr(certs) -> Hr:
    """A region administrator acting through the admin API."""
    return await Hr.region_admin(certs)
