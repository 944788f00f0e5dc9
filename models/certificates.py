"""The talent database: persons, review committees, certificates, revocations, the credit
blacklist, one-time binding codes, cached QR images and the verification log.

Personal data: the ID number is stored only encrypted (`id_number_enc`, AES-GCM, see
certificates.personal_data) plus a keyed hash for lookups (`id_number_hash`); the full
name has a keyed hash too, so an employer's "is the holder called X?" is answered without
comparing clear text. Certificates are addressed from outside only by `public_id`
(128 random bits), never by the sequential primary key.
"""

from tortoise import fields
from tortoise.models import Model


class Person(Model):
    """One professional in the talent database (人才信息库)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    name_hash = fields.CharField(max_length=64)
    gender = fields.CharField(max_length=1)  # M | F (checked against the ID number)
    id_number_enc = fields.CharField(max_length=128)
    id_number_hash = fields.CharField(max_length=64, unique=True)
    phone = fields.CharField(max_length=20, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "talent_person"


class ReviewCommittee(Model):
    """A review committee (评委会) and its filing (核准备案, 二(六)).

    One row per filing period: a committee re-filed in 2023 is a new row (new code), so
    certificates keep pointing at the filing that covered their approval date. A committee
    that was never filed has no filing number and no dates.
    """

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)  # short key used by imports
    name = fields.CharField(max_length=128)
    series = fields.JSONField()  # list of series names (系列), e.g. ["工程技术"]
    levels = fields.JSONField()  # list of certificates.status.Level values
    built_by = fields.CharField(max_length=128)  # the department or unit that built it
    league_city = fields.CharField(max_length=32, null=True)  # null: region level
    filing_number = fields.CharField(max_length=64, null=True)
    filed_on = fields.DateField(null=True)
    valid_until = fields.DateField(null=True)  # inclusive, at most 3 years after filing
    self_review = fields.BooleanField(default=False)  # 自主评审单位
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "review_committee"


class Certificate(Model):
    """A professional-title certificate (职称证书). `token` is the signed QR token, stored
    at issue so that retired private keys can be destroyed."""

    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=22, unique=True)
    number = fields.CharField(max_length=64, unique=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="certificates", on_delete=fields.RESTRICT
    )
    series = fields.CharField(max_length=32)
    specialty = fields.CharField(max_length=64)
    qualification = fields.CharField(max_length=64)  # 资格名称, e.g. 高级工程师
    level = fields.CharField(max_length=16)  # certificates.status.Level
    committee: fields.ForeignKeyNullableRelation[ReviewCommittee] = fields.ForeignKeyField(
        "models.ReviewCommittee", related_name="certificates", null=True, on_delete=fields.RESTRICT
    )
    approval_document = fields.CharField(max_length=128)
    approved_on = fields.DateField()
    issued_on = fields.DateField()
    obtained_by = fields.CharField(max_length=20)  # certificates.status.ObtainedBy
    original_issuer = fields.CharField(max_length=128, null=True)  # exchanged certificates
    original_number = fields.CharField(max_length=64, null=True)
    token = fields.CharField(max_length=200)
    status = fields.CharField(max_length=16, default="issued")  # issued | revoked
    import_id = fields.CharField(max_length=32, null=True)  # the import that wrote it
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "certificate"


class CertificateRevocation(Model):
    """A revocation decision (撤销, 二(一)5)."""

    id = fields.IntField(primary_key=True)
    certificate: fields.OneToOneRelation[Certificate] = fields.OneToOneField(
        "models.Certificate", related_name="revocation", on_delete=fields.RESTRICT
    )
    revoked_on = fields.DateField()
    reason = fields.CharField(max_length=500)
    document = fields.CharField(max_length=128)
    created_by = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "certificate_revocation"


class BlacklistEntry(Model):
    """The credit blacklist (失信黑名单, 二(一)5): no application for five years."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="blacklist_entries", on_delete=fields.RESTRICT
    )
    entered_on = fields.DateField()
    until = fields.DateField()  # entered_on + 5 years (inclusive of the day before)
    reason = fields.CharField(max_length=500)
    document = fields.CharField(max_length=128)
    certificate: fields.ForeignKeyNullableRelation[Certificate] = fields.ForeignKeyField(
        "models.Certificate", related_name="blacklist_entries", null=True,
        on_delete=fields.RESTRICT,
    )
    created_by = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "credit_blacklist"


class BindingCode(Model):
    """A one-time code HR gives a person to bind their WeChat account. Only a keyed hash
    is stored; a code is used once and expires."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="binding_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_by = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "talent_binding_code"


class CertificateQr(Model):
    """QR images of a certificate's verification URL, rendered once and kept."""

    id = fields.BigIntField(primary_key=True)
    certificate: fields.OneToOneRelation[Certificate] = fields.OneToOneField(
        "models.Certificate", related_name="qr", on_delete=fields.CASCADE
    )
    base_url = fields.CharField(max_length=200)  # the PUBLIC_BASE_URL it encodes
    png = fields.BinaryField()
    svg = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "certificate_qr"


class VerificationEvent(Model):
    """One verification of a certificate (page, API, name/ID comparison): when, from
    where, what was answered. `certificate` is null for tokens that are not genuine."""

    id = fields.BigIntField(primary_key=True)
    certificate: fields.ForeignKeyNullableRelation[Certificate] = fields.ForeignKeyField(
        "models.Certificate", related_name="verifications", null=True,
        on_delete=fields.SET_NULL,
    )
    at = fields.DatetimeField(db_index=True)
    ip = fields.CharField(max_length=64)
    user_agent = fields.CharField(max_length=256)
    channel = fields.CharField(max_length=8)  # page | api
    action = fields.CharField(max_length=16)  # view | match_name | match_id
    outcome = fields.CharField(max_length=32)  # verdict status, or match | no_match

    class Meta:
        table = "certificate_verification"
