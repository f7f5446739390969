"""Auth's settings (ENS_AUTH_*), passed to `app.build`; never read inside the service."""

from __future__ import annotations

from datetime import time, timedelta

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.auth.adapters.passwords import HashParameters
from services.auth.domain.periods import Periods
from services.runtime.settings import reject_placeholder


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_AUTH_", extra="ignore", frozen=True)

    operator_token: SecretStr = Field(description="Secret that operator commands (CreateOfficer) must present.")
    lockout_threshold: int = Field(default=5, ge=1, description="Consecutive failed logins that lock an account.")
    lockout_hours: float = Field(default=24, gt=0, description="How long a lock lasts.")
    session_idle_minutes: float = Field(default=30, gt=0, description="Session idle timeout.")
    session_absolute_hours: float = Field(default=8, gt=0, description="Session absolute timeout.")
    hash_memory_kib: int = Field(default=19_456, ge=8_192, description="argon2id memory (OWASP minimum 19 MiB).")
    hash_time_cost: int = Field(default=2, ge=1, description="argon2id iterations.")
    hash_parallelism: int = Field(default=1, ge=1, description="argon2id lanes.")
    hash_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Password hashes computed at once per process; scale logins by running one `ens run auth` per core.",
    )

    @field_validator("operator_token")
    @classmethod
    def _not_placeholder(cls, v: SecretStr) -> SecretStr:
        reject_placeholder(v.get_secret_value())
        if len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    def periods(self, activation_time: time) -> Periods:
        """The periods of SPEC §1; the activation time is the suite's one setting (RuntimeSettings)."""
        return Periods(
            lockout_threshold=self.lockout_threshold,
            lockout=timedelta(hours=self.lockout_hours),
            session_idle=timedelta(minutes=self.session_idle_minutes),
            session_absolute=timedelta(hours=self.session_absolute_hours),
            activation_time=activation_time,
        )

    def hash_parameters(self) -> HashParameters:
        return HashParameters(memory_kib=self.hash_memory_kib, time_cost=self.hash_time_cost, parallelism=self.hash_parallelism)
