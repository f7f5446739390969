"""The AsyncAPI 3.0 document of the whole suite, generated from the services' handler tables.

The document describes subjects and messages, so it is made from what declares them — each
service's `handlers.HANDLERS` table and its contract's events — without building a service:
no settings, no secrets, nothing connected.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field

from faststream.nats import NatsRouter

from contracts import subjects
from contracts.common import Event
from services.runtime.host import ServiceContext, asyncapi_document
from services.runtime.pipeline import Pipeline, mount
from services.runtime.settings import RuntimeSettings


@dataclass
class _Declared:
    """A service as far as its subjects go: name, command router, events. Never started."""

    name: str
    events: tuple[type[Event], ...]
    router: NatsRouter = field(default_factory=NatsRouter)

    @property
    def identity(self) -> str:
        return self.name

    def owns(self) -> list[str]:
        return []

    async def start(self, ctx: ServiceContext) -> None:
        raise RuntimeError("a service declared for the AsyncAPI document is never started")

    async def stop(self) -> None:
        return None


def declared_services() -> list[_Declared]:
    out = []
    for name in subjects.SERVICES:
        table = importlib.import_module(f"services.{name}.handlers").HANDLERS
        contract = importlib.import_module(f"contracts.{name}")
        service = _Declared(name, tuple(contract.EVENTS))
        mount(service.router, Pipeline(name), table, concurrency=1)
        out.append(service)
    return out


def generate() -> str:
    runtime = RuntimeSettings(nats_url="nats://localhost:4222")
    doc = asyncapi_document(list(declared_services()), runtime).to_specification().to_jsonable()
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
