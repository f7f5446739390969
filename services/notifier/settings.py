from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseSettings):
    """Where mail goes. Without ENS_SMTP_HOST, `ens up` starts a local sink and points here at it."""

    model_config = SettingsConfigDict(env_prefix="ENS_SMTP_", extra="ignore", frozen=True)

    host: str | None = Field(default=None, description="SMTP server host.")
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    implicit_tls: bool = False
    timeout_s: float = Field(default=30.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=64)


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_NOTIFIER_", extra="ignore", frozen=True)

    system_name: str = "出入国在留管理庁電子届出システム"
    sender: str = Field(default="no-reply@ens.example.jp", description="No-reply From address.")
    helpdesk: str = Field(default="電子届出システムヘルプデスク（help-ens@example.jp）", description="Helpdesk contact in every mail.")
