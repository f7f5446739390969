"""The shared language of the ENS suite: every subject, command, reply and event.

One module per bounded context (auth, filing, notifier, scheduler); `common` holds the
bases and the error envelope; `client` is a small typed client for other programs.
"""

from contracts import auth, filing, notifier, scheduler
from contracts.common import Command, ErrorBody, ErrorCode, ErrorReply, Event, FieldError, Reply

ALL_COMMANDS = auth.COMMANDS + filing.COMMANDS + notifier.COMMANDS + scheduler.COMMANDS
ALL_EVENTS = auth.EVENTS + filing.EVENTS + notifier.EVENTS + scheduler.EVENTS
EVENTS_BY_SUBJECT = {e.SUBJECT: e for e in ALL_EVENTS}

__all__ = [
    "ALL_COMMANDS",
    "ALL_EVENTS",
    "EVENTS_BY_SUBJECT",
    "Command",
    "ErrorBody",
    "ErrorCode",
    "ErrorReply",
    "Event",
    "FieldError",
    "Reply",
]
