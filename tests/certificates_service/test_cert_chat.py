"""我的证书 in chat, through the real webhook: binding with name + ID number + one-time
code (five wrong tries lock it for an hour), the list with verify links, the QR image
uploaded to the (fake) platform, who verified my certificates, unbinding."""

from __future__ import annotations

import pytest

from bot.appkeys import FAKE_BASE
from bot.fake_platform import FakeWeChatControl
from bot.fake_platform.simulator import UserSimulator
from certificates.registry import blacklisted_year
from handlers.certificates_keys import CERT_BINDING
from models import Person, WechatUser
from tests.certificates_service.support import cert_row, unique
from tests.conftest import AES_KEY, APPID, TOKEN
from tests.support.factories import next_msg_id


class OrderedSimulator(UserSimulator):
    """Messages with increasing MsgIds, as WeChat assigns them (the dispatcher ignores a
    message older than the question it answers)."""

    async def send_text(self, openid: str, content: str, **kw):
        return await super().send_text(openid, content, msg_id=next_msg_id(), **kw)


@pytest.fixture
def sim(certs) -> UserSimulator:
    return OrderedSimulator(certs.session, str(certs.make_url("/wechat")), token=TOKEN,
                            appid=APPID, aes_key=AES_KEY, mode="safe")


@pytest.fixture
def fake(certs) -> FakeWeChatControl:
    return FakeWeChatControl(certs.session, certs.server.app[FAKE_BASE])


async def _holder(hr, n: int = 2) -> tuple[dict, list[dict]]:
    """A person with n certificates; returns their row and the issue answers."""
    code = await hr.committee()
    first = cert_row(code, name="巴特尔")
    issued = []
    for i in range(n):
        row = {**first, "number": unique("CHAT-")}
        if i:
            row.update(level="正高级", qualification="正高级工程师", issued_on="2022-05-10",
                       approved_on="2022-05-01")
        status, data = await hr.post("/api/v1/admin/certificates", row)
        assert status == 201, data
        issued.append(data)
    return first, issued


async def _code(hr, id_number: str, **extra) -> dict:
    status, data = await hr.post("/api/v1/admin/talent/binding-codes",
                                 {"id_number": id_number, **extra})
    assert status == 201, data
    return data


async def _bind(sim, openid: str, name: str, id_number: str, code: str) -> str:
    assert "请输入您的姓名" in (await sim.send_text(openid, "我的证书")).content
    assert "身份证号码" in (await sim.send_text(openid, name)).content
    assert "绑定码" in (await sim.send_text(openid, id_number)).content
    reply = await sim.send_text(openid, code)
    assert reply.content, (reply.status, reply.body)
    return reply.content


async def test_bind_list_qr_history_unbind(certs, hr, sim, fake):
    row, issued = await _holder(hr)
    code = (await _code(hr, row["id_number"]))["code"]
    openid = unique("o_holder_")
    reply = await _bind(sim, openid, "巴特尔", row["id_number"], code)
    assert reply.startswith("绑定成功")
    assert "共2张" in reply and "正高级工程师" in reply and "状态：有效" in reply
    for data in issued:
        assert data["verify_url"] in reply
    assert row["id_number"] not in reply
    person = await Person.get(id_number_hash=hr.service.cipher.lookup_hash(row["id_number"]))
    assert (await WechatUser.get(openid=openid)).talent_id == person.id

    # The code was used once: nobody can bind with it again.
    other = unique("o_other_")
    assert "不正确" in await _bind(sim, other, "巴特尔", row["id_number"], code)

    # QR image: uploaded once as temporary media, then reused.
    reply = await sim.send_text(openid, "证书二维码 2")
    assert reply.msg_type == "image"
    media_id = reply.reply["Image"]["MediaId"]
    uploads = await fake.calls("/cgi-bin/media/upload")
    assert len(uploads) == 1
    reply = await sim.send_text(openid, "证书二维码 2")
    assert reply.reply["Image"]["MediaId"] == media_id
    assert len(await fake.calls("/cgi-bin/media/upload")) == 1
    assert "共有2张证书" in (await sim.send_text(openid, "证书二维码 3")).content

    # Employers verify; the holder sees who did.
    token = issued[0]["verify_url"].rsplit("/v/", 1)[1]
    await certs.get(f"/v/{token}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"})
    await certs.post(f"/api/v1/certificates/verify/{token}/match", json={"name": "巴特尔"},
                     headers={"User-Agent": "HR-System/2.1"})
    reply = (await sim.send_text(openid, "谁查过我的证书")).content
    assert "最近2次查验记录" in reply
    assert "核对姓名，结果“一致”；系统接口查验，IP 127.0.*.*" in reply
    assert "查看证书，结果“有效”；网页查验，IP 127.0.*.*，手机浏览器" in reply

    # Unbinding.
    assert "确认解除" in (await sim.send_text(openid, "解除绑定")).content
    assert "已解除绑定" in (await sim.send_text(openid, "确认解除")).content
    assert (await WechatUser.get(openid=openid)).talent_id is None
    assert "请输入您的姓名" in (await sim.send_text(openid, "我的证书")).content
    assert "已退出" in (await sim.send_text(openid, "取消")).content


async def test_five_wrong_tries_lock_binding_for_an_hour(certs, hr, sim):
    row, _ = await _holder(hr, 1)
    code = (await _code(hr, row["id_number"]))["code"]
    openid = unique("o_guess_")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for left in (4, 3, 2, 1):
        reply = await _bind(sim, openid, "巴特尔", row["id_number"], wrong)
        assert f"还可以再试{left}次" in reply
        assert "请重新输入您的姓名" in reply
        await sim.send_text(openid, "取消")
    reply = await _bind(sim, openid, "巴特尔", row["id_number"], wrong)
    assert "绑定功能已暂停" in reply and "60分钟" in reply
    # Even the right code is refused now, and the question is not even asked.
    reply = (await sim.send_text(openid, "我的证书")).content
    assert "绑定功能已暂停" in reply
    seconds = await certs.server.app[CERT_BINDING].locked_seconds(openid)
    assert 3500 < seconds <= 3601
    # Another WeChat user is not locked and binds with the right code.
    assert (await _bind(sim, unique("o_ok_"), "巴特尔", row["id_number"], code)).startswith(
        "绑定成功")


async def test_wrong_name_or_id_does_not_say_which(hr, sim):
    row, _ = await _holder(hr, 1)
    code = (await _code(hr, row["id_number"]))["code"]
    openid = unique("o_which_")
    by_name = await _bind(sim, openid, "巴特", row["id_number"], code)
    await sim.send_text(openid, "取消")
    from tests.certificates_service.support import fresh_id_number

    by_id = await _bind(sim, openid, "巴特尔", fresh_id_number(), code)
    assert by_name.split("，")[0] == by_id.split("，")[0] == "姓名、身份证号码或绑定码不正确"


async def test_invalid_id_number_is_asked_again_not_counted(hr, sim):
    openid = unique("o_typo_")
    await sim.send_text(openid, "我的证书")
    await sim.send_text(openid, "王芳")
    reply = (await sim.send_text(openid, "15010219900101123")).content
    assert "18位" in reply
    reply = (await sim.send_text(openid, "１５０１０２１９９００１０１１２３Ｘ")).content
    assert "校验位" in reply or "绑定码" in reply


async def test_binding_code_can_be_sent_as_customer_service_message(certs, hr, fake):
    row, _ = await _holder(hr, 1)
    openid = unique("o_sendto_")
    data = await _code(hr, row["id_number"], send_to_openid=openid)
    assert data["sent"] is True and data["holder_name"] == "巴*尔"
    messages = await fake.messages(openid)
    assert any(data["code"] in str(m) for m in messages)
    assert not any(row["id_number"] in str(m) for m in messages)


async def test_blacklisted_year_hook_for_the_eligibility_engine(certs, hr, sim):
    row, issued = await _holder(hr, 1)
    code = (await _code(hr, row["id_number"]))["code"]
    openid = unique("o_black_")
    assert (await _bind(sim, openid, "巴特尔", row["id_number"], code)).startswith("绑定成功")
    assert await blacklisted_year(openid) is None
    status, _ = await hr.post(f"/api/v1/admin/certificates/{issued[0]['public_id']}/revocation",
                              {"revoked_on": "2023-04-01", "reason": "学术造假",
                               "document": "内人社职撤〔2023〕1号"})
    assert status == 201
    assert await blacklisted_year(openid) == 2023
    person = await Person.get(id_number_hash=hr.service.cipher.lookup_hash(row["id_number"]))
    assert await blacklisted_year(person.id) == 2023
    assert await blacklisted_year("o_never_bound") is None
    reply = (await sim.send_text(openid, "我的证书")).content
    assert "状态：已撤销" in reply
