"""What a logged-in user changes on their own account: password and e-mail (SPEC §1, Q37-40).
Both count as use of the account."""

from __future__ import annotations

from contracts import auth as c
from contracts.common import Ack
from services.auth.domain import policy, transitions
from services.auth.domain.account import Account
from services.auth.domain.errors import AccountNotFound, CurrentPasswordMismatch, SamePassword
from services.auth.domain.session import Caller
from services.auth.domain.transitions import Decision
from services.auth.ports import AuthDeps
from services.runtime.errors import InvalidInput
from services.runtime.pipeline import CommandContext

Ctx = CommandContext[AuthDeps, Caller]


class _HashChanged(Exception):
    """The stored password changed after the current one was checked: check again."""


async def change_password(cmd: c.ChangePassword, ctx: Ctx) -> Ack:
    who = await ctx.principal()
    ctx.trail.target = who.auth_id
    deps = ctx.deps
    errors = policy.password_errors(cmd.new_password, who.auth_id, field="new_password", label="新しいパスワード")
    if errors:
        raise InvalidInput(fields=errors)
    new_hash = await deps.passwords.hash(cmd.new_password)
    while True:
        stored = await deps.accounts.read(who.auth_id)
        if stored is None:
            raise AccountNotFound("アカウントが見つかりません。")
        checked = stored.value.password_hash
        # The current password must match and the new one differ, checked against the stored hash.
        if not (await deps.passwords.verify(checked, cmd.current_password)).ok:
            raise CurrentPasswordMismatch()
        if (await deps.passwords.verify(checked, cmd.new_password)).ok:
            raise SamePassword()

        def change(account: Account, checked: str = checked) -> Decision:
            if account.password_hash != checked:
                raise _HashChanged()
            return transitions.change_own_password(account, new_hash, deps.clock.now())

        try:
            await deps.accounts.update(who.auth_id, change, first=stored)
        except _HashChanged:
            continue
        return Ack()


async def change_email(cmd: c.ChangeEmail, ctx: Ctx) -> Ack:
    who = await ctx.principal()
    ctx.trail.target = who.auth_id
    errors = policy.email_errors(cmd.new_email, field="new_email", label="新しいメールアドレス")
    if errors:
        raise InvalidInput(fields=errors)
    deps = ctx.deps
    updated = await deps.accounts.update(who.auth_id, lambda a: transitions.change_email(a, cmd.new_email, deps.clock.now()))
    if updated is None:
        raise AccountNotFound("アカウントが見つかりません。")
    return Ack()
