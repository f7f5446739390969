"""What the console needs from the outside, as Protocols: the suite's commands and, to show a
mail as it was sent, the event that caused it. Tests hand in fakes or the real adapters."""

from __future__ import annotations

from typing import Protocol, TypeVar

from contracts.common import Command, Event, Reply
from contracts.notifier import DeliveryRecord

R = TypeVar("R", bound=Reply)


class Suite(Protocol):
    async def call(self, command: Command[R]) -> R:
        """The command's reply, or CommandRefused (contracts.client) with the error envelope."""
        ...


class SentEvents(Protocol):
    async def find(self, record: DeliveryRecord) -> Event | None:
        """The domain event that caused the mail, or None when the event stream no longer has it."""
        ...
