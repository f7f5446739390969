"""Scheduler settings (env prefix ENS_SCHEDULER_): when each daily job runs, and how runs are claimed.
The next-day activation runs at the runtime's ENS_ACTIVATION_TIME, the one auth activates by.

Times are Japan time (Asia/Tokyo) wall-clock `HH:MM`; day lists accept `30,7` or JSON `[30, 7]`.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> time:
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not a time of day HH:MM (e.g. 09:00)")
    return time(int(match.group(1)), int(match.group(2)))


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_SCHEDULER_", extra="ignore", frozen=True)

    password_warning_time: str = Field(default="09:00", description="JST time of the password-expiry warning scan (mail 5).")
    account_expiry_time: str = Field(default="09:00", description="JST time of the idle-account expiry run.")
    filing_purge_time: str = Field(
        default="03:00",
        description="JST time of the retention purge; a missed day is harmless, the next purge takes everything older.",
    )
    warning_days_before: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [30, 7], description="Days before password expiry on which mail 5 goes out."
    )
    catch_up_grace_hours: float = Field(
        default=6.0,
        gt=0,
        lt=24,
        description="A job whose time today passed less than this long ago, with no finished run, runs at start-up.",
    )
    catch_up_wait_s: float = Field(
        default=120.0,
        gt=0,
        description="How long the start-up catch-up waits for auth (and filing) to answer before leaving that service's jobs to the periodic tick.",
    )
    lease_s: float = Field(
        default=900.0,
        gt=0,
        description="A run claimed longer ago than this and not finished (its replica died) is taken over.",
    )
    command_timeout_s: float = Field(
        default=300.0, gt=0, description="How long a job waits for auth/filing to finish one day's work."
    )
    retry_interval_s: float = Field(
        default=300.0,
        gt=0,
        description="How often due-but-unfinished jobs of today (failed, or abandoned) are retried.",
    )
    triggers: bool = Field(default=True, description="Run the APScheduler triggers; false leaves RunJob only.")

    @field_validator("password_warning_time", "account_expiry_time", "filing_purge_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value.strip()

    @field_validator("warning_days_before", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().strip("[]")
            try:
                value = [int(part) for part in text.split(",") if part.strip()]
            except ValueError:
                raise ValueError(f"'{text}' is not a list of whole days, e.g. 30,7") from None
        return value

    @field_validator("warning_days_before")
    @classmethod
    def _days_positive(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 365 for d in value):
            raise ValueError("needs one or more days between 1 and 365")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _lease_outlasts_a_command(self) -> SchedulerSettings:
        # A lease shorter than a command's timeout would let a second replica take over a run
        # that is still working; harmless (the commands are idempotent per day) but wasteful.
        if self.lease_s <= self.command_timeout_s:
            raise ValueError(
                f"ENS_SCHEDULER_LEASE_S ({self.lease_s:g}) must exceed ENS_SCHEDULER_COMMAND_TIMEOUT_S "
                f"({self.command_timeout_s:g})"
            )
        return self
