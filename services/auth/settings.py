from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import reject_placeholder


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_AUTH_", extra="ignore", frozen=True)

    operator_token: SecretStr = Field(description="Secret that operator commands (CreateOfficer) must present.")

    @field_validator("operator_token")
    @classmethod
    def _not_placeholder(cls, v: SecretStr) -> SecretStr:
        reject_placeholder(v.get_secret_value())
        if len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return v
