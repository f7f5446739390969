"""Login and lockout, logout, session introspection, and how auth resolves its own sessions.

The login is the hot path (benchmarked against bare argon2 verifies): one account read, one
hash, at most one compare-and-set write, one session write. Nothing here adds a round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import NoReturn

from contracts import auth as c
from contracts.common import Ack
from services.auth.domain import policy, transitions
from services.auth.domain.account import Account, AccountStatus
from services.auth.domain.errors import AccountLocked, LoginFailed
from services.auth.domain.lockout import UnknownLogin, unknown_failure
from services.auth.domain.session import Caller
from services.auth.domain.transitions import Decision
from services.auth.notices import in_force
from services.auth.ports import AuthDeps
from services.runtime.errors import DomainError, InvalidInput, Unauthenticated, field_error
from services.runtime.pipeline import CommandContext

Ctx = CommandContext[AuthDeps, Caller]


async def resolve(deps: AuthDeps, token: str) -> Caller:
    """The live session's account, or Unauthenticated. A deregistered or expired account's
    sessions end at once, because every use of a session checks the account too."""
    now = deps.clock.now()
    session = await deps.sessions.touch(token, now)
    if session is None:
        raise Unauthenticated()
    account = await deps.accounts.get(session.auth_id)
    if account is None or not account.usable(now):
        await deps.sessions.end(token)
        raise Unauthenticated()
    return Caller(auth_id=account.auth_id, role=account.role, account=account, session=session)


@dataclass(frozen=True)
class _Verification:
    password_hash: str  # the stored hash the password was verified against
    ok: bool
    rehash: str | None


class _Reconsider(Exception):
    """The account changed under the login in a way the decision cannot absorb: its password
    hash (verify again) or its status (deregistered: fail as an unknown ID)."""


def _decide(account: Account, verified: _Verification, now: datetime, deps: AuthDeps) -> Decision | None:
    if account.status is AccountStatus.DEREGISTERED or account.password_hash != verified.password_hash:
        raise _Reconsider()
    locked = account.locked_at(now)
    if locked is not None:
        raise AccountLocked(locked)
    if not verified.ok:
        return transitions.failed_login(account, now, deps.periods)
    return transitions.succeeded_login(account, now, deps.periods, verified.rehash)


async def login(cmd: c.Login, ctx: Ctx) -> c.LoginResult:
    deps = ctx.deps
    ctx.trail.actor = ctx.trail.target = cmd.auth_id
    missing = [
        field_error(name, "required", "入力してください。", label)
        for name, label, value in (("auth_id", "認証ID", cmd.auth_id), ("password", "パスワード", cmd.password))
        if not value
    ]
    if missing:
        raise InvalidInput(fields=missing)
    now = deps.clock.now()
    if policy.auth_id_errors(cmd.auth_id):
        # No account can have such an ID (it may be too long to be a key): the same failure,
        # the same hash time, without touching a bucket.
        await deps.passwords.verify(None, cmd.password)
        raise LoginFailed()
    stored = await deps.accounts.read(cmd.auth_id)
    verified: _Verification | None = None
    while True:
        if stored is None or stored.value.status is AccountStatus.DEREGISTERED:
            await _unknown_failure(deps, cmd.auth_id, cmd.password, now, verified=verified is not None)
        account = stored.value
        locked = account.locked_at(now)
        if locked is not None:
            raise AccountLocked(locked)
        if verified is None or verified.password_hash != account.password_hash:
            result = await deps.passwords.verify(account.password_hash, cmd.password)
            rehash = await deps.passwords.hash(cmd.password) if result.needs_rehash else None
            verified = _Verification(account.password_hash, result.ok, rehash)
        try:
            updated = await deps.accounts.update(
                cmd.auth_id, partial(_decide, verified=verified, now=now, deps=deps), first=stored
            )
        except _Reconsider:
            stored = await deps.accounts.read(cmd.auth_id)
            continue
        break
    assert updated is not None  # accounts are never deleted
    after = updated.after
    if not verified.ok:
        ctx.trail.details["failed_logins"] = after.failed_logins
        if after.locked_until is not None:
            ctx.trail.details["locked"] = True
        raise LoginFailed()
    opened = await deps.sessions.open(after.auth_id, after.role, now)
    return c.LoginResult(
        session_token=opened.token,
        role=after.role,
        auth_id=after.auth_id,
        organisation=after.organisation,
        idle_expires_at=opened.idle_expires_at,
        absolute_expires_at=opened.absolute_expires_at,
        password_expires_at=after.password_expires_at,
        notices=await in_force(deps, now),
        address_warning=c.ADDRESS_UNDELIVERABLE_NOTICE if after.undeliverable is not None else None,
    )


async def _unknown_failure(deps: AuthDeps, auth_id: str, password: str, now: datetime, *, verified: bool) -> NoReturn:
    """An ID without a (live) account fails like a wrong password: same hash time, same counted
    write, same lock after the same number of tries, same replies."""
    first = await deps.unknown_logins.read(auth_id)
    locked = first.value.locked_at(now) if first is not None else None
    if locked is not None:
        raise AccountLocked(locked)
    if not verified:
        await deps.passwords.verify(None, password)

    def count(record: UnknownLogin) -> UnknownLogin:
        until = record.locked_at(now)
        if until is not None:  # locked by a concurrent try meanwhile
            raise AccountLocked(until)
        return unknown_failure(record, now, deps.periods)

    await deps.unknown_logins.update(auth_id, count, first=first)
    raise LoginFailed()


async def logout(cmd: c.Logout, ctx: Ctx) -> Ack:
    who = await ctx.principal()
    ctx.trail.target = who.auth_id
    await ctx.deps.sessions.end(cmd.session_token)
    return Ack()


async def introspect(cmd: c.IntrospectSession, ctx: Ctx) -> c.SessionInfo:
    """For the other services; a dead session is an answer (active=False), not a refusal."""
    ctx.trail.actor = "system"
    try:
        who = await ctx.principal()
    except DomainError:
        ctx.trail.details["active"] = False
        return c.SessionInfo(active=False)
    ctx.trail.target = who.auth_id
    return c.SessionInfo(
        active=True,
        role=who.role,
        auth_id=who.auth_id,
        organisation=who.account.organisation,
        email=who.account.email,
        expires_at=who.session.expires_at(ctx.deps.periods),
    )
