"""What each error code means, and which commands can answer it: the error half of the contract.

`ErrorCode` (contracts/common.py) is the closed list of codes a client branches on. This module
says what each means (`MEANINGS`) and which commands can answer which (`answers`): the codes
every command can answer (`GENERIC`: refused at the edge, a dependency down, a bug), the one
every session command can answer (`unauthenticated`), and each command's own (`SPECIFIC`). The
AsyncAPI document (ens/spec.py) is made from these tables; a test checks that every command of
the contracts is in `SPECIFIC`, so a new command states its refusals when it is added.
"""

from __future__ import annotations

from typing import Any, Final

from contracts import auth, filing, notifier, scheduler
from contracts.common import Command, ErrorCode, SessionCommand

E = ErrorCode

MEANINGS: Final[dict[ErrorCode, str]] = {
    E.VALIDATION: (
        "One or more fields are invalid: the body did not fit the contract, or a rule of the service refused it. "
        "`fields` names each offending field with its own code (e.g. `length`, `charset`, `check_digit`, `pattern`, "
        "`too_many`, `required`) and a Japanese message; for bulk uploads `row` and `column` locate the CSV cell."
    ),
    E.UNAUTHENTICATED: "No session token, or one that is unknown, ended (logout, deregistration) or timed out. Log in again.",
    E.FORBIDDEN: (
        "The caller may not do this: an officer-only command from an organisation, an organisation acting on another's "
        "filing, or a wrong operator token."
    ),
    E.NOT_FOUND: "The account, organisation, notice or filing named does not exist (or no longer does).",
    E.CONFLICT: (
        "The target exists already or is being worked on: the auth ID is taken, the organisation already has a valid "
        "account, or the job is running for that day."
    ),
    E.STALE: (
        "The command was based on an older version of the filing (不正な画面遷移): `details.current_version` is the "
        "version now. Show the latest and let the user decide again."
    ),
    E.INVALID_STATE: (
        "The target's state does not allow this: e.g. withdrawing a completed filing, returning a kind that cannot be "
        "returned, deregistering an account twice. `details` may name the state."
    ),
    E.LOGIN_FAILED: "Unknown auth ID or wrong password: deliberately one code and one message for both.",
    E.ACCOUNT_LOCKED: (
        "Too many failed logins in a row: the account is locked until `details.locked_until` (ISO 8601); an officer "
        "setting a new password clears it."
    ),
    E.REGISTRATION_PENDING: "The registration takes effect on `details.effective_on` (09:00 JST); no login before then.",
    E.PASSWORD_EXPIRED: (
        "The password's validity ended (`details.password_expired_at`); only an officer can set a new one "
        "(窓口 or 郵送), it cannot be changed online."
    ),
    E.ACCOUNT_EXPIRED: "The auth ID was not used for a year and expired; the organisation registers again.",
    E.TOO_LARGE: (
        "The body (or the uploaded CSV) is bigger than the command allows; `details.max_bytes` is the limit. Split the filing."
    ),
    E.IDEMPOTENCY_KEY_REUSED: (
        "The same `request_id` came before with another payload. A retry must resend the same payload; "
        "a new operation needs a new `request_id`."
    ),
    E.UNAVAILABLE: "A dependency (another service, the store) did not answer in time. Safe to retry later.",
    E.INTERNAL: "A bug in the service: the details are in its log, never in the reply. Retrying may help; report it.",
}

GENERIC: Final = (E.VALIDATION, E.TOO_LARGE, E.IDEMPOTENCY_KEY_REUSED, E.UNAVAILABLE, E.INTERNAL)
"""Every command can answer these: the edge refuses a body that does not fit its contract or its
limits, the request ledger refuses a reused key, any dependency may be down, any code may fail."""

_OFFICER = (E.FORBIDDEN,)
_FILING_STEP = (E.FORBIDDEN, E.NOT_FOUND, E.STALE, E.INVALID_STATE)

SPECIFIC: Final[dict[type[Command[Any]], tuple[ErrorCode, ...]]] = {
    auth.Login: (E.LOGIN_FAILED, E.ACCOUNT_LOCKED, E.REGISTRATION_PENDING, E.PASSWORD_EXPIRED, E.ACCOUNT_EXPIRED),
    auth.Logout: (),
    auth.IntrospectSession: (),
    auth.ChangePassword: (E.NOT_FOUND, E.PASSWORD_EXPIRED, E.INVALID_STATE),
    auth.ChangeEmail: (E.NOT_FOUND, E.INVALID_STATE),
    auth.RegisterAccount: (*_OFFICER, E.CONFLICT),
    auth.ReissueAuthId: (*_OFFICER, E.NOT_FOUND, E.INVALID_STATE),
    auth.SetPassword: (*_OFFICER, E.NOT_FOUND, E.INVALID_STATE),
    auth.Deregister: (*_OFFICER, E.NOT_FOUND, E.INVALID_STATE),
    auth.GetAccount: (*_OFFICER, E.NOT_FOUND),
    auth.ChangeAccountEmail: (*_OFFICER, E.NOT_FOUND, E.INVALID_STATE),
    auth.ChangeOrganisationDetails: (*_OFFICER, E.NOT_FOUND, E.INVALID_STATE),
    auth.GetOrganisationContact: (),
    auth.PublishNotice: _OFFICER,
    auth.WithdrawNotice: (*_OFFICER, E.NOT_FOUND),
    auth.ListNotices: (),
    auth.CreateOfficer: (E.FORBIDDEN, E.CONFLICT),
    auth.ActivateDueRegistrations: (),
    auth.SendPasswordExpiryWarnings: (),
    auth.ExpireIdleAccounts: (),
    filing.SubmitFiling: (E.FORBIDDEN,),
    filing.SubmitBulkFiling: (E.FORBIDDEN,),
    filing.ChangeFiling: _FILING_STEP,
    filing.WithdrawFiling: _FILING_STEP,
    filing.CompleteFiling: _FILING_STEP,
    filing.ReturnFiling: _FILING_STEP,
    filing.ListFilings: (E.FORBIDDEN,),
    filing.GetFiling: (E.FORBIDDEN, E.NOT_FOUND),
    filing.PurgeExpiredFilings: (),
    filing.ReencryptFilings: (),
    notifier.QueryDeliveryLog: (),
    notifier.RecordBounce: (),  # an unknown mail is an answer (recorded=False), not a refusal
    notifier.GetSentMail: (E.NOT_FOUND,),
    notifier.ResendMail: (E.FORBIDDEN, E.NOT_FOUND, E.INVALID_STATE),
    scheduler.RunJob: (E.CONFLICT,),
    scheduler.ListJobs: (),
}
"""Each command's own refusals, besides GENERIC (and `unauthenticated` for session commands)."""


def answers(command: type[Command[Any]]) -> list[ErrorCode]:
    """Every code `command` can answer, in ErrorCode's order."""
    codes = set(GENERIC) | set(SPECIFIC.get(command, ()))
    if issubclass(command, SessionCommand):
        codes.add(E.UNAUTHENTICATED)
    return [code for code in ErrorCode if code in codes]
