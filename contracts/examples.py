"""At least one example of every message, as the AsyncAPI document shows them (ens/spec.py).

Examples are model instances, so pydantic checks them when this module is imported; a test also
validates each one's JSON against the message's documented JSON Schema (contracts/schemas/),
so an example can never drift from its contract. The story is one organisation's: an officer
registers 株式会社サンプル, it logs in the next day at 09:00 JST, files, changes and withdraws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel

from contracts import auth, filing, notifier, scheduler
from contracts.common import (
    Ack,
    AuditRecord,
    ErrorBody,
    ErrorCode,
    ErrorReply,
    EventMeta,
    FieldError,
    JobResult,
    ReadinessCheck,
    ServiceStatus,
    ServiceStatusRequest,
)
from contracts.organisations import OrganisationKind, Role


@dataclass(frozen=True)
class Example:
    summary: str
    message: BaseModel

    @property
    def payload(self) -> dict[str, Any]:
        return self.message.model_dump(mode="json")

    @property
    def headers(self) -> dict[str, str] | None:
        """An event's headers in the stream: its Nats-Msg-Id is its event id."""
        meta = getattr(self.message, "meta", None)
        return {"Nats-Msg-Id": meta.event_id} if isinstance(meta, EventMeta) else None


def _at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2027, 4, day, hour, minute, tzinfo=UTC)


TOKEN = "s3ss10n-t0ken-2d6f0c1e9b8a47f5a1c3e5d7f9b1a3c5"
OFFICER_TOKEN = "0ff1cer-t0ken-7a1c3e5d7f9b1a3c5e2d6f0c1e9b8a47"
ORG = auth.Organisation(organisation_id="1000011000005", kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社サンプル")
SCHOOL = auth.Organisation(
    organisation_id="7000012050002", kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="サンプル日本語学校"
)
PROVENANCE = auth.RequestProvenance(
    channel=auth.RequestChannel.COUNTER, bureau="東京出入国在留管理局", form_reference="R7-000123"
)
NOTICE = auth.Notice(
    notice_id="6f1c2a9e0b7d4c3a8e5f1d2c3b4a5968",
    title="システムメンテナンスのお知らせ",
    body="4月10日 22:00〜24:00 はメンテナンスのため利用できません。",
    starts_at=_at(1),
    ends_at=_at(11),
)
PERSON = filing.Person(
    nationality="VNM",
    name_latin="NGUYEN VAN AN",
    sex=filing.Sex.MALE,
    date_of_birth=date(1998, 5, 14),
    residence_card_number="AB12345678CD",
    event_date=date(2027, 3, 31),
    remarks=None,
)
SUMMARY = filing.FilingSummary(
    reception_number="2027040200001",
    kind=filing.FilingKind.EMPLOYMENT_CONTRACT_CHANGE,
    kind_label=filing.FilingKind.EMPLOYMENT_CONTRACT_CHANGE.label,
    status=filing.FilingStatus.PENDING,
    status_label=filing.FilingStatus.PENDING.label,
    version=1,
    person_count=1,
    organisation_id=ORG.organisation_id,
    submitted_at=_at(2, 1, 15),
    updated_at=_at(2, 1, 15),
)
FACTS = filing.FilingFacts(
    reception_number=SUMMARY.reception_number,
    kind=SUMMARY.kind,
    kind_label=SUMMARY.kind_label,
    person_count=1,
    version=1,
    organisation=ORG,
    filer_auth_id="sample-corp01",
    filer_email="tanto@example.jp",
    submitted_at=SUMMARY.submitted_at,
)
JOB_RUN = scheduler.JobRun(
    job=scheduler.JobName.ACTIVATE_REGISTRATIONS,
    as_of=_at(2, 0, 0),
    business_day=date(2027, 4, 2),
    ran=True,
    processed=3,
    changed=3,
    status="done",
    attempt=1,
    finished_at=_at(2, 0, 1),
)


def _meta(event_id: str, source: str, at: datetime) -> EventMeta:
    return EventMeta(event_id=event_id, occurred_at=at, source=source)


EXAMPLES: list[Example] = [
    # ---- auth commands
    Example("An organisation logs in.", auth.Login(auth_id="sample-corp01", password="Sample#2027")),
    Example("Log out; the session ends at once.", auth.Logout(session_token=TOKEN)),
    Example("The filing service checks a caller's session.", auth.IntrospectSession(session_token=TOKEN)),
    Example(
        "Change one's own password.",
        auth.ChangePassword(session_token=TOKEN, current_password="Sample#2027", new_password="Better!2028x"),
    ),
    Example("Change one's own e-mail address.", auth.ChangeEmail(session_token=TOKEN, new_email="soumu@example.jp")),
    Example(
        "An officer registers an organisation's account at the counter.",
        auth.RegisterAccount(
            session_token=OFFICER_TOKEN,
            organisation=ORG,
            auth_id="sample-corp01",
            initial_password="Sample#2027",
            email="tanto@example.jp",
            request=PROVENANCE,
        ),
    ),
    Example(
        "An officer mails an organisation its auth ID.",
        auth.ReissueAuthId(session_token=OFFICER_TOKEN, organisation_id=ORG.organisation_id, request=PROVENANCE),
    ),
    Example(
        "An officer sets a new password for a locked-out organisation.",
        auth.SetPassword(session_token=OFFICER_TOKEN, auth_id="sample-corp01", new_password="Reset+2027a", request=PROVENANCE),
    ),
    Example(
        "An officer deregisters an account.",
        auth.Deregister(session_token=OFFICER_TOKEN, auth_id="sample-corp01", request=PROVENANCE),
    ),
    Example("An officer reads an account by auth ID.", auth.GetAccount(session_token=OFFICER_TOKEN, auth_id="sample-corp01")),
    Example(
        "An officer changes an account's address on the organisation's request.",
        auth.ChangeAccountEmail(
            session_token=OFFICER_TOKEN, auth_id="sample-corp01", new_email="soumu@example.jp", request=PROVENANCE
        ),
    ),
    Example(
        "An officer changes an organisation's registered name.",
        auth.ChangeOrganisationDetails(
            session_token=OFFICER_TOKEN, organisation_id=ORG.organisation_id, name="サンプル株式会社", request=PROVENANCE
        ),
    ),
    Example(
        "The filing service asks where a filing's mail goes.",
        auth.GetOrganisationContact(organisation_id=ORG.organisation_id),
    ),
    Example(
        "An officer publishes a notice.",
        auth.PublishNotice(session_token=OFFICER_TOKEN, title=NOTICE.title, body=NOTICE.body, starts_at=_at(1), ends_at=_at(11)),
    ),
    Example("An officer withdraws a notice.", auth.WithdrawNotice(session_token=OFFICER_TOKEN, notice_id=NOTICE.notice_id)),
    Example("The notices in force now.", auth.ListNotices()),
    Example(
        "The operator creates an officer.",
        auth.CreateOfficer(
            operator_token="op-3c9e1a7b5d2f4e6a8c0b",
            auth_id="officer01",
            password="Officer#2027",
            name="入管 太郎",
            email="officer@example.jp",
        ),
    ),
    Example("The 09:00 JST activation batch.", auth.ActivateDueRegistrations(as_of=_at(2, 0, 0))),
    Example("The password-expiry warning scan.", auth.SendPasswordExpiryWarnings(as_of=_at(2, 0, 0), days_before=[30, 7])),
    Example("Expire accounts unused for a year.", auth.ExpireIdleAccounts(as_of=_at(2, 0, 0))),
    # ---- auth replies
    Example("Success with nothing more to say.", Ack()),
    Example(
        "A logged-in organisation, with one notice.",
        auth.LoginResult(
            session_token=TOKEN,
            role=Role.ORGANISATION,
            auth_id="sample-corp01",
            organisation=ORG,
            idle_expires_at=_at(2, 0, 30),
            absolute_expires_at=_at(2, 8, 0),
            password_expires_at=datetime(2027, 7, 1, 15, 0, tzinfo=UTC),
            notices=[NOTICE],
        ),
    ),
    Example(
        "A live organisation session.",
        auth.SessionInfo(
            active=True,
            role=Role.ORGANISATION,
            auth_id="sample-corp01",
            organisation=ORG,
            email="tanto@example.jp",
            expires_at=_at(2, 0, 30),
        ),
    ),
    Example(
        "Registered; active from the next business day.",
        auth.AccountRegistration(auth_id="sample-corp01", effective_on=date(2027, 4, 2)),
    ),
    Example(
        "An active organisation account.",
        auth.AccountView(
            account=auth.AccountState(
                auth_id="sample-corp01",
                role=Role.ORGANISATION,
                organisation=ORG,
                email="tanto@example.jp",
                status="active",
                registered_at=_at(1, 5, 0),
                effective_on=date(2027, 4, 2),
                activated_at=_at(2, 0, 0),
                last_used_at=_at(2, 0, 5),
                password_set_at=_at(1, 5, 0),
                password_expires_at=datetime(2027, 7, 1, 15, 0, tzinfo=UTC),
                account_expires_at=datetime(2028, 4, 1, 15, 0, tzinfo=UTC),
            )
        ),
    ),
    Example(
        "An organisation's valid account and address.",
        auth.OrganisationContact(
            organisation_id=ORG.organisation_id, auth_id="sample-corp01", email="tanto@example.jp", organisation=ORG, valid=True
        ),
    ),
    Example("The notice as published.", auth.NoticeView(notice=NOTICE)),
    Example("The notices in force.", auth.NoticeList(notices=[NOTICE])),
    Example(
        "A batch's result.",
        JobResult(as_of=_at(2, 0, 0), processed=3, changed=3, details={"activated": 3}),
    ),
    # ---- filing commands
    Example(
        "An accepting organisation files a change of employment contract for one person.",
        filing.SubmitFiling(session_token=TOKEN, kind=filing.FilingKind.EMPLOYMENT_CONTRACT_CHANGE, persons=[PERSON]),
    ),
    Example(
        "A bulk filing from the CSV template.",
        filing.SubmitBulkFiling(
            session_token=TOKEN,
            kind=filing.FilingKind.ACCEPTANCE_PERIODIC_REPORT,
            filename="teiki.csv",
            csv_base64="5Zu957GN44O75Zyw5Z+fLOawj+WQje+8iOiLseWtl++8iSzmgKfliKUs55Sf5bm05pyI5pelLOWcqOeVmeOCq+ODvOODieeVquWPtyzkuovnlLHnmbrnlJ/ml6Us5YKZ6ICDDQpWTk0sTkdVWUVOIFZBTiBBTiznlLcsMTk5OC8wNS8xNCxBQjEyMzQ1Njc4Q0QsLA0K",
        ),
    ),
    Example(
        "Change a pending filing from version 1.",
        filing.ChangeFiling(
            session_token=TOKEN,
            reception_number=SUMMARY.reception_number,
            based_on_version=1,
            persons=[PERSON.model_copy(update={"remarks": "雇用契約の終了日を訂正"})],
        ),
    ),
    Example(
        "Withdraw a pending filing.",
        filing.WithdrawFiling(session_token=TOKEN, reception_number=SUMMARY.reception_number, based_on_version=2),
    ),
    Example(
        "An officer completes a filing.",
        filing.CompleteFiling(session_token=OFFICER_TOKEN, reception_number=SUMMARY.reception_number, based_on_version=1),
    ),
    Example(
        "An officer returns a school report for a fix.",
        filing.ReturnFiling(
            session_token=OFFICER_TOKEN,
            reception_number="2027040200002",
            based_on_version=1,
            reasons=["在籍者数の記載が名簿と一致しません。"],
        ),
    ),
    Example(
        "The caller's pending filings, first page.",
        filing.ListFilings(session_token=TOKEN, status=filing.FilingStatus.PENDING, page=1, page_size=50),
    ),
    Example("One filing with its persons.", filing.GetFiling(session_token=TOKEN, reception_number=SUMMARY.reception_number)),
    Example("The nightly retention purge.", filing.PurgeExpiredFilings(as_of=_at(2, 18, 0))),
    Example("Re-encrypt after adding a key.", filing.ReencryptFilings(as_of=_at(2, 18, 0))),
    # ---- filing replies
    Example("The filing as stored, with its reception number.", filing.FilingAccepted(filing=SUMMARY)),
    Example("A filing and its persons.", filing.FilingDetail(filing=SUMMARY, persons=[PERSON])),
    Example("A page of one filing.", filing.FilingPage(items=[SUMMARY], total=1, page=1, page_size=50)),
    # ---- notifier
    Example("The delivery log of one auth ID.", notifier.QueryDeliveryLog(auth_id="sample-corp01", limit=100)),
    Example(
        "One mail, delivered.",
        notifier.DeliveryLog(
            records=[
                notifier.DeliveryRecord(
                    mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
                    event_id="auth:acct:sample-corp01:2",
                    mail_type=notifier.MailType.REGISTRATION_COMPLETE,
                    recipient="tanto@example.jp",
                    subject="【電子届出システム】利用者情報登録のお知らせ",
                    status=notifier.DeliveryStatus.SENT,
                    attempts=1,
                    queued_at=_at(2, 0, 0),
                    last_attempt_at=_at(2, 0, 0),
                    sent_at=_at(2, 0, 0),
                    smtp_code=250,
                    smtp_message="2.0.0 Ok: queued as 4Xk2",
                    message_id="<9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e@ens.example.jp>",
                    auth_id="sample-corp01",
                )
            ]
        ),
    ),
    # ---- scheduler
    Example(
        "Run the activation batch for a day.",
        scheduler.RunJob(job=scheduler.JobName.ACTIVATE_REGISTRATIONS, as_of=_at(2, 0, 0)),
    ),
    Example("Which jobs exist and when they run.", scheduler.ListJobs()),
    Example("The day's run.", JOB_RUN),
    Example(
        "One job, its schedule and last run.",
        scheduler.JobList(
            jobs=[
                scheduler.JobInfo(
                    job=scheduler.JobName.ACTIVATE_REGISTRATIONS,
                    schedule="0 9 * * *",
                    next_run_at=_at(3, 0, 0),
                    last_run=JOB_RUN,
                )
            ]
        ),
    ),
    # ---- the envelope, status, audit
    Example(
        "A registration refused: two fields.",
        ErrorReply(
            error=ErrorBody(
                code=ErrorCode.VALIDATION,
                message="入力内容に誤りがあります。各項目のメッセージを確認してください。",
                fields=[
                    FieldError(
                        field="auth_id",
                        label="認証ID",
                        code="length",
                        message="6文字以上20文字以内で入力してください。",
                    ),
                    FieldError(
                        field="organisation.organisation_id",
                        label="法人番号等",
                        code="check_digit",
                        message="法人番号のチェックデジットが正しくありません。",
                    ),
                ],
            )
        ),
    ),
    Example(
        "A bulk upload refused at one cell.",
        ErrorReply(
            error=ErrorBody(
                code=ErrorCode.VALIDATION,
                message="入力内容に誤りがあります。各項目のメッセージを確認してください。",
                fields=[
                    FieldError(
                        field="persons.2.residence_card_number",
                        label="在留カード番号",
                        code="pattern",
                        message="英字2桁・数字8桁・英字2桁の12桁で入力してください（例: AB12345678CD）。",
                        row=3,
                        column="在留カード番号",
                    )
                ],
            )
        ),
    ),
    Example(
        "A login refused: the account is locked.",
        ErrorReply(
            error=ErrorBody(
                code=ErrorCode.ACCOUNT_LOCKED,
                message="ログインに連続して失敗したため、アカウントがロックされています。2027年4月3日 9時0分（日本時間）以降に再度お試しください。",
                details={"locked_until": "2027-04-03T00:00:00+00:00"},
            )
        ),
    ),
    Example("Is the service up?", ServiceStatusRequest()),
    Example(
        "One auth replica, ready.",
        ServiceStatus(
            service="auth",
            instance="auth-7f3c",
            version="0.1.0",
            started_at=_at(1, 23, 0),
            owns=["ENS_EVENTS", "ENS_AUDIT", "auth_accounts"],
            ready=True,
            checks=[ReadinessCheck(name="nats", ok=True)],
            metrics_port=9464,
        ),
    ),
    Example(
        "A filing submitted.",
        AuditRecord(
            at=_at(2, 1, 15),
            service="filing",
            command="SubmitFiling",
            actor="sample-corp01",
            target="2027040200001",
            result="ok",
            details={"kind": "employment_contract_change", "persons": 1},
        ),
    ),
    # ---- auth events
    Example(
        "An officer registered an account.",
        auth.AccountRegistered(
            meta=_meta("auth:acct:sample-corp01:1", "auth", _at(1, 5, 0)),
            auth_id="sample-corp01",
            organisation=ORG,
            effective_on=date(2027, 4, 2),
        ),
    ),
    Example(
        "The account became active (mail 1).",
        auth.AccountActivated(
            meta=_meta("auth:acct:sample-corp01:2", "auth", _at(2, 0, 0)),
            auth_id="sample-corp01",
            organisation=ORG,
            email="tanto@example.jp",
            password_expires_at=datetime(2027, 7, 1, 15, 0, tzinfo=UTC),
        ),
    ),
    Example(
        "The auth ID was mailed again (mail 2).",
        auth.AuthIdReissued(
            meta=_meta("auth:acct:sample-corp01:3", "auth", _at(5, 2, 0)),
            auth_id="sample-corp01",
            organisation=ORG,
            email="tanto@example.jp",
        ),
    ),
    Example(
        "The organisation changed its address (mail 3).",
        auth.EmailChanged(
            meta=_meta("auth:acct:sample-corp01:4", "auth", _at(6, 2, 0)),
            auth_id="sample-corp01",
            organisation=ORG,
            old_email="tanto@example.jp",
            new_email="soumu@example.jp",
        ),
    ),
    Example(
        "The organisation changed its password (mail 4).",
        auth.PasswordChanged(
            meta=_meta("auth:acct:sample-corp01:5", "auth", _at(7, 2, 0)),
            auth_id="sample-corp01",
            organisation=ORG,
            email="soumu@example.jp",
            by_officer=False,
            password_expires_at=datetime(2027, 7, 6, 15, 0, tzinfo=UTC),
        ),
    ),
    Example(
        "The password expires in 30 days (mail 5).",
        auth.PasswordExpiryWarned(
            meta=_meta("auth:warn:sample-corp01:2027-06-06:30", "auth", datetime(2027, 6, 6, 0, 0, tzinfo=UTC)),
            auth_id="sample-corp01",
            organisation=ORG,
            email="soumu@example.jp",
            password_expires_at=datetime(2027, 7, 6, 15, 0, tzinfo=UTC),
            days_before=30,
        ),
    ),
    Example(
        "An officer changed the organisation's name.",
        auth.OrganisationDetailsChanged(
            meta=_meta("auth:acct:sample-corp01:6", "auth", _at(8, 2, 0)),
            auth_id="sample-corp01",
            organisation=ORG.model_copy(update={"name": "サンプル株式会社"}),
            previous_name=ORG.name,
        ),
    ),
    Example(
        "Five failed logins locked the account.",
        auth.AccountLocked(
            meta=_meta("auth:acct:sample-corp01:7", "auth", _at(9, 3, 0)),
            auth_id="sample-corp01",
            locked_until=_at(10, 3, 0),
        ),
    ),
    Example(
        "An officer deregistered the account.",
        auth.AccountDeregistered(
            meta=_meta("auth:acct:sample-corp01:8", "auth", _at(20, 2, 0)), auth_id="sample-corp01", organisation=ORG
        ),
    ),
    Example(
        "The account expired after a year unused.",
        auth.AccountExpired(
            meta=_meta("auth:acct:sample-corp02:9", "auth", _at(21, 0, 0)),
            auth_id="sample-corp02",
            organisation=SCHOOL,
            last_used_at=datetime(2026, 4, 20, 1, 0, tzinfo=UTC),
        ),
    ),
    # ---- filing events
    Example(
        "A filing was submitted (mail 6).",
        filing.FilingSubmitted(meta=_meta("filing:2027040200001:1", "filing", _at(2, 1, 15)), filing=FACTS, bulk=False),
    ),
    Example(
        "A pending filing was changed (mail 7).",
        filing.FilingChanged(
            meta=_meta("filing:2027040200001:2", "filing", _at(2, 2, 0)),
            filing=FACTS.model_copy(update={"version": 2}),
            was_fix=False,
        ),
    ),
    Example(
        "A filing was withdrawn (mail 8).",
        filing.FilingWithdrawn(
            meta=_meta("filing:2027040200001:3", "filing", _at(2, 3, 0)), filing=FACTS.model_copy(update={"version": 3})
        ),
    ),
    Example(
        "A school report was returned for a fix (mail 9).",
        filing.FilingReturned(
            meta=_meta("filing:2027040200002:2", "filing", _at(3, 2, 0)),
            filing=FACTS.model_copy(
                update={
                    "reception_number": "2027040200002",
                    "kind": filing.FilingKind.SCHOOL_PERIODIC_REPORT,
                    "kind_label": filing.FilingKind.SCHOOL_PERIODIC_REPORT.label,
                    "organisation": SCHOOL,
                    "filer_auth_id": "school-0001",
                    "filer_email": "kyomu@example.jp",
                    "version": 2,
                }
            ),
            reasons=["在籍者数の記載が名簿と一致しません。"],
        ),
    ),
    Example(
        "An officer completed a filing.",
        filing.FilingCompleted(
            meta=_meta("filing:2027040200001:2", "filing", _at(3, 4, 0)), filing=FACTS.model_copy(update={"version": 2})
        ),
    ),
    # ---- notifier: delivery status, bounces, the exact mail, resend
    Example(
        "A mail's state changed: the SMTP server took it.",
        notifier.MailStatusChanged(
            meta=_meta("notifier.mail.9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e.sent.1", "notifier", _at(2, 0, 0)),
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            mail_type=notifier.MailType.REGISTRATION_COMPLETE,
            auth_id="sample-corp01",
            status=notifier.MailStatus.SENT,
            attempt=1,
            smtp_code=250,
            smtp_message="2.0.0 Ok: queued as 4Xk2",
            at=_at(2, 0, 0),
        ),
    ),
    Example(
        "A registered address bounced (5.1.1).",
        notifier.AddressBounced(
            meta=_meta("notifier.mail.9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e.address_bounced.1", "notifier", _at(2, 0, 5)),
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            mail_type=notifier.MailType.REGISTRATION_COMPLETE,
            auth_id="sample-corp01",
            recipient="tanto@example.jp",
            status_code="5.1.1",
            diagnostic="smtp; 550 5.1.1 <tanto@example.jp>: Recipient address rejected: User unknown",
            reporting_mta="dns; mx1.example.jp",
            bounced_at=_at(2, 0, 5),
        ),
    ),
    Example(
        "A resent mail is queued; the notifier's consumer sends it.",
        notifier.MailResendRequested(
            meta=_meta("notifier.mail.5c0e6b7a8f9d0e1f2a3b4c5d6e7f8a9b.resend_requested.0", "notifier", _at(3, 1, 0)),
            mail_id="5c0e6b7a8f9d0e1f2a3b4c5d6e7f8a9b",
            resent_from="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            mail_type=notifier.MailType.REGISTRATION_COMPLETE,
            auth_id="sample-corp01",
            recipient="tanto2@example.jp",
        ),
    ),
    Example(
        "The bounce intake reports a hard bounce found by the VERP address.",
        notifier.RecordBounce(
            request_id="bounce-3f2a9c0d1e4b5a6c",
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            kind=notifier.BounceKind.HARD,
            status_code="5.1.1",
            diagnostic="smtp; 550 5.1.1 <tanto@example.jp>: Recipient address rejected: User unknown",
            reporting_mta="dns; mx1.example.jp",
            recipient="tanto@example.jp",
        ),
    ),
    Example(
        "The bounce is in the delivery log.", notifier.BounceRecorded(mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e", recorded=True)
    ),
    Example("The exact mail sent.", notifier.GetSentMail(mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e")),
    Example(
        "The bytes handed to the SMTP server.",
        notifier.SentMail(
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            data_base64="RnJvbTogLi4uDQpUbzogdGFudG9AZXhhbXBsZS5qcA0KDQo=",
            template_version="3e1f0a9c2b7d",
            message_id="<9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e@ens.example.jp>",
        ),
    ),
    Example(
        "An officer has a bounced mail sent again to the address registered now.",
        notifier.ResendMail(
            session_token=OFFICER_TOKEN,
            request_id="resend-8d7c6b5a4f3e2d1c",
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            reason="窓口で届いていないとの申出（宛先変更済み）",
        ),
    ),
    Example(
        "The new mail is queued.",
        notifier.MailResent(
            mail_id="9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e",
            resent_as="5c0e6b7a8f9d0e1f2a3b4c5d6e7f8a9b",
            recipient="tanto2@example.jp",
        ),
    ),
]


def examples_of(model: type[BaseModel]) -> list[Example]:
    return [e for e in EXAMPLES if type(e.message) is model]
