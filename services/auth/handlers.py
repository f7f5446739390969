"""The routing table of auth: each command to one method of Accounts. Nothing else happens here."""

from collections.abc import Callable

from faststream.nats import NatsRouter

from contracts import auth as c
from contracts.common import Ack
from services.auth.accounts import Accounts
from services.runtime.handlers import handles


def register(router: NatsRouter, accounts: Callable[[], Accounts]) -> None:
    """`accounts()` gives the started service's Accounts (built at start, when NATS is there)."""
    s = c.SERVICE

    @handles(router, c.Login, s)
    async def login(cmd: c.Login) -> c.LoginResult:
        return await accounts().login(cmd)

    @handles(router, c.Logout, s)
    async def logout(cmd: c.Logout) -> Ack:
        return await accounts().logout(cmd)

    @handles(router, c.IntrospectSession, s)
    async def introspect_session(cmd: c.IntrospectSession) -> c.SessionInfo:
        return await accounts().introspect(cmd)

    @handles(router, c.ChangePassword, s)
    async def change_password(cmd: c.ChangePassword) -> Ack:
        return await accounts().change_password(cmd)

    @handles(router, c.ChangeEmail, s)
    async def change_email(cmd: c.ChangeEmail) -> Ack:
        return await accounts().change_email(cmd)

    @handles(router, c.RegisterAccount, s)
    async def register_account(cmd: c.RegisterAccount) -> c.AccountRegistration:
        return await accounts().register(cmd)

    @handles(router, c.ReissueAuthId, s)
    async def reissue_auth_id(cmd: c.ReissueAuthId) -> Ack:
        return await accounts().reissue_auth_id(cmd)

    @handles(router, c.SetPassword, s)
    async def set_password(cmd: c.SetPassword) -> Ack:
        return await accounts().set_password(cmd)

    @handles(router, c.Deregister, s)
    async def deregister(cmd: c.Deregister) -> Ack:
        return await accounts().deregister(cmd)

    @handles(router, c.GetAccount, s)
    async def get_account(cmd: c.GetAccount) -> c.AccountView:
        return await accounts().get_account(cmd)

    @handles(router, c.PublishNotice, s)
    async def publish_notice(cmd: c.PublishNotice) -> c.NoticeView:
        return await accounts().publish_notice(cmd)

    @handles(router, c.WithdrawNotice, s)
    async def withdraw_notice(cmd: c.WithdrawNotice) -> Ack:
        return await accounts().withdraw_notice(cmd)

    @handles(router, c.ListNotices, s)
    async def list_notices(cmd: c.ListNotices) -> c.NoticeList:
        return await accounts().list_notices(cmd)

    @handles(router, c.CreateOfficer, s)
    async def create_officer(cmd: c.CreateOfficer) -> Ack:
        return await accounts().create_officer(cmd)

    @handles(router, c.ActivateDueRegistrations, s)
    async def activate_due_registrations(cmd: c.ActivateDueRegistrations) -> c.JobResult:
        return await accounts().activate_due(cmd)

    @handles(router, c.SendPasswordExpiryWarnings, s)
    async def send_password_expiry_warnings(cmd: c.SendPasswordExpiryWarnings) -> c.JobResult:
        return await accounts().send_expiry_warnings(cmd)

    @handles(router, c.ExpireIdleAccounts, s)
    async def expire_idle_accounts(cmd: c.ExpireIdleAccounts) -> c.JobResult:
        return await accounts().expire_idle(cmd)
