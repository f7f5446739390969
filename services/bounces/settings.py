"""Settings of the bounce intake (ENS_BOUNCES_*), and the bounce domain it shares with the notifier."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BouncesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_BOUNCES_", extra="ignore", frozen=True, populate_by_name=True)

    host: str = Field(
        default="127.0.0.1",
        description="Address the bounce intake's SMTP listener binds; the MTA that relays the bounce domain connects here.",
    )
    port: int = Field(
        default=2526,
        ge=0,
        le=65535,
        description="Port of the bounce intake's SMTP listener (`ens up` and `ens run bounces`); 0 picks a free one.",
    )
    # The notifier's envelope senders are `bounce+<mail id>@<this domain>`: one variable for both
    # services, so the addresses the notifier writes are the ones the intake accepts.
    domain: str | None = Field(
        default=None,
        validation_alias="ENS_NOTIFIER_BOUNCE_DOMAIN",
        description=(
            "The bounce domain, read from the notifier's ENS_NOTIFIER_BOUNCE_DOMAIN: the intake takes RCPT only there. "
            "Required by `ens run bounces`; unset, `ens up` runs no intake."
        ),
    )
    max_message_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest message the intake takes (SMTP SIZE); a bigger one is refused with 552.",
    )
    record_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "How long the intake waits for the notifier to record a bounce (tried twice) before answering 451, "
            "so the MTA delivers the bounce again later."
        ),
    )

    @field_validator("domain")
    @classmethod
    def _plain_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        domain = value.strip().lower().rstrip(".")
        if "@" in domain or any(c.isspace() for c in domain) or "." not in domain:
            raise ValueError(f"'{value}' is not a domain name")
        return domain
