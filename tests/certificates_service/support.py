"""Helpers for the certificate service tests: an HR officer driving the admin API, rows
with unique numbers and ID numbers (the database is shared by the whole session)."""

from __future__ import annotations

import csv
import io
import itertools
import secrets
from typing import Any

from handlers.admin_auth import create_token
from handlers.certificates_keys import CERTS

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}{next(_seq)}"


def fresh_id_number(*, female: bool | None = None) -> str:
    from certificates.idcard import make_test_id_number

    return make_test_id_number(secrets.token_hex(8), female=female)


def cert_row(committee: str | None, **overrides: Any) -> dict[str, Any]:
    """A certificate row (admin API / import columns) that passes every check."""
    row = {
        "number": unique("NMG-T-"),
        "name": "张三明",
        "id_number": fresh_id_number(),
        "phone": "13800000000",
        "series": "工程技术",
        "specialty": "电气工程",
        "qualification": "高级工程师",
        "level": "副高级",
        "obtained_by": "评审",
        "committee": committee or "",
        "approval_document": "内人社职字〔2021〕45号",
        "approved_on": "2021-03-01",
        "issued_on": "2021-03-15",
        "original_issuer": "",
        "original_number": "",
    }
    row.update(overrides)
    return row


HEADER_CN = ["证书编号", "姓名", "性别", "身份证号码", "手机号码", "系列", "专业", "资格名称",
             "级别", "取得方式", "评委会代码", "核准文号", "核准日期", "发证日期", "原发证机关",
             "原证书编号"]
KEYS = ["number", "name", "gender", "id_number", "phone", "series", "specialty",
        "qualification", "level", "obtained_by", "committee", "approval_document",
        "approved_on", "issued_on", "original_issuer", "original_number"]


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """A CSV like the talent database exports it (UTF-8 with BOM, Chinese headers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER_CN)
    for row in rows:
        writer.writerow([row.get(k, "") for k in KEYS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


class Hr:
    """An HR officer with a bearer token, calling the admin API of `client`."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    async def region_admin(cls, client) -> Hr:
        _, token = await create_token(unique("区人社厅 "), "region_admin", None)
        return cls(client, token)

    @classmethod
    async def league_officer(cls, client, league_city: str) -> Hr:
        _, token = await create_token(unique("盟市 "), "league_city_officer", league_city)
        return cls(client, token)

    @property
    def service(self):
        return self.client.server.app[CERTS]

    async def post(self, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        resp = await self.client.post(path, json=body, headers=self.headers, **kw)
        return resp.status, await resp.json(content_type=None)

    async def get(self, path: str, **kw) -> tuple[int, Any]:
        resp = await self.client.get(path, headers=self.headers, **kw)
        return resp.status, await resp.json(content_type=None)

    async def committee(self, **overrides: Any) -> str:
        body = {
            "code": unique("C"),
            "name": "内蒙古自治区工程技术高级专业技术资格评审委员会",
            "series": ["工程技术"],
            "levels": ["senior_full", "senior_deputy"],
            "built_by": "内蒙古自治区人力资源和社会保障厅",
            "filing_number": "内人社职备〔2020〕12号",
            "filed_on": "2020-06-20",
            "valid_until": "2023-06-19",
        }
        body.update(overrides)
        status, data = await self.post("/api/v1/admin/committees", body)
        assert status == 201, data
        return data["code"]

    async def issue(self, committee: str | None, **overrides: Any) -> tuple[int, Any]:
        return await self.post("/api/v1/admin/certificates", cert_row(committee, **overrides))

    async def issued(self, committee: str | None, **overrides: Any) -> dict[str, Any]:
        """Issue and return {public_id, verify_url, token, ...}; fails the test if refused."""
        status, data = await self.issue(committee, **overrides)
        assert status == 201, data
        data["token"] = data["verify_url"].rsplit("/v/", 1)[1]
        return data

    async def import_file(self, data: bytes, filename: str = "export.csv", **params: str):
        resp = await self.client.post(
            "/api/v1/admin/certificates/imports", data=data, headers=self.headers,
            params={"filename": filename, **params},
        )
        return resp.status, await resp.json()



# Not the regions of make_test_id_number (fresh_id_number): a bulk run's numbers must never
# meet a random test person's number under another name (that flaked the import tests).
_REGIONS = ("150121", "150122", "150123", "150124", "150125", "150204", "150205")
_SLOTS = len(_REGIONS) * 16_000 * 1000
_next_slot = [secrets.randbelow(_SLOTS // 2)]  # one session allocates runs upwards


def sequential_id_number(slot: int) -> str:
    """The slot-th of a run of distinct valid ID numbers (random ones collide in 100k)."""
    from datetime import date, timedelta

    from certificates.idcard import check_character

    slot %= _SLOTS
    region, rest = _REGIONS[slot % len(_REGIONS)], slot // len(_REGIONS)
    born = date(1960, 1, 1) + timedelta(days=rest // 1000)
    body = f"{region}{born:%Y%m%d}{rest % 1000:03d}"
    return body + check_character(body)


def bulk_rows(n: int, committee: str, *, tag: str | None = None) -> list[dict]:
    """n good rows for one committee; distinct numbers and ID numbers (one cert each)."""
    tag = tag or unique("B")
    offset = _next_slot[0]
    _next_slot[0] += n
    return [
        cert_row(committee, number=f"{tag}-{i:06d}", name="张三明" if i % 2 else "王芳",
                 id_number=sequential_id_number(offset + i), phone="")
        for i in range(n)
    ]
