"""Helpers for the notices service tests: a settable clock, a started service with admin
tokens and delivery helpers, subscribers, and notice payloads."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.appkeys import FAKE_BASE, HTTP, SETTINGS, STORE
from handlers.admin_auth import create_token
from handlers.notices_worker import build_worker
from models import NoticeDelivery, NoticeSubscription, WechatUser
from notices.local_time import REGION_TZ


@dataclass
class Clock:
    """What the app takes as "now" (aware); None means the real time."""

    at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)

    def set_local(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=REGION_TZ)


@dataclass
class Service:
    client: object
    clock: Clock
    tokens: dict = field(default_factory=dict)

    @property
    def app(self):
        return self.client.server.app

    async def token(self, role: str = "region_admin", league_city: str | None = None) -> str:
        key = (role, league_city)
        if key not in self.tokens:
            name = f"{league_city or '自治区'}经办人" if league_city else "自治区管理员"
            _, self.tokens[key] = await create_token(name, role, league_city)
        return self.tokens[key]

    async def headers(self, role: str = "region_admin", league_city: str | None = None) -> dict:
        return {"Authorization": f"Bearer {await self.token(role, league_city)}"}

    async def api(self, method: str, path: str, *, role="region_admin", league_city=None,
                  **kw):
        headers = {**await self.headers(role, league_city), **kw.pop("headers", {})}
        return await self.client.request(method, f"/api/v1/admin{path}", headers=headers, **kw)

    def worker(self, **overrides):
        settings = self.app[SETTINGS].model_copy(update=overrides)
        return build_worker(settings, self.app[HTTP], self.app[STORE], self.app[FAKE_BASE])

    async def deliver(self, limit_s: float = 10.0, **overrides) -> None:
        """Run a worker until nothing is pending (retries included)."""
        deadline = time.monotonic() + limit_s
        while await NoticeDelivery.filter(status__in=["pending", "sending"]).exists():
            assert time.monotonic() < deadline, "deliveries still pending"
            await self.worker(**overrides).drain()
            await asyncio.sleep(0.02)

    async def wait_sent(self, send_id: int, limit_s: float = 10.0) -> dict:
        """Poll the progress API until the send is finished (in-process worker)."""
        deadline = time.monotonic() + limit_s
        while True:
            resp = await self.api("GET", f"/sends/{send_id}")
            assert resp.status == 200, await resp.text()
            progress = (await resp.json())["send"]["progress"]
            if progress["finished"]:
                return progress
            assert time.monotonic() < deadline, f"send not finished: {progress}"
            await asyncio.sleep(0.05)


async def add_subscriber(openid: str, league_city: str | None, series: list[str],
                         *, following: bool = True) -> None:
    await NoticeSubscription.update_or_create(
        openid=openid, defaults={"league_city": league_city, "series": series, "active": True}
    )
    await WechatUser.update_or_create(openid=openid, defaults={"subscribed": following})


FAST = dict(
    delivery_poll_interval=0.05, delivery_backoff_base=0.01, delivery_backoff_max=0.05,
    delivery_rate=0, reminders_interval=3600,
)

async def broadcast(service: Service, payload: dict, **kw) -> int:
    """Create a notice through the API and send it; returns the send id."""
    resp = await service.api("POST", "/notices", json=payload, **kw)
    assert resp.status == 201, await resp.text()
    notice_id = (await resp.json())["notice"]["id"]
    resp = await service.api("POST", f"/notices/{notice_id}/send", **kw)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["send"]["id"]


def publicity(**overrides) -> dict:
    body = {
        "kind": "publicity", "title": "2020年度工程技术系列高级职称评审结果公示",
        "body": "经评审，以下人员通过……", "department": "自治区工程技术高评委",
        "league_cities": "all", "series": "all", "publicity_start": "2020-10-12",
        "publicity_workdays": 5,
    }
    body.update(overrides)
    return body


async def cancel_leftovers() -> None:
    await NoticeDelivery.filter(status__in=["pending", "sending"]).update(
        status="cancelled", lease_owner=None
    )


class Chat:
    """A WeChat user simulator on this service's webhook; message ids increase, as WeChat's
    do, so no answer is mistaken for a late reply to an earlier question."""

    def __init__(self, client) -> None:
        from bot.fake_platform.simulator import UserSimulator
        from tests.conftest import AES_KEY, APPID, TOKEN

        self.sim = UserSimulator(
            client.session, str(client.make_url("/wechat")), token=TOKEN, appid=APPID,
            aes_key=AES_KEY, mode="plain")

    async def say(self, openid: str, text: str):
        from tests.support.factories import next_msg_id

        return await self.sim.send_text(openid, text, msg_id=next_msg_id())

    async def event(self, openid: str, name: str):
        return await self.sim.send_event(openid, name)


def chat(service: Service) -> Chat:
    return Chat(service.client)
