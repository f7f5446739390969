"""Ledger keys are valid KV keys for any input, so writes may skip nats-py's per-call check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.js.kv import _is_key_valid

from contracts.notifier import MailType
from services.notifier.adapters.ledger_kv import ledger_key
from services.notifier.domain.routing import MailRequest

anything = st.text(min_size=0, max_size=60)


@settings(max_examples=400, deadline=None)
@given(
    event_id=st.text(min_size=1, max_size=80),
    mail_type=st.sampled_from(list(MailType)),
    recipient=anything,
    auth_id=st.none() | anything,
    reception_number=st.none() | anything,
)
def test_every_ledger_key_passes_the_kv_key_check(event_id, mail_type, recipient, auth_id, reception_number):
    mail = MailRequest(
        event_id=event_id,
        mail_type=mail_type,
        recipient=recipient,
        context={},
        auth_id=auth_id,
        reception_number=reception_number,
    )
    key = ledger_key(mail)
    assert _is_key_valid(key), key
    assert key.count(".") == 4  # exactly the five tokens the delivery-log queries filter on
