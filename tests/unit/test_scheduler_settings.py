"""Scheduler settings: every time and day count is a setting; a bad value names its variable."""

from __future__ import annotations

from datetime import time

import pytest

from contracts.scheduler import JobName
from services.runtime.settings import RuntimeSettings, SettingsError, load_settings
from services.scheduler.domain.jobs import job_table
from services.scheduler.settings import SchedulerSettings


def test_defaults_are_the_spec_batch_time_and_warning_days():
    s = load_settings(SchedulerSettings)
    assert s.password_warning_time == "09:00" and s.warning_days_before == [30, 7] and s.catch_up_grace_hours == 6


def test_the_activation_batch_runs_at_the_one_activation_time_auth_activates_by(monkeypatch):
    monkeypatch.setenv("ENS_ACTIVATION_TIME", "08:30")
    jobs = job_table(load_settings(SchedulerSettings), load_settings(RuntimeSettings).activation_time)
    assert jobs[JobName.ACTIVATE_REGISTRATIONS].at == time(8, 30)
    assert "activation_time" not in SchedulerSettings.model_fields


@pytest.mark.parametrize("raw", ["7,30", "[30, 7]", " 30 , 7 "])
def test_warning_days_read_from_the_environment(monkeypatch, raw):
    monkeypatch.setenv("ENS_SCHEDULER_WARNING_DAYS_BEFORE", raw)
    assert load_settings(SchedulerSettings).warning_days_before == [30, 7]


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("ENS_SCHEDULER_PASSWORD_WARNING_TIME", "9am", "ENS_SCHEDULER_PASSWORD_WARNING_TIME: '9am' is not a time of day"),
        ("ENS_SCHEDULER_FILING_PURGE_TIME", "24:00", "ENS_SCHEDULER_FILING_PURGE_TIME"),
        ("ENS_SCHEDULER_WARNING_DAYS_BEFORE", "thirty", "ENS_SCHEDULER_WARNING_DAYS_BEFORE"),
        ("ENS_SCHEDULER_WARNING_DAYS_BEFORE", "0,7", "between 1 and 365"),
        ("ENS_SCHEDULER_CATCH_UP_GRACE_HOURS", "30", "ENS_SCHEDULER_CATCH_UP_GRACE_HOURS"),
        ("ENS_SCHEDULER_LEASE_S", "60", "must exceed ENS_SCHEDULER_COMMAND_TIMEOUT_S"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings(SchedulerSettings)
    assert needle in str(err.value) and "\n" not in str(err.value)
