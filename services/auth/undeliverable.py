"""The registered address bounced: the notifier's AddressBounced flags the account's address as
undeliverable (with when and why), until a new address is registered (transitions.change_email
clears it). Mails still go to a flagged address; the organisation sees a notice at login, and
officers see the flag in GetAccount (SPEC §3, Q13/Q21/Q38: 「メールが届かない」)."""

from __future__ import annotations

import logging

from contracts import auth as c
from contracts.notifier import AddressBounced
from services.auth.domain import transitions
from services.auth.ports import AuthDeps

log = logging.getLogger("ens.auth.bounces")


async def address_bounced(deps: AuthDeps, event: AddressBounced) -> bool:
    """Flag the account's address; True when this event changed the account. Idempotent: a
    redelivered event (or a second bounce) finds the address flagged already."""
    if event.auth_id is None:
        return False
    flag = c.UndeliverableAddress(
        email=event.recipient,
        since=event.bounced_at,
        status_code=event.status_code,
        reason=(event.diagnostic or "")[:500] or None,
        mail_id=event.mail_id,
    )
    updated = await deps.accounts.update(event.auth_id, lambda account: transitions.address_bounced(account, flag))
    changed = updated is not None and updated.changed
    if changed:
        log.info("account %s: registered address flagged undeliverable (mail %s)", event.auth_id, event.mail_id)
    return changed
