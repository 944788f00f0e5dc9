"""Tortoise ORM models, and nothing else. Migrations live in /migrations (aerich)."""

from models.users import WechatUser

__all__ = ["WechatUser"]
