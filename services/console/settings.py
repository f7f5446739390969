"""The console's settings (ENS_CONSOLE_*), passed to `app.build`; never read inside the console."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import reject_placeholder


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_CONSOLE_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the console listens on; 127.0.0.1 is this machine only.")
    port: int = Field(
        default=8080, ge=0, le=65535, description="Port of the console (http://127.0.0.1:8080 by default); 0 picks a free one."
    )
    secure_cookie: bool = Field(
        default=True,
        description=(
            "Mark the cookies Secure (sent over HTTPS only). Browsers keep Secure cookies for http://127.0.0.1 and "
            "localhost, so `ens up` works with it on; turn it off only for plain http on another name."
        ),
    )
    csrf_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Key the CSRF tokens are derived with (at least 32 characters). Unset: a random key per process, so "
            "forms opened before a restart are refused once; set the same value on every replica behind one address."
        ),
    )
    identity: str = Field(
        default="operator",
        description="NATS identity the console sends its commands as (the delivery log and jobs are operator commands).",
    )
    events_identity: str | None = Field(
        default="events-reader",
        description=(
            "NATS identity that reads a mail's event back from ENS_EVENTS to show the mail as it was sent (the delivery "
            "log keeps no bytes); empty: mail detail pages show the log only."
        ),
    )
    page_size: int = Field(default=50, ge=10, le=200, description="Delivery log lines per page.")
    log_limit: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="Delivery log records fetched per search (QueryDeliveryLog's largest); type, status and date filters and paging work within them.",
    )

    @field_validator("csrf_secret")
    @classmethod
    def _a_real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        reject_placeholder(value.get_secret_value())
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("events_identity", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
