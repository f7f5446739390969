"""What the intake needs from the world: someone who records a bounce (the notifier, over NATS,
in production: adapters/notifier.py; a recording fake in tests)."""

from __future__ import annotations

from typing import Protocol

from contracts.notifier import BounceRecorded, RecordBounce


class NotifierUnavailable(Exception):
    """The bounce was not recorded and may be tried again: the MTA is told 451 and retries."""


class BounceRefused(Exception):
    """The notifier refused the report for good (e.g. a field it does not take): retrying cannot help."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class BounceRecorder(Protocol):
    async def record(self, command: RecordBounce) -> BounceRecorded:
        """Raises NotifierUnavailable or BounceRefused."""
        ...
