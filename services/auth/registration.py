"""Registration (利用者情報登録, Q20-21) by an officer, and officers created by the operator.
The next-day activation is a scheduled job (jobs.py)."""

from __future__ import annotations

import hmac
from datetime import datetime

from contracts import auth as c
from contracts.common import Ack
from services.auth.domain import policy, transitions
from services.auth.domain.account import DueKind
from services.auth.domain.errors import AuthIdTaken, OrganisationHasAccount, WrongOperatorToken
from services.auth.domain.organisation import Claim, claim_held
from services.auth.domain.session import Caller
from services.auth.officers import record_request
from services.auth.ports import AuthDeps, Stored
from services.runtime.clock import business_day
from services.runtime.errors import InvalidInput
from services.runtime.outbox import StaleRevision
from services.runtime.pipeline import CommandContext

Ctx = CommandContext[AuthDeps, Caller]


async def create_officer(cmd: c.CreateOfficer, ctx: Ctx) -> Ack:
    ctx.trail.actor, ctx.trail.target = "operator", cmd.auth_id
    deps = ctx.deps
    if not hmac.compare_digest(cmd.operator_token.encode(), deps.operator_token.encode()):
        raise WrongOperatorToken()
    errors = [
        *policy.auth_id_errors(cmd.auth_id),
        *policy.password_errors(cmd.password, cmd.auth_id, field="password"),
        *policy.name_errors(cmd.name, "name", "氏名"),
        *policy.email_errors(cmd.email),
    ]
    if errors:
        raise InvalidInput(fields=errors)
    now = deps.clock.now()
    officer = transitions.new_officer(
        auth_id=cmd.auth_id, name=cmd.name, email=cmd.email, password_hash=await deps.passwords.hash(cmd.password), now=now
    )
    # Never used yet, so the store sets no last-use marker: the idle year counts from now.
    await deps.index.mark(DueKind.LAST_USE, business_day(now), cmd.auth_id)
    await deps.accounts.create(officer)
    return Ack()


async def register(cmd: c.RegisterAccount, ctx: Ctx) -> c.AccountRegistration:
    ctx.trail.target = cmd.auth_id
    await ctx.officer()
    deps = ctx.deps
    org_id = cmd.organisation.organisation_id
    ctx.trail.details["organisation_id"] = org_id
    record_request(ctx.trail, cmd.request)
    errors = [
        *policy.organisation_id_errors(org_id),
        *policy.name_errors(cmd.organisation.name, "organisation.name", "機関名"),
        *policy.auth_id_errors(cmd.auth_id),
        *policy.password_errors(cmd.initial_password, cmd.auth_id, field="initial_password"),
        *policy.email_errors(cmd.email),
    ]
    if errors:
        raise InvalidInput(fields=errors)
    if await deps.accounts.get(cmd.auth_id) is not None:
        raise AuthIdTaken()
    now = deps.clock.now()
    # Hash before claiming: the claim should live as briefly as possible unbacked.
    password_hash = await deps.passwords.hash(cmd.initial_password)
    claim = await _claim_organisation(deps, org_id, cmd.auth_id, now)
    account, events = transitions.register(
        auth_id=cmd.auth_id, organisation=cmd.organisation, email=cmd.email, password_hash=password_hash, now=now
    )
    assert account.effective_on is not None
    # The marker first: a marker without its account is skipped by the job; an account without
    # its marker would never be activated.
    await deps.index.mark(DueKind.PENDING, account.effective_on, cmd.auth_id)
    try:
        await deps.accounts.create(account, events)
    except AuthIdTaken:
        await deps.claims.release(org_id, claim)
        raise
    return c.AccountRegistration(auth_id=cmd.auth_id, effective_on=account.effective_on)


async def _claim_organisation(deps: AuthDeps, organisation_id: str, auth_id: str, now: datetime) -> Stored[Claim]:
    """Claim the organisation for this auth ID; refused while it has a valid account.

    Its own compare-and-set loop, not the repository's `update`: whether a claim may be taken
    depends on another record (the holder's account), read afresh on every try."""
    while True:
        current = await deps.claims.read(organisation_id)
        if current is not None:
            holder = await deps.accounts.get(current.value.auth_id)
            if claim_held(current.value, holder, now):
                raise OrganisationHasAccount()
        try:
            return await deps.claims.put(organisation_id, Claim(auth_id=auth_id, claimed_at=now), expected=current)
        except StaleRevision:
            continue
