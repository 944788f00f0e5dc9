"""HR officers' access: bearer tokens (stored hashed) and the audit log."""

from tortoise import fields
from tortoise.models import Model


class AdminToken(Model):
    """A bearer token for the admin API and console. Only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)  # who holds it, e.g. "包头市人社局 王科长"
    token_hash = fields.CharField(max_length=64, unique=True)
    role = fields.CharField(max_length=32)  # region_admin | league_city_officer
    league_city = fields.CharField(max_length=32, null=True)  # for league_city_officer
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "admin_token"


class AuditLog(Model):
    """Every admin action: who, what, when, from where. Append-only."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    actor = fields.CharField(max_length=100)  # token name, or "cli:<user>"
    token_id = fields.IntField(null=True)
    role = fields.CharField(max_length=32, null=True)
    action = fields.CharField(max_length=64)  # e.g. notice.create, certificates.import
    target = fields.CharField(max_length=200, null=True)
    ip = fields.CharField(max_length=64, null=True)
    detail = fields.JSONField(null=True)

    class Meta:
        table = "audit_log"
