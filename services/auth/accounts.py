"""The account lifecycle of SPEC §1: registration, activation, login and lockout, passwords,
e-mail, officer actions, expiry. Plain async code over ports (records, index, audit, clock),
so the rules run against in-memory fakes in unit tests and against NATS in the service.

Every change of an account is one compare-and-set write carrying its events (the outbox); a
write that lost the race re-reads and decides again, so concurrent replicas never lose an
update or count a failed login twice.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from contracts import auth as c
from contracts.common import Ack, ErrorCode
from contracts.organisations import Role
from services.auth import policy
from services.auth.adapters.kv import LAST_USE, PASSWORD_EXPIRY, PENDING
from services.auth.notices import Notices
from services.auth.passwords import Passwords
from services.auth.periods import (
    Periods,
    account_expires_at,
    activation_due,
    effective_on,
    password_expires_at,
)
from services.auth.ports import Audit, Index, Records
from services.auth.sessions import Sessions
from services.runtime.clock import JST, Clock, business_day
from services.runtime.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, field_error
from services.runtime.outbox import Entry, EventDraft, StaleRevision

PENDING_STATUS, ACTIVE, DEREGISTERED, EXPIRED = "pending", "active", "deregistered", "expired"
VALID = frozenset({PENDING_STATUS, ACTIVE})  # "one valid account per organisation"

# Same code, same message, nothing else: an unknown ID and a wrong password are indistinguishable.
LOGIN_FAILED_MESSAGE = "認証IDまたはパスワードが正しくありません。"
JOB_CONCURRENCY = 128
# How long an organisation's claim whose account is not written yet is respected: a registration
# writes its account milliseconds after its claim; only a crashed one leaves a claim that long.
ORGANISATION_CLAIM_GRACE = timedelta(minutes=10)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def login_failed() -> DomainError:
    return DomainError(LOGIN_FAILED_MESSAGE, code=ErrorCode.LOGIN_FAILED)


@dataclass
class AuditNote:
    actor: str | None
    target: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Principal:
    auth_id: str
    role: Role
    state: dict[str, Any]
    session: dict[str, Any]


class Accounts:
    def __init__(
        self,
        *,
        accounts: Records,
        organisations: Records,
        unknown_logins: Records,
        index: Index,
        sessions: Sessions,
        notices: Notices,
        passwords: Passwords,
        audit: Audit,
        clock: Clock,
        operator_token: str,
        periods: Periods = Periods(),
    ) -> None:
        self.accounts = accounts
        self.organisations = organisations
        self.unknown_logins = unknown_logins
        self.index = index
        self.sessions = sessions
        self.notices = notices
        self.passwords = passwords
        self.audit = audit
        self.clock = clock
        self._operator_token = operator_token
        self.periods = periods

    # ---- auditing -------------------------------------------------------------------------

    @asynccontextmanager
    async def audited(self, command: str, actor: str | None, target: str | None) -> AsyncIterator[AuditNote]:
        """Every command leaves one audit record: actor, target, result (never a password)."""
        note = AuditNote(actor, target)
        try:
            yield note
        except DomainError as exc:
            await self.audit.record(command, actor=note.actor, target=note.target, result=str(exc.code), details=note.details)
            raise
        except Exception:
            await self.audit.record(command, actor=note.actor, target=note.target, result="internal", details=note.details)
            raise
        await self.audit.record(command, actor=note.actor, target=note.target, result="ok", details=note.details)

    async def principal(self, token: str, note: AuditNote | None = None) -> Principal:
        """The live session's account, or Unauthenticated. A deregistered or expired account's
        sessions end at once because every use checks the account itself."""
        now = self.clock.now()
        session = await self.sessions.touch(token, now)
        if session is None:
            raise DomainError(code=ErrorCode.UNAUTHENTICATED, message=UNAUTHENTICATED_MESSAGE)
        entry = await self.accounts.get(session["auth_id"])
        if entry is None or not self._usable(entry.state, now):
            await self.sessions.end(token)
            raise DomainError(code=ErrorCode.UNAUTHENTICATED, message=UNAUTHENTICATED_MESSAGE)
        if note is not None:
            note.actor = entry.state["auth_id"]
        return Principal(auth_id=entry.state["auth_id"], role=Role(entry.state["role"]), state=entry.state, session=session)

    async def officer(self, token: str, note: AuditNote) -> Principal:
        who = await self.principal(token, note)
        if who.role is not Role.OFFICER:
            raise Forbidden("この操作は職員のみ行えます。")
        return who

    def _usable(self, state: dict[str, Any], now: datetime) -> bool:
        return state["status"] == ACTIVE and now < self._account_expiry(state)

    def _account_expiry(self, state: dict[str, Any]) -> datetime:
        baseline = parse(state.get("last_used_at")) or parse(state.get("activated_at")) or parse(state["registered_at"])
        assert baseline is not None
        return account_expires_at(baseline)

    def _password_expiry(self, state: dict[str, Any]) -> datetime:
        set_at = parse(state["password_set_at"])
        assert set_at is not None
        return password_expires_at(set_at)

    def _locked_until(self, state: dict[str, Any], now: datetime) -> datetime | None:
        until = parse(state.get("locked_until"))
        return until if until is not None and now < until else None

    # ---- operator: officers ---------------------------------------------------------------

    async def create_officer(self, cmd: c.CreateOfficer) -> Ack:
        async with self.audited("CreateOfficer", "operator", cmd.auth_id):
            if not hmac.compare_digest(cmd.operator_token.encode(), self._operator_token.encode()):
                raise Forbidden("運用者トークンが正しくありません。")
            errors = [
                *policy.auth_id_errors(cmd.auth_id),
                *policy.password_errors(cmd.password, cmd.auth_id, field="password"),
                *policy.name_errors(cmd.name, "name", "氏名"),
                *policy.email_errors(cmd.email),
            ]
            if errors:
                raise InvalidInput(fields=errors)
            now = self.clock.now()
            state = self._new_state(
                auth_id=cmd.auth_id,
                role=Role.OFFICER,
                organisation=None,
                name=cmd.name,
                email=cmd.email,
                status=ACTIVE,
                password_hash=await self.passwords.hash(cmd.password),
                now=now,
            )
            state["activated_at"] = iso(now)
            await self.index.mark(PASSWORD_EXPIRY, business_day(password_expires_at(now)), cmd.auth_id)
            await self.index.mark(LAST_USE, business_day(now), cmd.auth_id)
            try:
                await self.accounts.put(cmd.auth_id, state, expected=None)
            except StaleRevision:
                raise auth_id_taken() from None
            return Ack()

    def _new_state(
        self,
        *,
        auth_id: str,
        role: Role,
        organisation: dict[str, Any] | None,
        name: str | None,
        email: str,
        status: str,
        password_hash: str,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "auth_id": auth_id,
            "role": str(role),
            "organisation": organisation,
            "name": name,
            "email": email,
            "status": status,
            "password_hash": password_hash,
            "registered_at": iso(now),
            "effective_on": None,
            "activated_at": None,
            "last_used_at": None,
            "password_set_at": iso(now),
            "failed_logins": 0,
            "locked_until": None,
            "warned": [],
        }

    # ---- registration and activation ------------------------------------------------------

    async def register(self, cmd: c.RegisterAccount) -> c.AccountRegistration:
        async with self.audited("RegisterAccount", None, cmd.auth_id) as note:
            await self.officer(cmd.session_token, note)
            note.details["organisation_id"] = cmd.organisation.organisation_id
            errors = [
                *policy.organisation_id_errors(cmd.organisation.organisation_id),
                *policy.name_errors(cmd.organisation.name, "organisation.name", "機関名"),
                *policy.auth_id_errors(cmd.auth_id),
                *policy.password_errors(cmd.initial_password, cmd.auth_id, field="initial_password"),
                *policy.email_errors(cmd.email),
            ]
            if errors:
                raise InvalidInput(fields=errors)
            if await self.accounts.get(cmd.auth_id) is not None:
                raise auth_id_taken()
            now = self.clock.now()
            organisation = cmd.organisation.model_dump(mode="json")
            # Hash before claiming: the claim should live as briefly as possible unbacked.
            password_hash = await self.passwords.hash(cmd.initial_password)
            claim = await self._claim_organisation(cmd.organisation.organisation_id, cmd.auth_id, now)
            effective = effective_on(now)
            state = self._new_state(
                auth_id=cmd.auth_id,
                role=Role.ORGANISATION,
                organisation=organisation,
                name=None,
                email=cmd.email,
                status=PENDING_STATUS,
                password_hash=password_hash,
                now=now,
            )
            state["effective_on"] = effective.isoformat()
            # Markers first: a marker without its account is skipped by the jobs; an account
            # without its marker would never be activated.
            await self.index.mark(PENDING, effective, cmd.auth_id)
            await self.index.mark(PASSWORD_EXPIRY, business_day(password_expires_at(now)), cmd.auth_id)
            try:
                await self.accounts.put(
                    cmd.auth_id,
                    state,
                    expected=None,
                    events=[
                        (c.AccountRegistered, {"auth_id": cmd.auth_id, "organisation": organisation, "effective_on": effective})
                    ],
                )
            except StaleRevision:
                await self._release_organisation(cmd.organisation.organisation_id, claim)
                raise auth_id_taken() from None
            return c.AccountRegistration(auth_id=cmd.auth_id, effective_on=effective)

    async def _claim_organisation(self, organisation_id: str, auth_id: str, now: datetime) -> Entry:
        """CAS-claim the organisation for this auth ID; refused while it has a valid account.

        A claim whose account is not written yet belongs to a registration in progress (it writes
        the account right after) and is respected for ORGANISATION_CLAIM_GRACE; only after that
        does it count as a crashed registration's leftover, free to take. Taking it sooner let two
        concurrent registrations for one organisation both succeed."""
        while True:
            current = await self.organisations.get(organisation_id)
            if current is not None:
                holder = await self.accounts.get(current.state["auth_id"])
                claimed_at = parse(current.state.get("claimed_at"))
                in_progress = holder is None and claimed_at is not None and now - claimed_at < ORGANISATION_CLAIM_GRACE
                if in_progress or (holder is not None and holder.state["status"] in VALID):
                    raise Conflict(
                        "この機関には既に有効なアカウントがあります。",
                        fields=[
                            field_error(
                                "organisation.organisation_id",
                                "organisation_has_account",
                                "この法人番号等の機関には既に有効なアカウントが登録されています。",
                                "法人番号等",
                            )
                        ],
                    )
            try:
                return await self.organisations.put(
                    organisation_id, {"auth_id": auth_id, "claimed_at": iso(now)}, expected=current
                )
            except StaleRevision:
                continue

    async def _release_organisation(self, organisation_id: str, claim: Entry) -> None:
        try:
            await self.organisations.delete(organisation_id, claim)
        except StaleRevision:
            pass  # someone else claimed it meanwhile; their claim stands

    async def activate_due(self, cmd: c.ActivateDueRegistrations) -> c.JobResult:
        async with self.audited("ActivateDueRegistrations", "system", None) as note:
            today = business_day(cmd.as_of)
            due = [(d, a) for d, a in await self.index.scan(PENDING) if d <= today and activation_due(d, cmd.as_of, self.periods)]
            results = await self._each(due, lambda item: self._activate(item[0], item[1]))
            changed = sum(results)
            note.details.update(processed=len(due), changed=changed)
            return c.JobResult(as_of=cmd.as_of, processed=len(due), changed=changed)

    async def _activate(self, day: date, auth_id: str) -> bool:
        changed = False
        while True:
            entry = await self.accounts.get(auth_id)
            if entry is None or entry.state["status"] != PENDING_STATUS:
                break
            now = self.clock.now()
            state = {**entry.state, "status": ACTIVE, "activated_at": iso(now)}
            await self.index.mark(LAST_USE, business_day(now), auth_id)
            event = {
                "auth_id": auth_id,
                "organisation": state["organisation"],
                "email": state["email"],
                "password_expires_at": self._password_expiry(state),
            }
            try:
                await self.accounts.put(auth_id, state, expected=entry, events=[(c.AccountActivated, event)])
            except StaleRevision:
                continue
            changed = True
            break
        await self.index.unmark(PENDING, day, auth_id)
        return changed

    async def _each(self, items: Sequence[Any], fn: Callable[[Any], Awaitable[bool]]) -> list[bool]:
        """Run a job's per-account step on a fixed pool of workers: bounded in-flight requests
        (not 100k tasks at once) and no batch barrier waiting for the slowest of a batch."""
        results: list[bool] = [False] * len(items)
        positions = iter(range(len(items)))

        async def worker() -> None:
            for i in positions:
                results[i] = await fn(items[i])

        await asyncio.gather(*(worker() for _ in range(min(JOB_CONCURRENCY, len(items)))))
        return results

    # ---- login ----------------------------------------------------------------------------

    async def login(self, cmd: c.Login) -> c.LoginResult:
        async with self.audited("Login", cmd.auth_id, cmd.auth_id) as note:
            missing = [
                field_error(name, "required", "入力してください。", label)
                for name, label, value in (("auth_id", "認証ID", cmd.auth_id), ("password", "パスワード", cmd.password))
                if not value
            ]
            if missing:
                raise InvalidInput(fields=missing)
            now = self.clock.now()
            if policy.auth_id_errors(cmd.auth_id):
                # No account can have such an ID (and it may be too long to be a key): the same
                # failure, without touching a bucket.
                await self.passwords.verify(None, cmd.password)
                raise login_failed()
            entry = await self.accounts.get(cmd.auth_id)
            verified_hash: str | None = None
            ok = False
            rehash: str | None = None
            while True:
                if entry is None or entry.state["status"] == DEREGISTERED:
                    await self._unknown_failure(cmd, now, verified=verified_hash is not None)
                state = dict(entry.state)
                locked = self._locked_until(state, now)
                if locked is not None:
                    raise account_locked(locked)
                if state["password_hash"] != verified_hash:
                    result = await self.passwords.verify(state["password_hash"], cmd.password)
                    ok, verified_hash = result.ok, state["password_hash"]
                    rehash = await self.passwords.hash(cmd.password) if result.needs_rehash else None
                if not ok:
                    new_state, events = self._failed(state, now)
                else:
                    self._refuse_unusable(state, now)
                    new_state, events = self._succeeded(state, now, rehash), []
                    old_use = parse(state.get("last_used_at"))
                    if self._nothing_to_record(state, old_use, now, rehash):
                        old_use = None  # nothing rewritten, so the stored day's marker stays
                        break
                    if old_use is None or business_day(old_use) != business_day(now):
                        await self.index.mark(LAST_USE, business_day(now), cmd.auth_id)
                try:
                    entry = await self.accounts.put(cmd.auth_id, new_state, expected=entry, events=events)
                except StaleRevision:
                    entry = await self.accounts.get(cmd.auth_id)
                    continue
                break
            if not ok:
                note.details["failed_logins"] = entry.state["failed_logins"]
                if entry.state["locked_until"]:
                    note.details["locked"] = True
                raise login_failed()
            if old_use is not None and business_day(old_use) != business_day(now):
                await self.index.unmark(LAST_USE, business_day(old_use), cmd.auth_id)
            state = entry.state
            token, idle, absolute = await self.sessions.open(state["auth_id"], state["role"], now)
            return c.LoginResult(
                session_token=token,
                role=Role(state["role"]),
                auth_id=state["auth_id"],
                organisation=state["organisation"],
                idle_expires_at=idle,
                absolute_expires_at=absolute,
                password_expires_at=self._password_expiry(state),
                notices=await self.notices.in_force(now),
            )

    async def _unknown_failure(self, cmd: c.Login, now: datetime, *, verified: bool) -> NoReturn:
        """An ID without a (live) account fails like a wrong password: same hash time, same
        counted write, same lock after the same number of tries, same replies."""
        record = await self.unknown_logins.get(cmd.auth_id)
        while True:
            state = record.state if record else {"auth_id": cmd.auth_id, "failed_logins": 0, "locked_until": None}
            locked = self._locked_until(state, now)
            if locked is not None:
                raise account_locked(locked)
            if not verified:
                await self.passwords.verify(None, cmd.password)
                verified = True
            new_state, _ = self._failed(state, now)
            try:
                await self.unknown_logins.put(cmd.auth_id, new_state, expected=record)
            except StaleRevision:
                record = await self.unknown_logins.get(cmd.auth_id)
                continue
            raise login_failed()

    def _nothing_to_record(self, state: dict[str, Any], old_use: datetime | None, now: datetime, rehash: str | None) -> bool:
        """A login that clears nothing and comes within `use_resolution` of the recorded use
        needs no write: use is recorded to the hour, which a one-year expiry does not notice,
        and a busy account is not rewritten (and its entry relayed) on every login."""
        return (
            not rehash
            and state["failed_logins"] == 0
            and not state.get("locked_until")
            and old_use is not None
            and now - old_use < self.periods.use_resolution
        )

    def _failed(self, state: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventDraft]]:
        # A lock that has lifted starts a fresh count (the lock is over, Q35).
        failures = 0 if state.get("locked_until") else state["failed_logins"]
        failures += 1
        if failures >= self.periods.lockout_threshold:
            until = now + self.periods.lockout
            return {**state, "failed_logins": failures, "locked_until": iso(until)}, [
                (c.AccountLocked, {"auth_id": state["auth_id"], "locked_until": until})
            ]
        return {**state, "failed_logins": failures, "locked_until": None}, []

    def _succeeded(self, state: dict[str, Any], now: datetime, rehash: str | None) -> dict[str, Any]:
        new = {**state, "failed_logins": 0, "locked_until": None, "last_used_at": iso(now)}
        if rehash:
            new["password_hash"] = rehash
        return new

    def _refuse_unusable(self, state: dict[str, Any], now: datetime) -> None:
        """Told only after the right password (SPEC §1), in this order."""
        if state["status"] == PENDING_STATUS:
            raise DomainError(
                f"利用者情報の登録は{state['effective_on']}に有効になります。有効になるまでログインできません。",
                code=ErrorCode.REGISTRATION_PENDING,
                details={"effective_on": state["effective_on"]},
            )
        if state["status"] == EXPIRED or now >= self._account_expiry(state):
            raise DomainError(
                "認証IDの有効期限（最終利用から1年）が切れています。再度、利用者情報登録を行ってください。",
                code=ErrorCode.ACCOUNT_EXPIRED,
            )
        if now >= self._password_expiry(state):
            raise DomainError(
                "パスワードの有効期限が切れています。窓口で新しいパスワードの設定を申請してください。",
                code=ErrorCode.PASSWORD_EXPIRED,
                details={"password_expired_at": iso(self._password_expiry(state))},
            )

    async def logout(self, cmd: c.Logout) -> Ack:
        async with self.audited("Logout", None, None) as note:
            who = await self.principal(cmd.session_token, note)
            note.target = who.auth_id
            await self.sessions.end(cmd.session_token)
            return Ack()

    async def introspect(self, cmd: c.IntrospectSession) -> c.SessionInfo:
        async with self.audited("IntrospectSession", "system", None) as note:
            try:
                who = await self.principal(cmd.session_token, note)
            except DomainError:
                note.details["active"] = False
                return c.SessionInfo(active=False)
            note.target = who.auth_id
            return c.SessionInfo(
                active=True,
                role=who.role,
                auth_id=who.auth_id,
                organisation=who.state["organisation"],
                email=who.state["email"],
                expires_at=self.sessions.expires_at(who.session),
            )

    # ---- passwords and e-mail -------------------------------------------------------------

    async def change_password(self, cmd: c.ChangePassword) -> Ack:
        async with self.audited("ChangePassword", None, None) as note:
            who = await self.principal(cmd.session_token, note)
            note.target = who.auth_id
            errors = policy.password_errors(cmd.new_password, who.auth_id, field="new_password", label="新しいパスワード")
            if errors:
                raise InvalidInput(fields=errors)
            new_hash = await self.passwords.hash(cmd.new_password)
            await self._update(
                who.auth_id,
                lambda state, now: self._apply_own_password(state, now, cmd, new_hash),
                verify_with=(cmd.current_password, cmd.new_password),
            )
            return Ack()

    def _apply_own_password(
        self, state: dict[str, Any], now: datetime, cmd: c.ChangePassword, new_hash: str
    ) -> tuple[dict[str, Any], list[EventDraft]]:
        if now >= self._password_expiry(state):
            raise DomainError(
                "有効期限が切れたパスワードはオンラインで変更できません。窓口で新しいパスワードの設定を申請してください。",
                code=ErrorCode.PASSWORD_EXPIRED,
            )
        return self._with_new_password(state, now, new_hash, by_officer=False)

    def _with_new_password(
        self, state: dict[str, Any], now: datetime, new_hash: str, *, by_officer: bool
    ) -> tuple[dict[str, Any], list[EventDraft]]:
        new = {
            **state,
            "password_hash": new_hash,
            "password_set_at": iso(now),
            "last_used_at": iso(now),
            "failed_logins": 0,
            "locked_until": None,
            "warned": [],
        }
        event = {
            "auth_id": state["auth_id"],
            "organisation": state["organisation"],
            "email": state["email"],
            "by_officer": by_officer,
            "password_expires_at": password_expires_at(now),
        }
        return new, [(c.PasswordChanged, event)]

    async def _update(
        self,
        auth_id: str,
        change: Callable[[dict[str, Any], datetime], tuple[dict[str, Any], list[EventDraft]]],
        *,
        verify_with: tuple[str, str] | None = None,
    ) -> Entry:
        """Read, decide, compare-and-set; on a lost race read again and decide again.
        `verify_with=(current, new)`: the current password must match the stored hash and the
        new one must differ from it — re-checked whenever the stored hash changed meanwhile."""
        checked_hash: str | None = None
        while True:
            entry = await self.account(auth_id)
            if entry is None:
                raise NotFound(
                    "アカウントが見つかりません。",
                    fields=[field_error("auth_id", "not_found", "該当する認証IDのアカウントはありません。", "認証ID")],
                )
            now = self.clock.now()
            if verify_with is not None and entry.state["password_hash"] != checked_hash:
                current, new = verify_with
                stored = entry.state["password_hash"]
                if not (await self.passwords.verify(stored, current)).ok:
                    raise InvalidInput(
                        fields=[
                            field_error(
                                "current_password", "mismatch", "現在のパスワードが正しくありません。", "現在のパスワード"
                            )
                        ]
                    )
                if (await self.passwords.verify(stored, new)).ok:
                    raise InvalidInput(
                        fields=[
                            field_error(
                                "new_password",
                                "same_as_current",
                                "現在のパスワードと異なるパスワードを入力してください。",
                                "新しいパスワード",
                            )
                        ]
                    )
                checked_hash = stored
            new_state, events = change(dict(entry.state), now)
            await self._mark_for(entry.state, new_state, auth_id)
            try:
                written = await self.accounts.put(auth_id, new_state, expected=entry, events=events)
            except StaleRevision:
                continue
            await self._unmark_for(entry.state, new_state, auth_id)
            return written

    async def _mark_for(self, old: dict[str, Any], new: dict[str, Any], auth_id: str) -> None:
        """Due markers for the new state go in before the write (a stale marker is harmless)."""
        for kind, day_of in self._marker_days():
            day = day_of(new)
            if day is not None and day != day_of(old):
                await self.index.mark(kind, day, auth_id)

    async def _unmark_for(self, old: dict[str, Any], new: dict[str, Any], auth_id: str) -> None:
        for kind, day_of in self._marker_days():
            day = day_of(old)
            if day is not None and day != day_of(new):
                await self.index.unmark(kind, day, auth_id)

    def _marker_days(self) -> list[tuple[str, Callable[[dict[str, Any]], date | None]]]:
        def password_day(state: dict[str, Any]) -> date | None:
            return business_day(self._password_expiry(state))

        def use_day(state: dict[str, Any]) -> date | None:
            used = parse(state.get("last_used_at"))
            return business_day(used) if used else None

        return [(PASSWORD_EXPIRY, password_day), (LAST_USE, use_day)]

    async def change_email(self, cmd: c.ChangeEmail) -> Ack:
        async with self.audited("ChangeEmail", None, None) as note:
            who = await self.principal(cmd.session_token, note)
            note.target = who.auth_id
            errors = policy.email_errors(cmd.new_email, field="new_email", label="新しいメールアドレス")
            if errors:
                raise InvalidInput(fields=errors)

            def change(state: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventDraft]]:
                if state["email"] == cmd.new_email:
                    raise InvalidInput(
                        fields=[
                            field_error(
                                "new_email", "same_as_current", "現在のメールアドレスと同じです。", "新しいメールアドレス"
                            )
                        ]
                    )
                event = {
                    "auth_id": state["auth_id"],
                    "organisation": state["organisation"],
                    "old_email": state["email"],
                    "new_email": cmd.new_email,
                }
                return {**state, "email": cmd.new_email, "last_used_at": iso(now)}, [(c.EmailChanged, event)]

            await self._update(who.auth_id, change)
            return Ack()

    # ---- officer actions ------------------------------------------------------------------

    async def account(self, auth_id: str) -> Entry | None:
        """The account of an ID; None also for input no account can have (never a raw key)."""
        return None if policy.auth_id_errors(auth_id) else await self.accounts.get(auth_id)

    async def _claim_of(self, organisation_id: str) -> Entry | None:
        return None if policy.organisation_id_errors(organisation_id) else await self.organisations.get(organisation_id)

    async def _organisation_account(self, organisation_id: str) -> Entry:
        claim = await self._claim_of(organisation_id)
        entry = await self.accounts.get(claim.state["auth_id"]) if claim else None
        if entry is None or entry.state["status"] not in VALID:
            raise NotFound(
                "この機関の有効なアカウントはありません。",
                fields=[
                    field_error(
                        "organisation_id", "not_found", "この法人番号等の機関に有効なアカウントはありません。", "法人番号等"
                    )
                ],
            )
        return entry

    async def reissue_auth_id(self, cmd: c.ReissueAuthId) -> Ack:
        async with self.audited("ReissueAuthId", None, cmd.organisation_id) as note:
            await self.officer(cmd.session_token, note)
            entry = await self._organisation_account(cmd.organisation_id)
            note.target = entry.state["auth_id"]

            def change(state: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventDraft]]:
                if state["status"] != ACTIVE:
                    raise DomainError("有効になっていないアカウントの認証IDは再通知できません。")
                event = {"auth_id": state["auth_id"], "organisation": state["organisation"], "email": state["email"]}
                return {**state, "reissued_at": iso(now)}, [(c.AuthIdReissued, event)]

            await self._update(entry.state["auth_id"], change)
            return Ack()

    async def set_password(self, cmd: c.SetPassword) -> Ack:
        async with self.audited("SetPassword", None, cmd.auth_id) as note:
            await self.officer(cmd.session_token, note)
            errors = policy.password_errors(cmd.new_password, cmd.auth_id, field="new_password", label="新しいパスワード")
            if errors:
                raise InvalidInput(fields=errors)
            new_hash = await self.passwords.hash(cmd.new_password)

            def change(state: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventDraft]]:
                if state["status"] not in VALID or now >= self._account_expiry(state):
                    raise DomainError("抹消済みまたは有効期限切れのアカウントにはパスワードを設定できません。")
                return self._with_new_password(state, now, new_hash, by_officer=True)

            entry = await self.account(cmd.auth_id)
            if entry is not None and (await self.passwords.verify(entry.state["password_hash"], cmd.new_password)).ok:
                raise InvalidInput(
                    fields=[
                        field_error(
                            "new_password",
                            "same_as_current",
                            "現在のパスワードと異なるパスワードを入力してください。",
                            "新しいパスワード",
                        )
                    ]
                )
            await self._update(cmd.auth_id, change)
            return Ack()

    async def deregister(self, cmd: c.Deregister) -> Ack:
        async with self.audited("Deregister", None, cmd.auth_id) as note:
            who = await self.officer(cmd.session_token, note)

            def change(state: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[EventDraft]]:
                if state["status"] == DEREGISTERED:
                    raise DomainError("このアカウントは既に抹消されています。")
                if state["auth_id"] == who.auth_id:
                    raise DomainError("自分自身のアカウントは抹消できません。")
                event = {"auth_id": state["auth_id"], "organisation": state["organisation"]}
                return {**state, "status": DEREGISTERED, "deregistered_at": iso(now)}, [(c.AccountDeregistered, event)]

            await self._update(cmd.auth_id, change)
            return Ack()

    async def get_account(self, cmd: c.GetAccount) -> c.AccountView:
        async with self.audited("GetAccount", None, cmd.auth_id or cmd.organisation_id) as note:
            await self.officer(cmd.session_token, note)
            if bool(cmd.auth_id) == bool(cmd.organisation_id):
                message = "認証IDか法人番号等のどちらか一方を指定してください。"
                raise InvalidInput(
                    fields=[
                        field_error("auth_id", "one_of", message, "認証ID"),
                        field_error("organisation_id", "one_of", message, "法人番号等"),
                    ]
                )
            if cmd.auth_id:
                entry = await self.account(cmd.auth_id)
                if entry is None:
                    raise NotFound(
                        fields=[field_error("auth_id", "not_found", "該当する認証IDのアカウントはありません。", "認証ID")]
                    )
            else:
                assert cmd.organisation_id is not None
                claim = await self._claim_of(cmd.organisation_id)
                entry = await self.accounts.get(claim.state["auth_id"]) if claim else None
                if entry is None:
                    raise NotFound(
                        fields=[
                            field_error(
                                "organisation_id", "not_found", "この法人番号等の機関のアカウントはありません。", "法人番号等"
                            )
                        ]
                    )
            return c.AccountView(account=self.view(entry.state))

    def view(self, state: dict[str, Any]) -> c.AccountState:
        now = self.clock.now()
        status = state["status"]
        if status == ACTIVE:
            if now >= self._account_expiry(state):
                status = EXPIRED
            elif self._locked_until(state, now):
                status = "locked"
            elif now >= self._password_expiry(state):
                status = "password_expired"
        return c.AccountState(
            auth_id=state["auth_id"],
            role=Role(state["role"]),
            organisation=state["organisation"],
            email=state["email"],
            status=status,
            registered_at=parse(state["registered_at"]),
            effective_on=date.fromisoformat(state["effective_on"]) if state.get("effective_on") else None,
            activated_at=parse(state.get("activated_at")),
            last_used_at=parse(state.get("last_used_at")),
            password_set_at=parse(state["password_set_at"]),
            password_expires_at=self._password_expiry(state),
            account_expires_at=self._account_expiry(state) if state["status"] != PENDING_STATUS else None,
            failed_logins=0 if state.get("locked_until") and not self._locked_until(state, now) else state["failed_logins"],
            locked_until=self._locked_until(state, now),
        )

    async def publish_notice(self, cmd: c.PublishNotice) -> c.NoticeView:
        async with self.audited("PublishNotice", None, None) as note:
            await self.officer(cmd.session_token, note)
            view = await self.notices.publish(cmd, self.clock.now())
            note.target = view.notice.notice_id
            return view

    async def withdraw_notice(self, cmd: c.WithdrawNotice) -> Ack:
        async with self.audited("WithdrawNotice", None, cmd.notice_id) as note:
            await self.officer(cmd.session_token, note)
            return await self.notices.withdraw(cmd.notice_id)

    async def list_notices(self, cmd: c.ListNotices) -> c.NoticeList:
        async with self.audited("ListNotices", None, None):
            return c.NoticeList(notices=await self.notices.in_force(self.clock.now()))

    # ---- scheduler-driven jobs -------------------------------------------------------------

    async def send_expiry_warnings(self, cmd: c.SendPasswordExpiryWarnings) -> c.JobResult:
        """Warn once per (password, days_before): the warning is recorded on the account entry
        together with its event, so a second run on the same day finds it done and emits nothing,
        and a password changed since has a new set time and no matching marker."""
        async with self.audited("SendPasswordExpiryWarnings", "system", None) as note:
            today = business_day(cmd.as_of)
            details: dict[str, int] = {}
            processed = 0
            for days in sorted(set(cmd.days_before)):
                if days < 0:
                    raise InvalidInput(fields=[field_error("days_before", "negative", "0以上の日数を指定してください。")])
                target_day = today + timedelta(days=days)
                markers = await self.index.scan(PASSWORD_EXPIRY, target_day)
                processed += len(markers)
                warned = await self._each(markers, lambda m, d=days, t=target_day: self._warn(m[1], d, t, cmd.as_of))
                details[str(days)] = sum(warned)
            changed = sum(details.values())
            note.details.update(processed=processed, changed=changed)
            return c.JobResult(as_of=cmd.as_of, processed=processed, changed=changed, details=details)

    async def _warn(self, auth_id: str, days: int, target_day: date, as_of: datetime) -> bool:
        while True:
            entry = await self.accounts.get(auth_id)
            if entry is None:
                return False
            state = entry.state
            expires = self._password_expiry(state)
            mark = f"{state['password_set_at']}|{days}"
            if (
                state["status"] != ACTIVE
                or business_day(expires) != target_day
                or as_of >= expires
                or as_of >= self._account_expiry(state)
                or mark in state.get("warned", [])
            ):
                return False
            event = {
                "auth_id": auth_id,
                "organisation": state["organisation"],
                "email": state["email"],
                "password_expires_at": expires,
                "days_before": days,
            }
            new_state = {**state, "warned": [*state.get("warned", []), mark]}
            try:
                await self.accounts.put(auth_id, new_state, expected=entry, events=[(c.PasswordExpiryWarned, event)])
            except StaleRevision:
                continue
            return True

    async def expire_idle(self, cmd: c.ExpireIdleAccounts) -> c.JobResult:
        async with self.audited("ExpireIdleAccounts", "system", None) as note:
            # A marker's day is the (JST) day of last use; an account used on day D expires a
            # year later, so only markers at least ~a year old can be due.
            horizon = business_day(cmd.as_of) - timedelta(days=364)
            candidates = [(d, a) for d, a in await self.index.scan(LAST_USE) if d <= horizon]
            results = await self._each(candidates, lambda m: self._expire(m[1], cmd.as_of))
            changed = sum(results)
            note.details.update(processed=len(candidates), changed=changed)
            return c.JobResult(as_of=cmd.as_of, processed=len(candidates), changed=changed)

    async def _expire(self, auth_id: str, as_of: datetime) -> bool:
        while True:
            entry = await self.accounts.get(auth_id)
            if entry is None or entry.state["status"] != ACTIVE:
                return False
            state = entry.state
            if as_of < self._account_expiry(state):
                return False
            last_used = parse(state.get("last_used_at")) or parse(state.get("activated_at"))
            event = {"auth_id": auth_id, "organisation": state["organisation"], "last_used_at": last_used}
            try:
                await self.accounts.put(
                    auth_id,
                    {**state, "status": EXPIRED, "expired_at": iso(as_of)},
                    expected=entry,
                    events=[(c.AccountExpired, event)],
                )
            except StaleRevision:
                continue
            return True


UNAUTHENTICATED_MESSAGE = "ログインしていないか、セッションの有効期限が切れています。再度ログインしてください。"


def auth_id_taken() -> Conflict:
    return Conflict(
        "この認証IDは使用できません。",
        fields=[
            field_error(
                "auth_id", "taken", "この認証IDは既に使用されているため登録できません。別の認証IDを指定してください。", "認証ID"
            )
        ],
    )


def account_locked(until: datetime) -> DomainError:
    local = until.astimezone(JST).strftime("%Y年%m月%d日 %H:%M")
    return DomainError(
        f"ログインに連続して失敗したため、アカウントがロックされています。{local}（日本時間）以降に再度お試しください。",
        code=ErrorCode.ACCOUNT_LOCKED,
        details={"locked_until": until.isoformat()},
    )
