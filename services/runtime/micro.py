"""The NATS service API (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`), so `nats micro ls/info/stats`
and any micro-aware tool find every replica of every service with its endpoints.

nats-py's `nats.micro.Service` answers the three verbs. Its endpoints would subscribe to the
command subjects themselves, though, beside the FastStream subscriptions that already serve
them; so the service here adds no endpoint of its own, and reports instead the commands the
pipeline serves (`Pipeline.endpoints`) with the pipeline's own counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nats.aio.client import Client as Nats
from nats.micro.service import EndpointInfo, EndpointStats, Service, ServiceConfig, ServiceInfo, ServiceStats

from contracts import subjects

_SEMVER = re.compile(r"^\d+\.\d+\.\d+")


def micro_name(service: str) -> str:
    """The service's name in the micro protocol: prefixed, so it cannot clash with another
    system's services on a shared NATS."""
    return f"ens-{service}"


@dataclass
class EndpointCounts:
    """What the micro STATS verb reports of one command, kept by the pipeline."""

    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_time_ns: int = 0

    def add(self, nanoseconds: int, error: str | None) -> None:
        self.num_requests += 1
        self.processing_time_ns += nanoseconds
        if error is not None:
            self.num_errors += 1
            self.last_error = error


@dataclass
class Endpoints:
    """A service's commands, by name: subject and counts."""

    service: str
    subjects: dict[str, str] = field(default_factory=dict)
    counts: dict[str, EndpointCounts] = field(default_factory=dict)

    def add(self, name: str, subject: str) -> None:
        self.subjects[name] = subject
        self.counts.setdefault(name, EndpointCounts())


class SuiteMicroService(Service):
    """A micro service whose endpoints are the commands a pipeline serves."""

    def __init__(self, nc: Nats, config: ServiceConfig, endpoints: Endpoints) -> None:
        super().__init__(nc, config)
        self._ens_endpoints = endpoints

    def info(self) -> ServiceInfo:
        info = super().info()
        info.endpoints = [
            EndpointInfo(name=name, subject=subject, queue_group=subjects.queue_group(self._ens_endpoints.service))
            for name, subject in self._ens_endpoints.subjects.items()
        ]
        return info

    def stats(self) -> ServiceStats:
        stats = super().stats()
        group = subjects.queue_group(self._ens_endpoints.service)
        out = []
        for name, subject in self._ens_endpoints.subjects.items():
            c = self._ens_endpoints.counts[name]
            out.append(
                EndpointStats(
                    name=name,
                    subject=subject,
                    queue_group=group,
                    num_requests=c.num_requests,
                    num_errors=c.num_errors,
                    last_error=c.last_error,
                    processing_time=c.processing_time_ns,
                    average_processing_time=c.processing_time_ns // c.num_requests if c.num_requests else 0,
                )
            )
        stats.endpoints = out
        return stats


async def start(nc: Nats, service: str, version: str, description: str, instance: str, endpoints: Endpoints) -> Service:
    semver = version if _SEMVER.match(version) else "0.0.0"
    config = ServiceConfig(
        name=micro_name(service),
        version=semver,
        description=description,
        metadata={"instance": instance, "service": service},
    )
    micro = SuiteMicroService(nc, config, endpoints)
    await micro.start()
    return micro
