"""Typed keys for what the app holds (aiohttp's AppKey): no globals, no string typos."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

if TYPE_CHECKING:
    from bot.dispatcher import Dispatcher
    from bot.storage.base import StateStore
    from bot.wechat_client import WeChatClient
    from config.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[StateStore] = web.AppKey("store")
HTTP: web.AppKey[ClientSession] = web.AppKey("http")
CLIENT: web.AppKey[WeChatClient] = web.AppKey("wechat_client")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
BACKGROUND: web.AppKey[set[asyncio.Task]] = web.AppKey("background_tasks")
HEALTH_CHECKS: web.AppKey[dict[str, Callable[[], Awaitable[bool]]]] = web.AppKey("health")
# Base URL of the embedded fake platform when WECHAT_API_BASE=embedded.
FAKE_BASE: web.AppKey[str] = web.AppKey("fake_base")
