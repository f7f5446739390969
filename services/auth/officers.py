"""Officer actions on an organisation's account (SPEC §1): reissue the auth ID by mail, set a
new password, deregister, read the account, and — on the organisation's request (Q22, Q43) —
change its e-mail address or its registered details. Each records where the request came
from (窓口 or 郵送, bureau, form reference) in the audit trail. An organisation's session never
gets here. Also the one query another service makes: the organisation's registered address now."""

from __future__ import annotations

from contracts import auth as c
from contracts.common import Ack
from services.auth.domain import policy, transitions
from services.auth.domain.account import Account, view
from services.auth.domain.errors import AccountNotFound, NoValidAccount, OrganisationAccountNotFound, SamePassword
from services.auth.domain.session import Caller
from services.auth.ports import AuthDeps
from services.runtime.errors import InvalidInput, field_error
from services.runtime.pipeline import CommandContext, Trail

Ctx = CommandContext[AuthDeps, Caller]


def record_request(trail: Trail, request: c.RequestProvenance | None) -> None:
    """The request's provenance into the audit record (bounded by the contract, checked by policy)."""
    errors = policy.request_errors(request)
    if errors:
        raise InvalidInput(fields=errors)
    if request is not None:
        trail.details["request"] = {
            "channel": request.channel.value,
            "channel_label": request.channel.label,
            "bureau": request.bureau,
            "form_reference": request.form_reference,
        }


async def _account_of_organisation(deps: AuthDeps, organisation_id: str) -> Account | None:
    claim = await deps.claims.read(organisation_id)
    return await deps.accounts.get(claim.value.auth_id) if claim is not None else None


async def reissue_auth_id(cmd: c.ReissueAuthId, ctx: Ctx) -> Ack:
    ctx.trail.target = cmd.organisation_id
    await ctx.officer()
    record_request(ctx.trail, cmd.request)
    deps = ctx.deps
    account = await _account_of_organisation(deps, cmd.organisation_id)
    if account is None or not account.status.is_valid:
        raise NoValidAccount()
    ctx.trail.target = account.auth_id
    updated = await deps.accounts.update(account.auth_id, lambda a: transitions.reissue_auth_id(a, deps.clock.now()))
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return Ack()


async def set_password(cmd: c.SetPassword, ctx: Ctx) -> Ack:
    """After the counter or postal procedure (窓口又は郵送): the forgotten or expired password is
    replaced by the one the organisation wrote on its form, and the lock lifted."""
    ctx.trail.target = cmd.auth_id
    await ctx.officer()
    record_request(ctx.trail, cmd.request)
    deps = ctx.deps
    errors = policy.password_errors(cmd.new_password, cmd.auth_id, field="new_password", label="新しいパスワード")
    if errors:
        raise InvalidInput(fields=errors)
    new_hash = await deps.passwords.hash(cmd.new_password)
    current = await deps.accounts.get(cmd.auth_id)
    if current is not None and (await deps.passwords.verify(current.password_hash, cmd.new_password)).ok:
        raise SamePassword()
    updated = await deps.accounts.update(cmd.auth_id, lambda a: transitions.officer_set_password(a, new_hash, deps.clock.now()))
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return Ack()


async def deregister(cmd: c.Deregister, ctx: Ctx) -> Ack:
    ctx.trail.target = cmd.auth_id
    who = await ctx.officer()
    record_request(ctx.trail, cmd.request)
    deps = ctx.deps
    updated = await deps.accounts.update(cmd.auth_id, lambda a: transitions.deregister(a, who.auth_id, deps.clock.now()))
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return Ack()


async def change_account_email(cmd: c.ChangeAccountEmail, ctx: Ctx) -> Ack:
    """Q22/Q43: the organisation cannot log in (or asked at the counter): the officer sets the
    address from its form. Mail 3 goes to the new address, a notice to the old; not a use (Q27)."""
    ctx.trail.target = cmd.auth_id
    await ctx.officer()
    record_request(ctx.trail, cmd.request)
    errors = policy.email_errors(cmd.new_email, field="new_email", label="新しいメールアドレス")
    if errors:
        raise InvalidInput(fields=errors)
    deps = ctx.deps
    updated = await deps.accounts.update(
        cmd.auth_id, lambda a: transitions.change_email(a, cmd.new_email, deps.clock.now(), by_officer=True)
    )
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return Ack()


async def change_organisation_details(cmd: c.ChangeOrganisationDetails, ctx: Ctx) -> c.AccountView:
    """Q22: the organisation's registered name, changed on its request; later mails use it."""
    ctx.trail.target = cmd.organisation_id
    await ctx.officer()
    record_request(ctx.trail, cmd.request)
    errors = policy.name_errors(cmd.name, "name", "機関名")
    if errors:
        raise InvalidInput(fields=errors)
    deps = ctx.deps
    account = await _account_of_organisation(deps, cmd.organisation_id)
    if account is None or not account.status.is_valid:
        raise NoValidAccount()
    ctx.trail.details["auth_id"] = account.auth_id
    updated = await deps.accounts.update(account.auth_id, lambda a: transitions.change_organisation_details(a, cmd.name))
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return c.AccountView(account=view(updated.after, deps.clock.now()))


async def get_account(cmd: c.GetAccount, ctx: Ctx) -> c.AccountView:
    ctx.trail.target = cmd.auth_id or cmd.organisation_id
    await ctx.officer()
    deps = ctx.deps
    if bool(cmd.auth_id) == bool(cmd.organisation_id):
        message = "認証IDか法人番号等のどちらか一方を指定してください。"
        raise InvalidInput(
            fields=[
                field_error("auth_id", "one_of", message, "認証ID"),
                field_error("organisation_id", "one_of", message, "法人番号等"),
            ]
        )
    if cmd.auth_id:
        account = await deps.accounts.get(cmd.auth_id)
        if account is None:
            raise AccountNotFound()
    else:
        assert cmd.organisation_id is not None
        account = await _account_of_organisation(deps, cmd.organisation_id)
        if account is None:
            raise OrganisationAccountNotFound()
    return c.AccountView(account=view(account, deps.clock.now()))


async def organisation_contact(cmd: c.GetOrganisationContact, ctx: Ctx) -> c.OrganisationContact:
    """For filing and the notifier: where the organisation's mail goes now (its latest account's
    address, valid or not: a report returned after a deregistration still concerns the
    organisation). Asked by auth ID (a resent mail's account), the organisation of that account."""
    # Only two identities may ask (runtime/identities.py CALLS): filing by organisation, the notifier by auth ID.
    ctx.trail.actor = "filing" if cmd.organisation_id is not None else "notifier"
    ctx.trail.target = cmd.organisation_id or cmd.auth_id
    if (cmd.organisation_id is None) == (cmd.auth_id is None):
        raise InvalidInput(
            fields=[
                field_error("organisation_id", "one_of", "法人番号等か認証IDのどちらか一方を指定してください。", "法人番号等")
            ]
        )
    if cmd.organisation_id is not None:
        account = await _account_of_organisation(ctx.deps, cmd.organisation_id)
    else:
        assert cmd.auth_id is not None
        account = await ctx.deps.accounts.get(cmd.auth_id)
        if account is not None and account.organisation is not None:
            # The organisation's latest account: the one its mail goes to now.
            account = await _account_of_organisation(ctx.deps, account.organisation.organisation_id) or account
    if account is None:
        return c.OrganisationContact(organisation_id=cmd.organisation_id)
    return c.OrganisationContact(
        organisation_id=account.organisation.organisation_id if account.organisation else cmd.organisation_id,
        auth_id=account.auth_id,
        email=account.email,
        organisation=account.organisation,
        valid=account.status.is_valid,
        undeliverable=account.undeliverable is not None,
    )
