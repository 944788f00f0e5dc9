"""Bodies that are not JSON we can take, on one endpoint of each JSON reader's callers:
a 4xx naming `body`, never a 500. Half a surrogate pair (`"\\ud800"`), NaN and absurd
nesting all got past `request.json()`, and then broke the first thing that had to encode
the text (database driver, log line, error reply) or recursed out."""

from __future__ import annotations

import pytest

BAD_BODIES = {
    "lone surrogate in a value": b'{"name": "\\ud800\\u5f20"}',
    "lone surrogate in a key": b'{"\\udc00": 1}',
    "NaN": b'{"name": NaN}',
    "Infinity": b'{"name": Infinity}',
    "deep nesting": b"[" * 100_000,
}


async def _post(client, path: str, raw: bytes, headers: dict | None = None):
    resp = await client.post(path, data=raw,
                             headers={**(headers or {}), "Content-Type": "application/json"})
    return resp.status, await resp.json(content_type=None)


def _names_body(data: dict) -> bool:
    return [e["field"] for e in data["errors"]] == ["body"] and data["errors"][0]["message"]


@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_regression_public_match_with_a_body_json_cannot_carry_was_a_500(certs, hr, raw):
    cert = await hr.issued(await hr.committee())
    status, data = await _post(certs, f"/api/v1/certificates/verify/{cert['token']}/match", raw)
    assert status == 422 and _names_body(data), (status, data)


@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_regression_admin_committee_with_a_body_json_cannot_carry_was_a_500(certs, hr,
                                                                                  raw):
    status, data = await _post(certs, "/api/v1/admin/committees", raw, hr.headers)
    assert status in (400, 422) and _names_body(data), (status, data)


@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_regression_admin_notice_with_a_body_json_cannot_carry_was_a_500(certs, hr, raw):
    status, data = await _post(certs, "/api/v1/admin/notices", raw, hr.headers)
    assert status == 422 and _names_body(data), (status, data)


async def test_a_name_with_a_real_supplementary_character_is_still_taken(certs, hr):
    """A surrogate *pair* (𠮷, outside the BMP, common in names) is one character: fine."""
    cert = await hr.issued(await hr.committee())
    status, data = await _post(certs, f"/api/v1/certificates/verify/{cert['token']}/match",
                               b'{"name": "\\ud842\\udfb7"}')
    assert status == 200, data
