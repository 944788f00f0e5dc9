"""Notices, their broadcasts (an outbox of one delivery row per recipient), subscriptions,
objections and the committees' event dates that relative deadlines count from."""

from tortoise import fields
from tortoise.models import Model


class Notice(Model):
    """A publicity (公示), deadline or general notice written by an HR officer.

    `league_cities` / `series`: lists of codes, or null for all (see notices.targeting).
    `owner_league_city`: the league city of the officer who wrote it (null: the region);
    officers see and handle only their own league city's notices and objections.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # publicity | deadline | general
    title = fields.CharField(max_length=120)
    body = fields.TextField()
    department = fields.CharField(max_length=100)  # the issuing department
    league_cities = fields.JSONField(null=True)
    series = fields.JSONField(null=True)
    # publicity only: both days included, Asia/Shanghai; review results need 5 workdays.
    publicity_start = fields.DateField(null=True)
    publicity_end = fields.DateField(null=True)
    review_result = fields.BooleanField(default=False)
    # deadline only: the last day included.
    deadline = fields.DateField(null=True)
    owner_league_city = fields.CharField(max_length=32, null=True)
    created_by = fields.CharField(max_length=100)
    created_by_token = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice"


class NoticeSend(Model):
    """One broadcast: what goes out (`payload`) and to how many; rows in NoticeDelivery.

    `purpose`: notice (an HR broadcast), reminder (a deadline reminder) or objection (the
    answer to one applicant). `dedup_key` is unique: a notice is broadcast once, and a
    restarted scheduler never queues a reminder twice. `requires_subscription`: recipients
    who unsubscribed meanwhile are skipped.
    """

    id = fields.IntField(primary_key=True)
    notice: fields.ForeignKeyNullableRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="sends", null=True, on_delete=fields.RESTRICT
    )
    purpose = fields.CharField(max_length=16)
    channel = fields.CharField(max_length=16)  # template | subscribe
    payload = fields.JSONField()  # {"template_id", "data", "url" | "page"}
    # Unique per broadcast that must happen once: "notice:<id>" or a reminder key.
    dedup_key = fields.CharField(max_length=200, unique=True, null=True)
    requires_subscription = fields.BooleanField(default=True)
    total = fields.IntField()
    created_by = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notice_send"


class NoticeDelivery(Model):
    """One message to one recipient: the outbox row a delivery worker claims and sends.

    `key` is unique and is also the idempotency key sent to the platform. `due_ms` is when
    the row next needs a worker: a pending row may be sent from then on, a sending row's
    lease runs out then. Epoch milliseconds, so the claim SQL compares integers on SQLite
    and PostgreSQL alike, and one index (status, due_ms) serves claims and takeovers.
    status: pending | sending | sent | failed | unknown | cancelled.
    """

    id = fields.BigIntField(primary_key=True)
    send: fields.ForeignKeyRelation[NoticeSend] = fields.ForeignKeyField(
        "models.NoticeSend", related_name="deliveries", on_delete=fields.CASCADE
    )
    openid = fields.CharField(max_length=64)
    key = fields.CharField(max_length=120, unique=True)
    status = fields.CharField(max_length=12, default="pending")
    attempts = fields.IntField(default=0)
    due_ms = fields.BigIntField()
    lease_owner = fields.CharField(max_length=40, null=True)
    errcode = fields.IntField(null=True)
    errmsg = fields.CharField(max_length=200, null=True)
    msgid = fields.CharField(max_length=40, null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice_delivery"
        indexes = (("status", "due_ms"), ("send_id", "status"))


class NoticeSubscription(Model):
    """What an applicant subscribed to in chat (订阅); `active=False` after 退订."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    league_city = fields.CharField(max_length=32, null=True)  # null: region-level unit
    series = fields.JSONField(default=list)  # list of series codes
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notice_subscription"


class Objection(Model):
    """An objection (异议) to a publicity, filed in chat while its window was open."""

    id = fields.IntField(primary_key=True)
    reference = fields.CharField(max_length=24, unique=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="objections", on_delete=fields.RESTRICT
    )
    openid = fields.CharField(max_length=64, db_index=True)
    item = fields.CharField(max_length=200)
    reason = fields.TextField()
    contact = fields.CharField(max_length=100, null=True)
    status = fields.CharField(max_length=12, default="open")  # open | assigned | closed
    assignee = fields.CharField(max_length=100, null=True)
    resolution = fields.TextField(null=True)
    created_at = fields.DatetimeField()  # when filed, by the clock that checked the window
    assigned_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    closed_by = fields.CharField(max_length=100, null=True)
    reply_send_id = fields.IntField(null=True)  # the NoticeSend telling the applicant

    class Meta:
        table = "notice_objection"


class DeadlineEvent(Model):
    """A committee's date for a schedule event (e.g. review_start), per series or for all
    (`series` "*"): relative deadlines such as 二(五)4 count from it."""

    id = fields.IntField(primary_key=True)
    policy = fields.CharField(max_length=40)
    code = fields.CharField(max_length=40)
    series = fields.CharField(max_length=48, default="*")
    day = fields.DateField()
    set_by = fields.CharField(max_length=100)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notice_deadline_event"
        unique_together = (("policy", "code", "series"),)
