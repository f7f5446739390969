"""Which use case answers which command of auth: the whole routing, on one screen. The runtime
pipeline mounts it (subjects from the contract, audit, principal, error replies)."""

from __future__ import annotations

from contracts import auth as c
from services.auth import jobs, login, notices, officers, registration, self_service
from services.auth.domain.account import Account, view
from services.auth.domain.session import Caller
from services.auth.ports import AuthDeps
from services.runtime.as_of import not_in_future
from services.runtime.idempotency import AlreadyApplied
from services.runtime.pipeline import CommandContext, HandlerTable, ReplayTable

HANDLERS: HandlerTable[AuthDeps, Caller] = {
    # sessions (login.py)
    c.Login: login.login,
    c.Logout: login.logout,
    c.IntrospectSession: login.introspect,
    # the user's own account (self_service.py)
    c.ChangePassword: self_service.change_password,
    c.ChangeEmail: self_service.change_email,
    # officers and the operator (registration.py, officers.py, notices.py)
    c.CreateOfficer: registration.create_officer,
    c.RegisterAccount: registration.register,
    c.ReissueAuthId: officers.reissue_auth_id,
    c.SetPassword: officers.set_password,
    c.Deregister: officers.deregister,
    c.GetAccount: officers.get_account,
    c.ChangeAccountEmail: officers.change_account_email,
    c.ChangeOrganisationDetails: officers.change_organisation_details,
    # other services (officers.py)
    c.GetOrganisationContact: officers.organisation_contact,
    c.PublishNotice: notices.publish_notice,
    c.WithdrawNotice: notices.withdraw_notice,
    c.ListNotices: notices.list_notices,
    # the scheduler (jobs.py)
    c.ActivateDueRegistrations: not_in_future(jobs.activate_due_registrations),
    c.SendPasswordExpiryWarnings: not_in_future(jobs.send_password_expiry_warnings),
    c.ExpireIdleAccounts: not_in_future(jobs.expire_idle_accounts),
}


Ctx = CommandContext[AuthDeps, Caller]

# A keyed command whose change a copy that died before storing its reply made is answered from
# the entity that change wrote (runtime/idempotency.py); commands answered `Ack` need no entry.


async def _registered(cmd: c.RegisterAccount, applied: AlreadyApplied, ctx: Ctx) -> c.AccountRegistration:
    account = Account.model_validate(applied.state)
    assert account.effective_on is not None  # a registered account has its day
    return c.AccountRegistration(auth_id=account.auth_id, effective_on=account.effective_on)


async def _account_view(cmd: c.ChangeOrganisationDetails, applied: AlreadyApplied, ctx: Ctx) -> c.AccountView:
    return c.AccountView(account=view(Account.model_validate(applied.state), ctx.deps.clock.now()))


async def _notice(cmd: c.PublishNotice, applied: AlreadyApplied, ctx: Ctx) -> c.NoticeView:
    return c.NoticeView(notice=c.Notice.model_validate(applied.state))


REPLAYS: ReplayTable[AuthDeps, Caller] = {
    c.RegisterAccount: _registered,
    c.ChangeOrganisationDetails: _account_view,
    c.PublishNotice: _notice,
}
