"""Which services exist, which settings each needs, and how each is built: the one place
`ens up`, `ens run` and the tests look.

Settings are loaded here, at the edge, from the environment (or handed in whole by a caller,
e.g. a test or `ens up` giving the notifier its local mail sink) and passed to each service's
composition root; services never read the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from services.runtime.clock import Clock
from services.runtime.host import Service
from services.runtime.settings import RuntimeSettings, load_settings

if TYPE_CHECKING:
    from services.auth.settings import AuthSettings
    from services.console.app import Console
    from services.filing.settings import FilingSettings
    from services.notifier.settings import NotifierSettings, SmtpSettings
    from services.scheduler.settings import SchedulerSettings


@dataclass(frozen=True)
class SuiteSettings:
    """Each service's own settings; None means "load it from the environment when needed"."""

    auth: AuthSettings | None = None
    filing: FilingSettings | None = None
    notifier: NotifierSettings | None = None
    smtp: SmtpSettings | None = None
    scheduler: SchedulerSettings | None = None

    def loaded(self, names: list[str]) -> SuiteSettings:
        """The same, with the settings of the named services loaded (one SettingsError line on a bad one)."""
        out = self
        if "auth" in names and out.auth is None:
            from services.auth.settings import AuthSettings

            out = replace(out, auth=load_settings(AuthSettings))
        if "filing" in names and out.filing is None:
            from services.filing.settings import FilingSettings

            out = replace(out, filing=load_settings(FilingSettings))
        if "notifier" in names:
            from services.notifier.settings import NotifierSettings, SmtpSettings

            if out.notifier is None:
                out = replace(out, notifier=load_settings(NotifierSettings))
            if out.smtp is None:
                out = replace(out, smtp=load_settings(SmtpSettings))
        if "scheduler" in names and out.scheduler is None:
            from services.scheduler.settings import SchedulerSettings

            out = replace(out, scheduler=load_settings(SchedulerSettings))
        return out


def build_service(name: str, runtime: RuntimeSettings, clock: Clock, settings: SuiteSettings) -> Service:
    s = settings.loaded([name])
    if name == "auth":
        from services.auth.app import build as build_auth

        assert s.auth is not None
        return build_auth(runtime, s.auth, clock)
    if name == "filing":
        from services.filing.app import build as build_filing

        assert s.filing is not None
        return build_filing(runtime, s.filing, clock)
    if name == "notifier":
        from services.notifier.app import build as build_notifier

        assert s.notifier is not None and s.smtp is not None
        return build_notifier(runtime, s.notifier, s.smtp, clock)
    if name == "scheduler":
        from services.scheduler.app import build as build_scheduler

        assert s.scheduler is not None
        return build_scheduler(runtime, s.scheduler, clock)
    raise ValueError(f"no such service: {name}")


def build_services(
    names: list[str], runtime: RuntimeSettings, clock: Clock, settings: SuiteSettings | None = None
) -> list[Service]:
    loaded = (settings or SuiteSettings()).loaded(names)
    return [build_service(name, runtime, clock, loaded) for name in names]


def build_console(runtime: RuntimeSettings, clock: Clock, settings: SuiteSettings | None = None) -> Console:
    """The officers' web console (services/console), given the notifier's settings so that a
    mail it rebuilds for an officer is the one the notifier sent."""
    from services.console.app import build as build_console_app
    from services.console.settings import ConsoleSettings

    loaded = (settings or SuiteSettings()).loaded(["notifier"])
    return build_console_app(runtime, load_settings(ConsoleSettings), clock, loaded.notifier)
