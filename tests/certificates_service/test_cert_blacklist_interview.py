"""The credit blacklist in the 资格自测 interview (二(一)5), through the real webhook: a
user bound to a talent record is not asked about the blacklist; the record answers it.
A blacklisted user is blocked with the clause; five years later the same user is not."""

from __future__ import annotations

from datetime import date

import pytest

from bot.fake_platform.simulator import UserSimulator
from models import EligibilityResultPage
from tests.certificates_service.support import cert_row, unique
from tests.certificates_service.test_cert_chat import OrderedSimulator, _bind
from tests.conftest import AES_KEY, APPID, TOKEN
from tests.interview.chat import PAGE_LINK, asked


@pytest.fixture
def sim(certs) -> UserSimulator:
    return OrderedSimulator(certs.session, str(certs.make_url("/wechat")), token=TOKEN,
                            appid=APPID, aes_key=AES_KEY, mode="safe")


async def _bound_holder(hr, sim, *, issued_on: str = "2019-03-15") -> tuple[str, dict]:
    """A WeChat user bound to a talent record with one certificate (issued in 2019)."""
    code = await hr.committee(filed_on="2017-01-10", valid_until="2019-12-31")
    row = cert_row(code, name="乌云其木格", approved_on="2019-03-01", issued_on=issued_on)
    status, data = await hr.post("/api/v1/admin/certificates", row)
    assert status == 201, data
    status, binding = await hr.post("/api/v1/admin/talent/binding-codes",
                                    {"id_number": row["id_number"]})
    assert status == 201, binding
    openid = unique("o_selftest_")
    assert (await _bind(sim, openid, row["name"], row["id_number"],
                        binding["code"])).startswith("绑定成功")
    return openid, data


async def _selftest(sim, openid: str) -> str:
    """Start 资格自测; answer the first question (在职) if it is the first one asked."""
    reply = (await sim.send_text(openid, "自测")).content
    if asked(reply) is not None and asked(reply).field == "employment":
        reply = (await sim.send_text(openid, "1")).content
    return reply


async def test_bound_blacklisted_user_is_blocked_and_free_after_five_years(hr, sim):
    hr.service.today = lambda: date(2020, 6, 1)
    openid, cert = await _bound_holder(hr, sim)
    # Fraud found: the title is revoked and the holder blacklisted on 2019-04-01.
    status, body = await hr.post(f"/api/v1/admin/certificates/{cert['public_id']}/revocation",
                                 {"revoked_on": "2019-04-01", "reason": "论文抄袭",
                                  "document": "内人社职撤〔2019〕3号"})
    assert status == 201, body

    reply = (await sim.send_text(openid, "自测")).content
    # No question at all: the record's answer alone decides (the block needs no other).
    assert asked(reply) is None, reply
    assert "失信黑名单（2019年）未满5年" in reply and "二(一)5" in reply
    page = await EligibilityResultPage.get(id=PAGE_LINK.search(reply).group(1))
    assert page.answers["blacklisted_year"] == 2019
    assert "blacklisted" in [b["code"] for b in page.result["blocked_by"]]

    # The entry runs until 2024-03-31; from 2024-04-01 it is no bar any more.
    hr.service.today = lambda: date(2024, 3, 31)
    assert "失信黑名单（2019年）" in await _selftest(sim, openid)
    hr.service.today = lambda: date(2024, 4, 1)
    reply = await _selftest(sim, openid)
    assert asked(reply) is not None and asked(reply).field != "blacklisted_year", reply
    assert "黑名单" not in reply


async def test_bound_user_not_blacklisted_is_not_asked(hr, sim):
    hr.service.today = lambda: date(2020, 6, 1)
    openid, _ = await _bound_holder(hr, sim)
    reply = await _selftest(sim, openid)
    assert asked(reply).field not in ("employment", "blacklisted_year"), reply


async def test_unbound_user_is_still_asked(hr, sim):
    openid = unique("o_free_")
    assert asked((await sim.send_text(openid, "自测")).content).field == "employment"
    reply = (await sim.send_text(openid, "1")).content
    assert asked(reply).field == "blacklisted_year"


async def test_blacklist_entry_added_by_hr_during_the_interview_counts(hr, sim):
    hr.service.today = lambda: date(2020, 6, 1)
    openid, cert = await _bound_holder(hr, sim)
    reply = (await sim.send_text(openid, "自测")).content
    assert asked(reply).field == "employment"
    # Entered directly on the blacklist (no revocation) while the user is answering.
    status, body = await hr.post("/api/v1/admin/blacklist", {
        "id_number": (await _id_of(hr, cert)), "entered_on": "2020-05-20",
        "reason": "申报材料造假", "document": "内人社职黑〔2020〕7号"})
    assert status == 201, body
    reply = (await sim.send_text(openid, "1")).content
    assert "失信黑名单（2020年）未满5年" in reply and "二(一)5" in reply


async def _id_of(hr, cert: dict) -> str:
    from models import Certificate

    c = await Certificate.get(public_id=cert["public_id"]).select_related("person")
    return hr.service.cipher.decrypt(c.person.id_number_enc)
