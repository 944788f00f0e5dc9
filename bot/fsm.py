"""Conversation state as an explicit state machine, stored in the state store.

Style of aiogram 3: a conversation declares its states in a `StatesGroup`; the dispatcher
takes the per-user lock first and only then loads the record, so two quick messages from
one user are applied one after the other on the state the first one left.

One record per user holds state, data and the position (CreateTime, MsgId) of the message
after which the pending question was asked. A message sent before that position was meant
for an earlier question: the dispatcher does not apply it. Conversations that ask no
questions never set the position, so none of their messages is ever dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.storage.base import StateStore

DEFAULT_TTL = 24 * 3600


@dataclass(frozen=True, slots=True)
class State:
    """A named state; `group:name` once it belongs to a StatesGroup."""

    name: str = ""

    def __str__(self) -> str:
        return self.name


class StatesGroup:
    """Subclass and declare `State()` attributes; names become `Group:attr`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr, value in list(vars(cls).items()):
            if isinstance(value, State):
                setattr(cls, attr, State(f"{cls.__name__}:{attr}"))

    @classmethod
    def states(cls) -> list[State]:
        return [v for v in vars(cls).values() if isinstance(v, State)]

    @classmethod
    def contains(cls, state: str | None) -> bool:
        return state is not None and state.startswith(f"{cls.__name__}:")


class FSMContext:
    """A user's conversation record, loaded once per message and saved if changed."""

    def __init__(self, store: StateStore, key: str, *, ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        self._record: dict[str, Any] = {"state": None, "data": {}, "asked": [0, 0]}
        self._dirty = False
        # Position of the message being handled; set by the dispatcher.
        self.message_pos: tuple[int, int] = (0, 0)

    async def load(self) -> FSMContext:
        return self.load_raw(await self.store.get(self.key))

    def load_raw(self, raw: bytes | None) -> FSMContext:
        """Load from the stored bytes (the dispatcher reads them together with the lock)."""
        record = json.loads(raw) if raw else None
        if isinstance(record, dict):
            self._record = {
                "state": record.get("state"),
                "data": record.get("data") or {},
                "asked": record.get("asked") or [0, 0],
            }
        return self

    def dump_if_dirty(self) -> str | None:
        """The record to store, or None when nothing changed."""
        if not self._dirty:
            return None
        self._dirty = False
        if self._record["state"] is None and not self._record["data"]:
            # Keep the position so a late message is still recognised as stale.
            record: dict[str, Any] = {"asked": self._record["asked"]}
        else:
            record = self._record
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

    async def save(self) -> None:
        value = self.dump_if_dirty()
        if value is not None:
            await self.store.set(self.key, value, ttl=self.ttl)

    # --- state ---------------------------------------------------------------------------
    @property
    def state(self) -> str | None:
        return self._record["state"]

    async def get_state(self) -> str | None:
        return self._record["state"]

    async def set_state(self, state: State | str | None) -> None:
        self._record["state"] = None if state is None else str(state)
        self._dirty = True

    async def get_data(self) -> dict[str, Any]:
        return dict(self._record["data"])

    async def set_data(self, data: dict[str, Any]) -> None:
        self._record["data"] = dict(data)
        self._dirty = True

    async def update_data(self, **values: Any) -> dict[str, Any]:
        self._record["data"].update(values)
        self._dirty = True
        return dict(self._record["data"])

    async def clear(self) -> None:
        self._record["state"] = None
        self._record["data"] = {}
        self._dirty = True

    # --- questions and stale answers ----------------------------------------------------
    def question_asked(self) -> None:
        """Record that the reply to the current message asks a new question."""
        if self.message_pos > tuple(self._record["asked"]):
            self._record["asked"] = list(self.message_pos)
            self._dirty = True

    def is_stale(self, create_time: int, msg_id: int | None) -> bool:
        """True when the message was sent before the pending question was asked.

        WeChat's CreateTime has one-second resolution, so within one second MsgId (which
        WeChat assigns increasingly) decides; events carry no MsgId and are never stale.
        """
        if msg_id is None:
            return False
        return (create_time, msg_id) < tuple(self._record["asked"])
