"""Client for the fake platform's `/_fake/` control API.

Why: tests that run the fake as a real server (possibly in another process) and the chat
CLI need the same few operations; one small class keeps the URLs and shapes in one place.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class FakeWeChatControl:
    """Drive a running fake platform at `base_url` (e.g. "http://127.0.0.1:8081")."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def _req(self, method: str, path: str, **kwargs: Any) -> dict:
        async with self.session.request(method, self.base_url + path, **kwargs) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"fake platform {method} {path}: {resp.status} {data}")
            return data

    async def calls(self, path: str | None = None) -> list[dict]:
        """Recorded API calls (oldest first), optionally only those to `path`."""
        params = {"path": path} if path else None
        return (await self._req("GET", "/_fake/calls", params=params))["calls"]

    async def reset(self) -> None:
        """Forget the recorded calls."""
        await self._req("DELETE", "/_fake/calls")

    async def messages(self, openid: str) -> list[dict]:
        """Messages sent to `openid` (custom, template, subscribe), in order."""
        return (await self._req("GET", "/_fake/messages", params={"openid": openid}))["messages"]

    async def message_counts(self) -> tuple[dict[str, int], int]:
        """({openid: messages received}, sends answered from the client_msg_id record)."""
        data = await self._req("GET", "/_fake/messages", params={"summary": "1"})
        return data["counts"], data["replayed"]

    async def inject(
        self,
        path: str,
        *,
        errcode: int | None = None,
        status: int = 200,
        delay: float = 0.0,
        times: int = 1,
        errmsg: str | None = None,
    ) -> None:
        """Make the next `times` calls to `path` fail (errcode or HTTP status) and/or lag."""
        spec = {"path": path, "errcode": errcode, "status": status, "delay": delay, "times": times}
        if errmsg is not None:
            spec["errmsg"] = errmsg
        await self._req("POST", "/_fake/inject", json=spec)

    async def expire_tokens(self) -> int:
        """Expire every issued access token; returns how many."""
        return (await self._req("POST", "/_fake/expire_tokens"))["expired"]

    async def menu(self) -> dict | None:
        return (await self._req("GET", "/_fake/menu"))["menu"]

    async def add_user(self, openid: str, **fields: Any) -> None:
        """Register user info (nickname, subscribe=0/1, ...) returned by /cgi-bin/user/info."""
        await self._req("POST", "/_fake/users", json={"openid": openid, **fields})
