"""Every keyed command of auth and filing whose reply is more than `Ack` has a replay: after a
crash between its change and its stored reply, a retry is answered from the entity the change
wrote (runtime/idempotency.py). The notifier's keyed commands are idempotent by their own ids
(a bounce of a mail, a resend's derived mail id) and write no marks."""

from __future__ import annotations

import importlib

import pytest

import contracts
from contracts.common import Ack, Idempotent


@pytest.mark.parametrize("service", ["auth", "filing"])
def test_every_keyed_command_with_a_reply_has_a_replay(service):
    handlers = importlib.import_module(f"services.{service}.handlers")
    keyed = [c for c in handlers.HANDLERS if issubclass(c, Idempotent) and not issubclass(c.REPLY, Ack)]
    assert keyed, "the service has keyed commands"
    missing = [c.__name__ for c in keyed if c not in handlers.REPLAYS]
    assert not missing, f"{service}: keyed commands a crash could leave without a reply: {missing}"
    assert all(c in contracts.ALL_COMMANDS for c in handlers.REPLAYS)
