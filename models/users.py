"""The WeChat user of the service account."""

from tortoise import fields
from tortoise.models import Model


class WechatUser(Model):
    """One openid. Unsubscribing keeps the row (subscribed=False): nothing is lost."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    subscribed = fields.BooleanField(default=True)
    first_seen = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField(auto_now=True)
    subscribed_at = fields.DatetimeField(null=True)
    unsubscribed_at = fields.DatetimeField(null=True)
    # Tags for targeting notices: league city code and series code.
    league_city = fields.CharField(max_length=32, null=True)
    series = fields.CharField(max_length=48, null=True)
    # Link to a talent record, once the user binds one (certificates issue).
    talent_id = fields.IntField(null=True)

    class Meta:
        table = "wechat_user"
