"""我的证书: bind the WeChat user to a talent record, list certificates, send the QR image,
show who verified them, unbind.

Binding asks three questions in turn (an explicit state machine, `CertBind`): the full
name, the ID number and the one-time code from HR. Between questions the conversation
keeps only keyed hashes of the name and ID number, never the clear values; the answer to
a failed try never says which of the three was wrong, and five failures lock binding for
an hour (certificates.binding). "取消" leaves at any step.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.appkeys import CLIENT, STORE
from bot.dispatcher import Context, Router, StateIs, Text
from bot.fsm import State, StatesGroup
from bot.messages import Image, Incoming
from bot.wechat_client import WeChatAPIError
from certificates.clock import CHINA_STANDARD_TIME
from certificates.idcard import InvalidIdNumber, validate_id_number
from certificates.status import LEVEL_LABELS, STATUS_LABELS, Level
from certificates.verification_log import history
from handlers.certificates_keys import CERT_BINDING, CERT_LOG, CERTS
from models import Certificate

log = logging.getLogger("handlers.certificates_chat")
router = Router("certificates")

MEDIA_TTL = 2.5 * 24 * 3600  # temporary media live 3 days on WeChat's side


class CertBind(StatesGroup):
    name = State()
    id_number = State()
    code = State()
    confirm_unbind = State()


ASK_NAME = ("查询电子职称证书需要先绑定您在内蒙古人才信息库的登记信息。\n"
            "请输入您的姓名（与身份证一致）：\n（回复“取消”可随时退出）")
ASK_ID = "请输入您的18位身份证号码："
ASK_CODE = ("请输入人力资源社会保障部门发给您的8位绑定码。\n"
            "还没有绑定码？请联系您所在单位的人事部门或盟市人社局职称科申领。")
CANCELLED = "已退出绑定。需要时回复“我的证书”重新开始。"
LOCKED = "验证失败次数过多，为保护您的信息，绑定功能已暂停，请{minutes}分钟后再试。"
FAILED = "姓名、身份证号码或绑定码不正确，还可以再试{left}次。\n请重新输入您的姓名："
CHANNELS = {"page": "网页查验", "api": "系统接口查验"}
ACTIONS = {"view": "查看证书", "match_name": "核对姓名", "match_id": "核对身份证号码"}
OUTCOMES = {**{s.value: label for s, label in STATUS_LABELS.items()},
            "match": "一致", "no_match": "不一致"}


async def _certificates(ctx: Context, person_id: int) -> list[Certificate]:
    return await Certificate.filter(person_id=person_id).order_by("-issued_on", "-id")


async def _listing(ctx: Context, person_id: int) -> str:
    certs = await _certificates(ctx, person_id)
    if not certs:
        return "您已绑定人才信息库，但暂未查到您的职称证书。如有疑问请联系发证机关。"
    service = ctx[CERTS]
    lines = [f"您名下的职称证书（共{len(certs)}张）："]
    for n, cert in enumerate(certs, start=1):
        outcome = await service.verify(cert.token)
        status = outcome.verdict.label
        lines += [
            f"{n}. {cert.qualification}（{LEVEL_LABELS[Level(cert.level)]}·{cert.series}）",
            f"证书编号：{cert.number}",
            f"状态：{status}",
            f"查验链接：{service.url(cert.token)}",
        ]
    lines.append("回复“证书二维码 1”获取第1张证书的二维码图片；"
                 "回复“谁查过我的证书”查看查验记录；回复“解除绑定”解除绑定。")
    return "\n".join(lines)


async def _start_binding(msg: Incoming, ctx: Context) -> str:
    locked = await ctx[CERT_BINDING].locked_seconds(msg.openid)
    if locked:
        return LOCKED.format(minutes=max(1, round(locked / 60)))
    await ctx.state.set_state(CertBind.name)
    await ctx.state.set_data({})
    ctx.state.question_asked()
    return ASK_NAME


@router.message(Text("取消", "退出"), StateIs(CertBind))
async def cancel(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    return CANCELLED


@router.message(Text("我的证书"), StateIs(CertBind.name, CertBind.id_number, CertBind.code))
async def restart(msg: Incoming, ctx: Context) -> str:
    return await _start_binding(msg, ctx)


@router.message(StateIs(CertBind.name))
async def got_name(msg: Incoming, ctx: Context) -> str:
    name = msg.text
    if not name or len(name) > 30 or any(c.isdigit() for c in name):
        ctx.state.question_asked()
        return "请输入您的姓名（汉字或少数民族姓名，不含数字）："
    await ctx.state.update_data(name_hash=ctx[CERTS].cipher.name_hash(name))
    await ctx.state.set_state(CertBind.id_number)
    ctx.state.question_asked()
    return ASK_ID


@router.message(StateIs(CertBind.id_number))
async def got_id_number(msg: Incoming, ctx: Context) -> str:
    try:
        number = validate_id_number(msg.text, today=ctx[CERTS].today())
    except InvalidIdNumber as exc:
        ctx.state.question_asked()
        return exc.message
    await ctx.state.update_data(id_hash=ctx[CERTS].cipher.lookup_hash(number))
    await ctx.state.set_state(CertBind.code)
    ctx.state.question_asked()
    return ASK_CODE


@router.message(StateIs(CertBind.code))
async def got_code(msg: Incoming, ctx: Context) -> str:
    data = await ctx.state.get_data()
    code = msg.text.replace(" ", "")
    result = await ctx[CERT_BINDING].try_bind(
        msg.openid, id_hash=data.get("id_hash", ""), name_hash=data.get("name_hash", ""),
        code=code,
    )
    if result.ok and result.person_id is not None:
        await ctx.state.clear()
        return "绑定成功。\n" + await _listing(ctx, result.person_id)
    if result.locked_seconds:
        await ctx.state.clear()
        return LOCKED.format(minutes=max(1, round(result.locked_seconds / 60)))
    await ctx.state.set_state(CertBind.name)
    await ctx.state.set_data({})
    ctx.state.question_asked()
    return FAILED.format(left=result.tries_left)


@router.message(StateIs(CertBind.confirm_unbind))
async def confirm_unbind(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    if msg.text == "确认解除":
        await ctx[CERT_BINDING].unbind(msg.openid)
        return "已解除绑定。需要时回复“我的证书”重新绑定。"
    return "未解除绑定。"


@router.message(Text("我的证书", "电子证书", "我的职称证书", "证书"), StateIs(None))
async def my_certificates(msg: Incoming, ctx: Context) -> str:
    person_id = await ctx[CERT_BINDING].bound_person_id(msg.openid)
    if person_id is None:
        return await _start_binding(msg, ctx)
    return await _listing(ctx, person_id)


@router.click("MY_CERTS")
async def my_certificates_click(msg: Incoming, ctx: Context) -> str:
    await ctx.state.clear()
    return await my_certificates(msg, ctx)


@router.message(Text("证书二维码", "二维码", prefix=True), StateIs(None))
async def qr_image(msg: Incoming, ctx: Context) -> str | Image:
    person_id = await ctx[CERT_BINDING].bound_person_id(msg.openid)
    if person_id is None:
        return "请先回复“我的证书”绑定人才信息库。"
    certs = await _certificates(ctx, person_id)
    rest = ctx.data.get("rest", "").strip()
    index = int(rest) if rest.isdigit() else 1
    if not certs:
        return "暂未查到您的职称证书。"
    if not 1 <= index <= len(certs):
        return f"您共有{len(certs)}张证书，请回复“证书二维码 1”到“证书二维码 {len(certs)}”。"
    cert = certs[index - 1]
    store = ctx[STORE]
    key = f"certqr:media:{cert.public_id}"
    cached = await store.get(key)
    if cached:
        return Image(cached.decode())
    png, _ = await ctx[CERTS].qr_images(cert)
    try:
        uploaded = await ctx[CLIENT].upload_media("image", "certificate-qr.png", png)
    except WeChatAPIError as exc:
        log.warning("QR image upload failed", extra={"errcode": exc.errcode})
        return f"二维码图片暂时发送失败，请稍后再试。查验链接：{ctx[CERTS].url(cert.token)}"
    media_id = uploaded["media_id"]
    await store.set(key, media_id, ttl=MEDIA_TTL)
    return Image(media_id)


def _mask_ip(ip: str) -> str:
    if "." in ip:
        parts = ip.split(".")
        return ".".join(parts[:2] + ["*"] * (len(parts) - 2))
    if ":" in ip:
        return ":".join(ip.split(":")[:2]) + ":*"
    return "未知"


def _device(agent: str) -> str:
    if "MicroMessenger" in agent:
        return "微信"
    if not agent:
        return "未知设备"
    if "Mobile" in agent:
        return "手机浏览器"
    if "Mozilla" in agent:
        return "电脑浏览器"
    return agent.split("/")[0][:20] or "其他"


def _when(at: datetime) -> str:
    local = at.astimezone(CHINA_STANDARD_TIME)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


@router.message(Text("谁查过我的证书", "查验记录", "谁查过我"), StateIs(None))
async def who_verified(msg: Incoming, ctx: Context) -> str:
    person_id = await ctx[CERT_BINDING].bound_person_id(msg.openid)
    if person_id is None:
        return "请先回复“我的证书”绑定人才信息库。"
    await ctx[CERT_LOG].flush()
    events = await history(person_id, limit=20)
    if not events:
        return "您的证书暂时没有被查验过。"
    lines = [f"最近{len(events)}次查验记录（最新在前）："]
    for n, (event, qualification) in enumerate(events, start=1):
        lines.append(
            f"{n}. {_when(event.at)} {qualification}：{ACTIONS.get(event.action, event.action)}，"
            f"结果“{OUTCOMES.get(event.outcome, event.outcome)}”；"
            f"{CHANNELS.get(event.channel, event.channel)}，IP {_mask_ip(event.ip)}，"
            f"{_device(event.user_agent)}"
        )
    return "\n".join(lines)


@router.message(Text("解除绑定", "取消绑定"), StateIs(None))
async def unbind(msg: Incoming, ctx: Context) -> str:
    if await ctx[CERT_BINDING].bound_person_id(msg.openid) is None:
        return "您还没有绑定人才信息库。"
    await ctx.state.set_state(CertBind.confirm_unbind)
    ctx.state.question_asked()
    return ("解除后将无法在本服务号查看证书，确定要解除吗？\n"
            "回复“确认解除”解除，回复其他内容保留绑定。")


__all__ = ["CertBind", "router"]
