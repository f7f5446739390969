from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_SCHEDULER_", extra="ignore", frozen=True)

    activation_time: str = "09:00"
