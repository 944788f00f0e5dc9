"""State store: one small interface, two implementations (in-process and Redis)."""

from bot.storage.base import Lock, LockTimeout, StateStore
from bot.storage.memory import MemoryStore


def create_store(redis_url: str | None, *, namespace: str = "zc") -> StateStore:
    """The store for a settings' REDIS_URL: Redis when set, in-process otherwise."""
    if redis_url:
        from bot.storage.redis import RedisStore

        return RedisStore.from_url(redis_url, namespace=namespace)
    return MemoryStore(namespace=namespace)


__all__ = ["Lock", "LockTimeout", "MemoryStore", "StateStore", "create_store"]
