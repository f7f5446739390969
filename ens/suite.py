"""Which services exist and how each is built: the one place `ens up` and `ens run` look."""

from __future__ import annotations

from collections.abc import Callable

from services.runtime.clock import Clock
from services.runtime.host import Service
from services.runtime.settings import RuntimeSettings


def builders() -> dict[str, Callable[[RuntimeSettings, Clock], Service]]:
    from services.auth.app import build as build_auth
    from services.filing.app import build as build_filing
    from services.notifier.app import build as build_notifier
    from services.scheduler.app import build as build_scheduler

    return {"auth": build_auth, "filing": build_filing, "notifier": build_notifier, "scheduler": build_scheduler}


def build_services(names: list[str], runtime: RuntimeSettings, clock: Clock) -> list[Service]:
    table = builders()
    return [table[name](runtime, clock) for name in names]
