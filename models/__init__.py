"""Tortoise ORM models, and nothing else. Migrations live in /migrations (aerich)."""

from models.admin import AdminToken, AuditLog
from models.eligibility import EligibilityResultPage
from models.users import WechatUser

__all__ = ["AdminToken", "AuditLog", "EligibilityResultPage", "WechatUser"]
