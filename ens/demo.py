"""`ens demo`: the whole story of SPEC as a user and an officer live it, in about a minute.

It starts its own embedded suite — a nats-server on a free port with a temporary store, a local
SMTP sink, all four services in this process — on a simulated clock, so "the next day", "24 hours
later" and "335 days later" take no time. Every step goes through the public contracts, exactly
as a portal or the `ens` command would. At the end it prints the mails that arrived and the
delivery log, and exits non-zero unless all nine mail types were delivered.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any, TypeVar

import click

from contracts import auth, filing, notifier, scheduler
from contracts.client import CommandRefused, EnsClient
from contracts.common import Command, ErrorCode, Reply
from contracts.organisations import OrganisationKind
from ens.embedded import MailSink, NatsServerProcess, free_port
from services.runtime.clock import FakeClock, business_day, jp_date, jst_at, last_day_before

R = TypeVar("R", bound=Reply)

OFFICER_ID = "officer01"
OFFICER_PW = "Officer#2027pw"
ORG_ID = "9010401012345"  # 法人番号 (check digit valid)
ORG_AUTH_ID = "sample-corp01"
ORG_PW = "Start#Pass2027"
ORG_PW_2 = "Better#Pass2028"
SCHOOL_ID = "4010001000036"
SCHOOL_AUTH_ID = "nihongo-gakuin"
SCHOOL_PW = "School#Pass2027"
AT_COUNTER = auth.RequestProvenance(
    channel=auth.RequestChannel.COUNTER, bureau="東京出入国在留管理局", form_reference="東-2027-000123"
)
BY_POST = auth.RequestProvenance(channel=auth.RequestChannel.POST, bureau="東京出入国在留管理局", form_reference="郵-2027-000045")


def _latin_name(i: int) -> str:
    """A distinct Latin-letter given name per person (names hold letters only)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i // 26 % 26] + letters[i % 26] + "AN"


def _say(text: str) -> None:
    click.echo(text)


def _decode(value: str | None) -> str:
    return str(make_header(decode_header(value or "")))


class Story:
    def __init__(self, client: EnsClient, clock: FakeClock, sink: MailSink, operator_token: str, say: Callable[[str], None]):
        self.c = client
        self.clock = clock
        self.sink = sink
        self.operator_token = operator_token
        self.say = say

    async def step(self, title: str, command: Command[R]) -> R:
        self.say(f"  - {title}")
        return await self.c.call(command)

    async def refused(self, title: str, command: Command[Any], code: ErrorCode) -> None:
        try:
            await self.c.call(command)
        except CommandRefused as exc:
            if exc.code != code:
                raise
            self.say(f"  - {title}: 拒否 [{exc.code}] {exc.error.message}")
            return
        raise AssertionError(f"{title}: expected refusal {code}")

    async def next_morning(self) -> None:
        """Move to 09:00 JST the next business day and let the scheduler's daily jobs run."""
        tomorrow = business_day(self.clock.now()) + timedelta(days=1)
        self.clock.set(jst_at(tomorrow, time(9, 0)))
        self.say(f"  - 翌日 {jp_date(tomorrow)} 09:00: スケジューラが登録を有効化")
        await self.c.call(scheduler.RunJob(job=scheduler.JobName.ACTIVATE_REGISTRATIONS, as_of=self.clock.now()))

    async def play(self) -> None:
        c, say = self.c, self.say
        say("1. 職員アカウントと利用者情報登録")
        await self.step(
            "運用者が職員アカウントを作成",
            auth.CreateOfficer(
                operator_token=self.operator_token,
                auth_id=OFFICER_ID,
                password=OFFICER_PW,
                name="入管 太郎",
                email="officer@ens.example.jp",
            ),
        )
        officer = (await c.call(auth.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
        org = auth.Organisation(organisation_id=ORG_ID, kind=OrganisationKind.ACCEPTING_ORGANISATION, name="株式会社サンプル")
        await self.step(
            "職員が所属機関の利用者情報を登録",
            auth.RegisterAccount(
                session_token=officer,
                organisation=org,
                auth_id=ORG_AUTH_ID,
                initial_password=ORG_PW,
                email="tanto@sample.example.jp",
                request=AT_COUNTER,
            ),
        )
        await self.refused("登録当日のログイン", auth.Login(auth_id=ORG_AUTH_ID, password=ORG_PW), ErrorCode.REGISTRATION_PENDING)
        await self.next_morning()
        officer = (await c.call(auth.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
        await c.call(auth.Login(auth_id=ORG_AUTH_ID, password=ORG_PW))
        say("  - 所属機関がログイン")

        say("2. ロックアウト")
        for _ in range(5):
            try:
                await c.call(auth.Login(auth_id=ORG_AUTH_ID, password="Wrong#Pass999"))
            except CommandRefused:
                pass
        await self.refused(
            "5回失敗後、正しいパスワードでも", auth.Login(auth_id=ORG_AUTH_ID, password=ORG_PW), ErrorCode.ACCOUNT_LOCKED
        )
        self.clock.advance(hours=24)
        session = (await c.call(auth.Login(auth_id=ORG_AUTH_ID, password=ORG_PW))).session_token
        say("  - 24時間後、ロックが解除されログイン")
        officer = (await c.call(auth.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token

        say("3. パスワード・メールアドレス・認証ID")
        await self.step(
            "パスワード変更", auth.ChangePassword(session_token=session, current_password=ORG_PW, new_password=ORG_PW_2)
        )
        await self.step("メールアドレス変更", auth.ChangeEmail(session_token=session, new_email="shin-tanto@sample.example.jp"))
        await self.step(
            "職員が認証IDを再通知（郵送の申出）",
            auth.ReissueAuthId(session_token=officer, organisation_id=ORG_ID, request=BY_POST),
        )

        say("4. 届出・報告")
        persons = [
            filing.Person(
                nationality="VNM",
                name_latin=f"NGUYEN VAN {_latin_name(i)}",
                sex=filing.Sex.MALE,
                date_of_birth=date(1995, 4, 1),
                residence_card_number=f"AB{i:08d}CD",
                event_date=date(2027, 4, 1),
            )
            for i in range(1, 301)
        ]
        accepted = await self.step(
            "300人分の一括届出",
            filing.SubmitBulkFiling(
                session_token=session,
                kind=filing.FilingKind.EMPLOYMENT_CONTRACT_CHANGE,
                filename="bulk.csv",
                csv_base64=bulk_csv(persons),
            ),
        )
        f = accepted.filing
        changed = await self.step(
            f"届出の変更（受付番号 {f.reception_number}）",
            filing.ChangeFiling(
                session_token=session, reception_number=f.reception_number, based_on_version=f.version, persons=persons[:299]
            ),
        )
        await self.step(
            "届出の取下げ",
            filing.WithdrawFiling(
                session_token=session, reception_number=f.reception_number, based_on_version=changed.filing.version
            ),
        )

        say("5. 日本語教育機関の報告と修正依頼")
        school = auth.Organisation(
            organisation_id=SCHOOL_ID, kind=OrganisationKind.JAPANESE_LANGUAGE_SCHOOL, name="サンプル日本語学院"
        )
        await self.step(
            "職員が日本語教育機関を登録",
            auth.RegisterAccount(
                session_token=officer,
                organisation=school,
                auth_id=SCHOOL_AUTH_ID,
                initial_password=SCHOOL_PW,
                email="kyomu@school.example.jp",
                request=AT_COUNTER,
            ),
        )
        await self.next_morning()
        officer = (await c.call(auth.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
        school_session = (await c.call(auth.Login(auth_id=SCHOOL_AUTH_ID, password=SCHOOL_PW))).session_token
        students = [persons[0].model_copy(update={"event_date": None})]
        report = (
            await self.step(
                "定期報告",
                filing.SubmitFiling(
                    session_token=school_session, kind=filing.FilingKind.SCHOOL_PERIODIC_REPORT, persons=students
                ),
            )
        ).filing
        say("  申出に基づく職員の変更（窓口又は郵送、受付官署、届出書の受付番号を監査証跡に記録）")
        await self.step(
            "職員がメールアドレスを変更（郵送の申出）",
            auth.ChangeAccountEmail(
                session_token=officer, auth_id=SCHOOL_AUTH_ID, new_email="kyomu-shin@school.example.jp", request=BY_POST
            ),
        )
        renamed = await self.step(
            "職員が機関の登録事項（機関名）を変更（窓口の申出）",
            auth.ChangeOrganisationDetails(
                session_token=officer, organisation_id=SCHOOL_ID, name="サンプル国際日本語学院", request=AT_COUNTER
            ),
        )
        say(
            f"    登録内容: {renamed.account.organisation.name if renamed.account.organisation else '-'} / {renamed.account.email}"
        )
        returned = (
            await self.step(
                "職員が修正依頼（返却）: 修正依頼メールは変更後の登録アドレスへ",
                filing.ReturnFiling(
                    session_token=officer,
                    reception_number=report.reception_number,
                    based_on_version=report.version,
                    reasons=["在籍者数の記載が誤っています。"],
                ),
            )
        ).filing
        fixed = students + [persons[1].model_copy(update={"event_date": None})]
        await self.step(
            "修正して再提出",
            filing.ChangeFiling(
                session_token=school_session,
                reception_number=report.reception_number,
                based_on_version=returned.version,
                persons=fixed,
            ),
        )

        say("6. パスワード有効期限切れ間近")
        officer = (await c.call(auth.Login(auth_id=OFFICER_ID, password=OFFICER_PW))).session_token
        account = (await c.call(auth.GetAccount(session_token=officer, auth_id=ORG_AUTH_ID))).account
        assert account.password_expires_at is not None  # an active account has a password that expires
        last_day = last_day_before(account.password_expires_at)
        self.say(f"  - パスワードの有効期限: {jp_date(last_day)}（変更した日の翌日から数えて1年）")
        await self.refused(
            "未来の基準時刻でのジョブ実行（強制しない限り）",
            scheduler.RunJob(job=scheduler.JobName.PASSWORD_EXPIRY_WARNINGS, as_of=self.clock.now() + timedelta(days=1)),
            ErrorCode.VALIDATION,
        )
        # The 30-day warning's day passes while the scheduler is down; the next run sends it, once.
        self.clock.set(jst_at(last_day - timedelta(days=28), time(9, 0)))
        self.say(f"  - {jp_date(business_day(self.clock.now()))}: 30日前の警告日を逃した後の実行で警告を送信")
        await c.call(scheduler.RunJob(job=scheduler.JobName.PASSWORD_EXPIRY_WARNINGS, as_of=self.clock.now()))

    started: datetime = datetime(2027, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST


def bulk_csv(persons: list[filing.Person]) -> str:
    """The filing service's bulk template filled in, in CP932 as the spreadsheet tool writes it, base64."""
    import base64
    import csv
    import io

    from services.filing.domain.bulk_csv import HEADER

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for p in persons:
        writer.writerow(
            [
                p.nationality,
                p.name_latin,
                "男" if p.sex == filing.Sex.MALE else "女",
                p.date_of_birth.strftime("%Y/%m/%d"),
                p.residence_card_number,
                p.event_date.strftime("%Y/%m/%d") if p.event_date else "",
                p.remarks or "",
            ]
        )
    return base64.b64encode(out.getvalue().encode("cp932")).decode()


async def _wait_for_all_types(
    client: EnsClient, sink: MailSink, auth_ids: list[str], timeout: float = 30.0
) -> list[notifier.DeliveryRecord]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records: list[notifier.DeliveryRecord] = []
        for auth_id in auth_ids:
            log = await client.call(notifier.QueryDeliveryLog(auth_id=auth_id, limit=1000))
            records += log.records
        sent = {r.mail_type for r in records if r.status == notifier.DeliveryStatus.SENT}
        if sent >= set(notifier.MailType) or asyncio.get_running_loop().time() > deadline:
            return records
        await asyncio.sleep(0.2)


async def run_demo(say: Callable[[str], None] = _say) -> int:
    from dataclasses import replace

    from ens import credentials, devsecrets
    from ens.suite import build_services
    from services.notifier.settings import SmtpSettings
    from services.runtime.host import Host
    from services.runtime.nats import connect
    from services.runtime.settings import RuntimeSettings, load_settings

    with tempfile.TemporaryDirectory(prefix="ens-demo-") as tmp:
        base = Path(tmp)
        settings = RuntimeSettings(data_dir=base)
        server = NatsServerProcess(
            port=free_port(),
            store_dir=base / "nats",
            log_file=base / "nats.log",
            authorization=credentials.server_authorization(settings.credentials_dir),
        )
        server.start()
        settings = settings.model_copy(update={"nats_url": server.url})
        sink = MailSink(port=free_port(), maildir=base / "mail")
        await sink.start()
        host = None
        nc = None
        try:
            # The demo's own secrets and mail sink, whatever the environment says.
            secrets = devsecrets.generate()
            suite = replace(devsecrets.suite_settings(secrets), smtp=load_settings(SmtpSettings, host=sink.host, port=sink.port))
            clock = FakeClock(Story.started)
            names = ["auth", "filing", "notifier", "scheduler"]
            host = Host(build_services(names, settings, clock, suite), settings, clock)
            await host.start()
            # The story is told as an operator program would: on its own connection, as `operator`.
            nc = await connect(settings, "ens-demo", identity="operator")
            client = EnsClient(nc, timeout=settings.request_timeout_s)
            say(
                f"ENS demo — 組み込みスイート（NATS {server.url}, メール受信 {sink.host}:{sink.port}, 模擬時計 {clock.now():%Y-%m-%d}）"
            )
            story = Story(client, clock, sink, secrets["ENS_AUTH_OPERATOR_TOKEN"], say)
            try:
                await story.play()
            except CommandRefused as exc:
                say(f"想定外の拒否 [{exc.code}]: {exc.error.message}")
                for f in exc.error.fields[:10]:
                    say(f"  - {f.label or f.field}（{f.field}）: {f.message}")
                return 1
            records = await _wait_for_all_types(client, sink, [ORG_AUTH_ID, SCHOOL_AUTH_ID, OFFICER_ID])
        finally:
            if nc is not None:
                await nc.close()
            if host is not None:
                await host.stop()
            await sink.stop()
            server.stop()

        say("")
        say(f"届いたメール（{len(sink.mails)}通）:")
        for mail in sink.mails:
            msg = mail.parsed()
            say(f"  {', '.join(mail.rcpt_tos):<34} {_decode(msg['Subject'])}")
        say("")
        say("配信ログ:")
        for r in sorted(records, key=lambda r: r.queued_at):
            say(
                f"  {r.mail_type.number} {r.mail_type.value:<22} {r.recipient:<32} {r.status.value:<8} "
                f"試行{r.attempts} {r.smtp_code or ''} {r.event_id}"
            )
        sent = {r.mail_type for r in records if r.status == notifier.DeliveryStatus.SENT}
        numbers = sorted({t.number for t in sent})
        missing = sorted({t.number for t in notifier.MailType} - set(numbers))
        say("")
        if missing:
            say(f"届かなかった種類: {missing}")
            return 1
        say(f"9種類すべてのメールが配信されました: {numbers}")
        return 0
