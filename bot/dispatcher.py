"""Routers, filters and the dispatcher that feeds each incoming message to one handler.

Style of aiogram 3: handlers register on a `Router` with filters; routers nest; the first
handler whose filters all pass handles the message. The dispatcher owns the per-user
lock: lock first, then load the conversation record, so two quick messages from one user
can never both read the same state.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.fsm import FSMContext, State
from bot.messages import Incoming, Reply, as_replies
from bot.storage.base import Claim, StateStore

log = logging.getLogger("bot.dispatcher")

Handler = Callable[["Incoming", "Context"], Awaitable[Any]]
Filter = Callable[["Incoming", "Context"], Any]
Middleware = Callable[[Handler, "Incoming", "Context"], Awaitable[Any]]


@dataclass
class Context:
    """What a handler gets besides the message: its conversation, the app's services."""

    state: FSMContext
    services: Any  # the aiohttp app (a mapping of typed keys); handlers look up their deps
    data: dict[str, Any] = field(default_factory=dict)  # set by filters and middlewares

    def __getitem__(self, key: Any) -> Any:
        return self.services[key]


# --- filters ----------------------------------------------------------------------------
def _norm(text: str) -> str:
    return text.strip().lower().replace("？", "?")


class Text:
    """Text message equal to one of the words (or starting with one, `prefix=True`)."""

    def __init__(self, *words: str, prefix: bool = False) -> None:
        self.words = tuple(_norm(w) for w in words)
        self.prefix = prefix

    def __call__(self, msg: Incoming, ctx: Context) -> bool | dict:
        if msg.type != "text":
            return False
        text = _norm(msg.content)
        for w in self.words:
            if text == w:
                return {"keyword": w, "rest": ""}
            if self.prefix and text.startswith(w):
                return {"keyword": w, "rest": msg.content.strip()[len(w) :].strip()}
        return False


class Regex:
    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __call__(self, msg: Incoming, ctx: Context) -> bool | dict:
        m = self.pattern.fullmatch(msg.content.strip()) if msg.type == "text" else None
        return {"match": m} if m else False


class StateIs:
    """Conversation is in one of the states; `None` means no conversation, `"*"` any."""

    def __init__(self, *states: State | str | type | None) -> None:
        self.states = states

    def __call__(self, msg: Incoming, ctx: Context) -> bool:
        current = ctx.state.state
        for s in self.states:
            if s == "*":
                return True
            if s is None and current is None:
                return True
            if isinstance(s, type) and hasattr(s, "contains") and s.contains(current):
                return True
            if s is not None and not isinstance(s, type) and str(s) == current:
                return True
        return False


class Event:
    def __init__(self, *names: str) -> None:
        self.names = tuple(n.lower() for n in names)

    def __call__(self, msg: Incoming, ctx: Context) -> bool:
        return msg.type == "event" and msg.event in self.names


class Click:
    """Menu click with one of the keys (CLICK events)."""

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def __call__(self, msg: Incoming, ctx: Context) -> bool:
        return msg.type == "event" and msg.event == "click" and msg.event_key in self.keys


class MsgType:
    def __init__(self, *types: str) -> None:
        self.types = types

    def __call__(self, msg: Incoming, ctx: Context) -> bool:
        return msg.type in self.types


def _any_message(msg: Incoming, ctx: Context) -> bool:
    return msg.type != "event"


def _any_event(msg: Incoming, ctx: Context) -> bool:
    return msg.type == "event"


# --- routers ----------------------------------------------------------------------------
@dataclass
class _Registered:
    handler: Handler
    filters: tuple[Filter, ...]


class Router:
    """Handlers with filters, tried in registration order; sub-routers after own handlers."""

    def __init__(self, name: str = "router") -> None:
        self.name = name
        self._handlers: list[_Registered] = []
        self._children: list[Router] = []
        self._parents: list[Router] = []
        self._flat: tuple[_Registered, ...] | None = None  # see _registrations

    def include_router(self, router: Router) -> Router:
        self._children.append(router)
        router._parents.append(self)
        self._changed()
        return router

    def register(self, handler: Handler, *filters: Filter) -> Handler:
        self._handlers.append(_Registered(handler, filters))
        self._changed()
        return handler

    def _changed(self) -> None:
        self._flat = None
        for parent in self._parents:
            parent._changed()

    def _registrations(self) -> tuple[_Registered, ...]:
        """Own handlers, then each sub-router's, depth first: the order they are tried.
        Kept flat (rebuilt after a change) so a message walks one tuple, not a tree of
        coroutines."""
        if self._flat is None:
            flat = list(self._handlers)
            for child in self._children:
                flat.extend(child._registrations())
            self._flat = tuple(flat)
        return self._flat

    def message(self, *filters: Filter) -> Callable[[Handler], Handler]:
        """Handler for user messages (anything but events)."""
        return lambda h: self.register(h, _any_message, *filters)

    def event(self, *filters: Filter) -> Callable[[Handler], Handler]:
        return lambda h: self.register(h, _any_event, *filters)

    def click(self, *keys: str) -> Callable[[Handler], Handler]:
        return lambda h: self.register(h, Click(*keys))

    async def resolve(self, msg: Incoming, ctx: Context) -> Handler | None:
        for reg in self._registrations():
            ok = _passes(reg.filters, msg, ctx)
            if ok.__class__ is not bool:  # an async filter: a coroutine to finish the check
                ok = await ok
            if ok:
                return reg.handler
        return None


def _passes(filters: tuple[Filter, ...], msg: Incoming,
            ctx: Context) -> bool | Awaitable[bool]:
    """Whether every filter passes; a coroutine instead once a filter returns an
    awaitable. Synchronous filters (all of ours) cost no coroutine per registration."""
    extra: dict[str, Any] | None = None
    for i, f in enumerate(filters):
        res = f(msg, ctx)
        if res.__class__ is not bool and inspect.isawaitable(res):  # bool: the usual case,
            return _passes_async(res, filters[i + 1:], msg, ctx, extra)  # (skips the ABC)
        if not res:
            return False
        if res.__class__ is not bool and isinstance(res, dict):
            extra = {**extra, **res} if extra else res
    if extra:
        ctx.data.update(extra)
    return True


async def _passes_async(first: Awaitable, rest: tuple[Filter, ...], msg: Incoming,
                        ctx: Context, extra: dict[str, Any] | None) -> bool:
    extra = dict(extra or {})
    res = await first
    for f in (None, *rest):
        if f is not None:
            res = f(msg, ctx)
            if inspect.isawaitable(res):
                res = await res
        if not res:
            return False
        if isinstance(res, dict):
            extra.update(res)
    ctx.data.update(extra)
    return True


class Dispatcher(Router):
    """Root router. `feed` handles one message under the user's lock."""

    def __init__(
        self,
        store: StateStore,
        *,
        fsm_ttl: float = 24 * 3600,
        lock_ttl: float = 60.0,
        lock_timeout: float = 20.0,
    ) -> None:
        super().__init__("root")
        self.store = store
        self.fsm_ttl = fsm_ttl
        self.lock_ttl = lock_ttl
        self.lock_timeout = lock_timeout
        self.middlewares: list[Middleware] = []
        self._chain: tuple[list[Middleware], Handler] | None = None

    def middleware(self, mw: Middleware) -> Middleware:
        """Outer middleware: runs around every handler call, in registration order."""
        self.middlewares.append(mw)
        return mw

    async def feed(self, msg: Incoming, services: Any = None, *,
                   claim: Claim | None = None) -> list[Reply]:
        """Handle `msg` under the user's lock and return its replies.

        With `claim` (the webhook's retry dedup), the claim is taken in the lock step and
        `claim.result(replies)` is recorded in the unlock step (`claim.result(None)` when
        the handler raised; the exception then propagates). When somebody else holds the
        claim, nothing runs: `claim.holder` is set and this returns [].
        """
        # Lock first, then load: one step on the store (and one to save and unlock).
        lock = self.store.lock(f"chat:{msg.openid}", ttl=self.lock_ttl, timeout=self.lock_timeout)
        fsm = FSMContext(self.store, f"fsm:{msg.openid}", ttl=self.fsm_ttl)
        if not await lock.acquire(read=fsm.key, claim=claim):
            return []  # claimed by another request for the same message
        replies: list[Reply] | None = None
        try:
            fsm.load_raw(lock.value)
            if fsm.is_stale(msg.create_time, msg.msg_id):
                log.info("stale message ignored", extra={"openid": msg.openid,
                                                         "msg_id": msg.msg_id})
                replies = []
                return replies
            if msg.msg_id is not None:
                fsm.message_pos = (msg.create_time, msg.msg_id)
            ctx = Context(state=fsm, services=services)
            replies = as_replies(await self._call(msg, ctx))
            return replies
        finally:
            answer = None
            try:
                if claim is not None and claim.result is not None:
                    answer = claim.result(replies)
            finally:
                await lock.release(write=fsm.key, value=fsm.dump_if_dirty(), ttl=fsm.ttl,
                                   claim=claim, answer=answer)

    async def _call(self, msg: Incoming, ctx: Context) -> Any:
        if self._chain is None or self._chain[0] != self.middlewares:
            call: Handler = self._innermost
            for mw in reversed(self.middlewares):
                call = _wrap(mw, call)
            self._chain = (list(self.middlewares), call)  # built once, not per message
        return await self._chain[1](msg, ctx)

    async def _innermost(self, m: Incoming, c: Context) -> Any:
        handler = await self.resolve(m, c)
        if handler is None:
            log.info("no handler", extra={"type": m.type, "event": m.event})
            return None
        return await handler(m, c)


def _wrap(mw: Middleware, inner: Handler) -> Handler:
    async def wrapped(m: Incoming, c: Context) -> Any:
        return await mw(inner, m, c)

    return wrapped
