"""One settings object for the whole service, read from the environment and `.env`.

Why one object: every process (server workers, CLI tools, tests) must agree on the same
names, and a bad value must stop start-up with one line that names the variable, before
anything listens on a port. Secrets are `SecretStr` so they never print in logs or reprs.
"""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED = "embedded"


def _check_aes_key(value: SecretStr | None, name: str) -> SecretStr | None:
    if value is None or not value.get_secret_value():
        return None
    raw = value.get_secret_value()
    if len(raw) != 43:
        raise ValueError(f"{name} must be 43 characters (WeChat EncodingAESKey), got {len(raw)}")
    try:
        key = base64.b64decode(raw + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{name} is not valid base64") from exc
    if len(key) != 32:
        raise ValueError(f"{name} does not decode to 32 bytes")
    return value


class Settings(BaseSettings):
    """All configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # WeChat official account
    wechat_token: SecretStr = Field(SecretStr("dev-token"), min_length=3, max_length=32)
    wechat_appid: str = Field("wxdevappid0000000", min_length=3)
    wechat_appsecret: SecretStr = SecretStr("dev-secret")
    wechat_aes_key: SecretStr | None = None
    wechat_aes_key_previous: SecretStr | None = None
    # "embedded": start the fake platform on loopback inside the service process.
    wechat_api_base: str = EMBEDDED
    wechat_api_timeout: float = Field(5.0, gt=0, le=60)
    wechat_webhook_path: str = "/wechat"
    # Seconds after which a slow handler is answered "success" and its reply goes out
    # later as a customer-service message (WeChat gives up after 5 s).
    wechat_reply_deadline: float = Field(4.5, gt=0, le=4.9)
    wechat_max_clock_skew: int = Field(300, ge=1)

    # Storage
    database_url: str = "sqlite://data/zhicheng.sqlite3"
    redis_url: str | None = None
    # Prefix of every state-store key: lets several deployments (or tests) share one Redis.
    store_namespace: str = Field("zc", pattern=r"^[A-Za-z0-9_.-]{1,40}$")

    # Web
    public_base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: str = Field("json", pattern="^(json|text)$")

    # Domain: which module wires the handlers into the bot (keeps bot/ free of the domain).
    handlers_module: str = "handlers"
    # Key for personal data at rest (base64 of 32 bytes). Dev default is refused in production.
    field_key: SecretStr = SecretStr(base64.b64encode(b"dev-field-key-not-for-production").decode())
    demo_data: bool = False
    production: bool = False

    # Notices: broadcast delivery (notices/delivery.py) and deadline reminders.
    delivery_rate: float = Field(100.0, ge=0)  # messages/s shared by all workers; 0: no limit
    delivery_batch: int = Field(200, ge=1, le=5000)  # rows claimed per query
    delivery_concurrency: int = Field(32, ge=1, le=1000)  # API calls in flight per worker
    delivery_lease: float = Field(60.0, ge=0.5, le=3600)  # s before another worker takes over
    delivery_max_attempts: int = Field(6, ge=1, le=50)
    delivery_backoff_base: float = Field(2.0, gt=0, le=600)
    delivery_backoff_max: float = Field(300.0, gt=0, le=86400)
    delivery_poll_interval: float = Field(1.0, gt=0, le=60)
    # Outcome unknown (timeout, worker killed mid-send): "auto" resends template messages
    # under their client_msg_id and holds subscribe notifications (no such key) as
    # `unknown` for an officer; "resend" resends both; "hold" holds both. notices/delivery.
    delivery_in_doubt: str = Field("auto", pattern="^(auto|resend|hold)$")
    delivery_in_app_workers: int = Field(1, ge=0, le=1)  # in-process worker of `serve`
    # Body field carrying each message's idempotency key ("" for none); see notices/delivery.
    wechat_idempotency_field: str = Field("client_msg_id", pattern=r"^[a-z_]{0,40}$")
    wechat_template_notice: str = Field("dev-template-notice", min_length=1)
    wechat_template_objection: str = Field("dev-template-objection", min_length=1)
    wechat_subscribe_template_deadline: str = Field("dev-subscribe-deadline", min_length=1)
    notices_policy: str = Field("nmg-2020", pattern=r"^[a-z0-9-]{1,40}$")
    reminders_interval: float = Field(300.0, gt=0, le=86400)  # s between reminder checks

    # Eligibility check: public API and result pages, requests per minute per IP.
    eligibility_api_rate_limit: int = Field(120, ge=1, le=10_000_000)
    eligibility_api_max_body: int = Field(16 * 1024, ge=1024, le=1024 * 1024)  # bytes
    result_page_rate_limit: int = Field(60, ge=1, le=10_000_000)

    # Certificates: the private Ed25519 keyset file (certificates.signing). Unset: a dev
    # keyset is generated in data/ on first start (refused with PRODUCTION=true).
    signing_keyset_path: str | None = None
    # A .ttf/.ttc with Chinese glyphs for the printable certificate; unset: search the system.
    cjk_font_path: str | None = None
    cert_verify_limit_ip: int = Field(120, ge=1)  # verifications per IP per minute
    cert_verify_limit_token: int = Field(60, ge=1)  # verifications per token per minute
    cert_match_limit_token: int = Field(10, ge=1)  # name/ID comparisons per token per hour
    cert_binding_code_days: int = Field(7, ge=1, le=90)  # one-time binding codes expire

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_aes_key(v, "WECHAT_AES_KEY")

    @field_validator("wechat_aes_key_previous")
    @classmethod
    def _aes_prev(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_aes_key(v, "WECHAT_AES_KEY_PREVIOUS")

    @field_validator("wechat_api_base")
    @classmethod
    def _api_base(cls, v: str) -> str:
        if v != EMBEDDED and not v.startswith(("http://", "https://")):
            raise ValueError("must be 'embedded' or an http(s) URL")
        return v.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if not v.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return v.replace("postgresql://", "postgres://", 1)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _public(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v.rstrip("/")

    @field_validator("wechat_webhook_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with /")
        return v

    @field_validator("field_key")
    @classmethod
    def _field_key(cls, v: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(v.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be base64") from exc
        if len(raw) != 32:
            raise ValueError("must decode to 32 bytes")
        return v

    @model_validator(mode="after")
    def _resends_stay_within_wechat_dedup_window(self) -> Settings:
        """A template message in doubt is resent under its client_msg_id, which WeChat
        honours for 10 minutes: a lease (or backoff) that could resend later is refused."""
        if not self.wechat_idempotency_field or self.delivery_in_doubt == "hold":
            return self
        from notices.delivery_policy import dedup_problem  # pure; no import cycle

        problem = dedup_problem(
            lease_s=self.delivery_lease, backoff_max_s=self.delivery_backoff_max,
            poll_interval_s=self.delivery_poll_interval,
            api_timeout_s=self.wechat_api_timeout)
        if problem:
            raise ValueError(f"DELIVERY_LEASE: {problem}")
        return self

    @model_validator(mode="after")
    def _production_needs_real_values(self) -> Settings:
        """PRODUCTION=true refuses every development default that must not ship."""
        if not self.production:
            return self
        dev = Settings.model_fields
        for name in ("wechat_token", "wechat_appid", "wechat_appsecret", "field_key"):
            value = getattr(self, name)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            default = dev[name].default
            default = default.get_secret_value() if isinstance(default, SecretStr) else default
            if raw == default:
                raise ValueError(f"{name.upper()}: required in production "
                                 "(still the development default)")
        if self.wechat_api_base == EMBEDDED:
            raise ValueError("WECHAT_API_BASE: required in production (the fake platform "
                             "is for development)")
        return self

    @cached_property
    def aes_keys(self) -> list[str]:
        """EncodingAESKeys to try, current first (rotation keeps the previous one)."""
        return [
            k.get_secret_value()
            for k in (self.wechat_aes_key, self.wechat_aes_key_previous)
            if k is not None
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        rest = self.database_url[len("sqlite://") :]
        return None if rest == ":memory:" else Path(rest)


class SettingsError(SystemExit):
    """Raised for a bad configuration; its message is one line naming the variable."""


def load_settings(**overrides) -> Settings:
    """Build settings or raise SettingsError with one line per bad variable.

    Secrets are never echoed: the message holds the variable name and the reason only.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            name = "_".join(str(p) for p in err["loc"]).upper()
            # Whole-object checks name their variable at the start of the message.
            lines.append(f"configuration error: {name}: {msg}" if name
                         else f"configuration error: {msg}")
        raise SettingsError("\n".join(lines)) from None
