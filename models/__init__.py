"""Tortoise ORM models, and nothing else. Migrations live in /migrations (aerich)."""

from models.admin import AdminToken, AuditLog
from models.certificates import (
    BindingCode,
    BlacklistEntry,
    Certificate,
    CertificateQr,
    CertificateRevocation,
    Person,
    ReviewCommittee,
    VerificationEvent,
)
from models.eligibility import EligibilityResultPage
from models.notices import (
    DeadlineEvent,
    Notice,
    NoticeDelivery,
    NoticeSend,
    NoticeSubscription,
    Objection,
)
from models.users import WechatUser

__all__ = [
    "AdminToken",
    "AuditLog",
    "EligibilityResultPage",
    "BindingCode",
    "BlacklistEntry",
    "Certificate",
    "CertificateQr",
    "CertificateRevocation",
    "ReviewCommittee",
    "DeadlineEvent",
    "Notice",
    "NoticeDelivery",
    "NoticeSend",
    "NoticeSubscription",
    "Objection",
    "Person",
    "VerificationEvent",
    "WechatUser",
]
