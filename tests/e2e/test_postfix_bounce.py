"""A bounce through a real MTA: the notifier sends through Debian's postfix with its VERP envelope
sender; postfix takes the mail for a local domain that has no such user, bounces it itself
(its own DSN), and relays the DSN for the bounce domain to the intake; the delivery log then
shows the mail `bounced` with postfix's diagnostic.

Postfix runs as a private instance: its own main.cf/master.cf and queue under a temporary
directory, its own port on 127.0.0.1, started with `postfix -c DIR start` and always stopped
(by its master's pid) when the test ends; the system's /etc/postfix is not touched.
`make postfix` (scripts/install-postfix.sh) installs it; without it the test skips.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import auth as a
from contracts.client import EnsClient
from contracts.notifier import DeliveryRecord, DeliveryStatus, MailType, QueryDeliveryLog, ResendMail
from ens.embedded import free_port
from services.bounces.app import Intake, build
from services.bounces.settings import BouncesSettings
from services.notifier.domain.routing import mails_for
from services.notifier.samples import sample_event
from services.runtime.clock import FakeClock
from services.runtime.settings import RuntimeSettings, load_settings
from tests.support import bus
from tests.support.story import ACCOUNT_ID, ACCOUNT_PW, officer_and_active_account
from tests.support.suite import running

ROOT = Path(__file__).resolve().parents[2]
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
LOCAL_DOMAIN = "nosuch.ens-test.example.jp"  # postfix's own domain, with no users
BOUNCE_DOMAIN = "bounces.ens-test.invalid"
MTA_NAME = "mx.ens-test.invalid"


def postfix_or_skip() -> None:
    if not os.path.exists(POSTFIX):
        subprocess.run(["sh", str(ROOT / "scripts" / "install-postfix.sh")], check=False)
    if not os.path.exists(POSTFIX):
        pytest.skip("postfix is not installed and could not be (scripts/install-postfix.sh needs root apt-get)")
    if os.geteuid() != 0:
        pytest.skip("a private postfix instance needs root to start (its daemons switch to the postfix user)")


@dataclass
class PrivatePostfix:
    """A postfix instance of the test's own: accepts mail for LOCAL_DOMAIN (and bounces it: no
    user exists there), relays mail for the bounce domain to the intake's port."""

    intake_port: int
    port: int = 0
    base: Path | None = None
    master_pid: int | None = None
    relays: dict[str, int] | None = None  # more domains postfix relays, each to a local SMTP port

    def _postconf(self, *args: str) -> None:
        assert self.base is not None
        subprocess.run([POSTCONF, "-c", str(self.base / "etc"), *args], check=True, capture_output=True)

    def start(self) -> None:
        # Not pytest's tmp_path: its parents are 0700 and postfix's daemons run as `postfix`.
        self.base = Path(tempfile.mkdtemp(prefix="ens-postfix-", dir="/tmp"))
        self.port = self.port or free_port()
        base = self.base
        base.chmod(0o755)
        for sub in ("etc", "spool", "data"):
            (base / sub).mkdir(mode=0o755)
        shutil.chown(base / "data", "postfix")
        master = Path("/usr/share/postfix/master.cf.dist")
        shutil.copy(master if master.exists() else Path("/etc/postfix/master.cf.proto"), base / "etc" / "master.cf")
        routes = {BOUNCE_DOMAIN: self.intake_port, **(self.relays or {})}
        (base / "etc" / "transport").write_text("".join(f"{d} smtp:[127.0.0.1]:{p}\n" for d, p in routes.items()))
        (base / "etc" / "main.cf").write_text(
            "\n".join(
                [
                    "compatibility_level = 3.6",
                    f"queue_directory = {base}/spool",
                    f"data_directory = {base}/data",
                    "mail_owner = postfix",
                    "setgid_group = postdrop",
                    f"myhostname = {MTA_NAME}",
                    "mydomain = ens-test.invalid",
                    "myorigin = $myhostname",
                    # The local domain with no users: an empty local_recipient_maps makes smtpd take
                    # any recipient, so postfix's local(8) bounces it itself, with its own DSN.
                    f"mydestination = {LOCAL_DOMAIN}",
                    "local_recipient_maps =",
                    "alias_maps =",
                    "alias_database =",
                    "inet_interfaces = 127.0.0.1",
                    "inet_protocols = ipv4",
                    "mynetworks = 127.0.0.0/8",
                    "smtpd_relay_restrictions = permit_mynetworks, reject",
                    f"transport_maps = texthash:{base}/etc/transport",
                    "smtp_tls_security_level = none",
                    "smtpd_tls_security_level = none",
                    "smtp_dns_support_level = disabled",
                    f"maillog_file = {base}/maillog",
                    f"maillog_file_prefixes = {base}",
                    # A DSN the intake answers 451 is retried within seconds, not postfix's minutes.
                    "minimal_backoff_time = 1s",
                    "maximal_backoff_time = 2s",
                    "queue_run_delay = 1s",
                    "biff = no",
                    "",
                ]
            )
        )
        self._postconf("-F", "*/*/chroot = n")  # no chroot: it would need a copy of the system's files
        self._postconf("-M#", "smtp/inet")
        self._postconf("-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        started = subprocess.run([POSTFIX, "-c", str(base / "etc"), "start"], capture_output=True, text=True)
        pid_file = base / "spool" / "pid" / "master.pid"
        if pid_file.exists():
            self.master_pid = int(pid_file.read_text().split()[0])
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stderr.strip()} {self.log()[-2000:]}")

    def stop(self) -> None:
        if self.base is None:
            return
        subprocess.run([POSTFIX, "-c", str(self.base / "etc"), "stop"], capture_output=True, check=False)
        if self.master_pid is not None:
            for _ in range(100):  # the master ends its children, then itself: a bound, not a period
                try:
                    os.kill(self.master_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with suppress(ProcessLookupError):
                    os.kill(self.master_pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def log(self) -> str:
        path = self.base / "maillog" if self.base else None
        return path.read_text(errors="replace") if path and path.exists() else ""


@contextmanager
def private_postfix(intake_port: int, relays: dict[str, int] | None = None) -> Iterator[PrivatePostfix]:
    mta = PrivatePostfix(intake_port=intake_port, relays=relays)
    try:
        mta.start()
        yield mta
    finally:
        mta.stop()


@asynccontextmanager
async def bounce_path(
    nats_url: str, monkeypatch: pytest.MonkeyPatch, relays: dict[str, int] | None = None
) -> AsyncIterator[tuple[Intake, PrivatePostfix]]:
    """The intake on a free port, a private postfix relaying the bounce domain to it, and the
    notifier's settings pointing at that postfix with VERP on (ENS_NOTIFIER_BOUNCE_DOMAIN, the
    one variable both read)."""
    monkeypatch.setenv("ENS_NOTIFIER_BOUNCE_DOMAIN", BOUNCE_DOMAIN)
    intake = build(RuntimeSettings(nats_url=nats_url), load_settings(BouncesSettings, port=0))
    await intake.start()
    try:
        with private_postfix(intake.port, relays) as mta:
            monkeypatch.setenv("ENS_SMTP_HOST", "127.0.0.1")
            monkeypatch.setenv("ENS_SMTP_PORT", str(mta.port))
            monkeypatch.setenv("ENS_SMTP_TIMEOUT_S", "10")
            monkeypatch.setenv("ENS_NOTIFIER_RETRY_DELAYS_S", "0.5,0.5,0.5")
            yield intake, mta
    finally:
        await intake.stop()


async def logged(client: EnsClient, mail_id: str, status: DeliveryStatus, within: float) -> DeliveryRecord:
    """The delivery log's record once it reaches `status` (a bounded wait for mail to go round)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        records = (await client.call(QueryDeliveryLog(mail_id=mail_id))).records
        if records and records[0].status == status:
            return records[0]
        if loop.time() > deadline:
            raise AssertionError(f"mail {mail_id} is {records[0].status if records else 'not logged'}, not {status}")
        await asyncio.sleep(0.1)


async def test_postfix_bounces_a_mail_for_an_unknown_user_and_the_log_shows_bounced_with_its_diagnostic(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    postfix_or_skip()
    base = sample_event(MailType.PASSWORD_CHANGED)
    event = base.model_copy(
        update={
            "email": f"nosuchuser@{LOCAL_DOMAIN}",
            "meta": base.meta.model_copy(update={"event_id": f"{base.meta.event_id}.{uuid.uuid4().hex[:8]}"}),
        }
    )
    [mail] = mails_for(event)
    admin = await bus.connect_as(nats_url, "admin")
    operator = await bus.connect_as(nats_url, "operator")
    client = EnsClient(operator, timeout=10)
    try:
        async with bounce_path(nats_url, monkeypatch) as (intake, mta), running(["notifier"], nats_url):
            await admin.jetstream().publish(
                event.SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.meta.event_id}
            )
            try:
                record = await logged(client, mail.mail_id, DeliveryStatus.BOUNCED, within=60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\npostfix log:\n{mta.log()[-4000:]}\nintake: {intake.counts}") from None
            postfix_log = mta.log()
    finally:
        await admin.close()
        await operator.close()
    assert f"from=<bounce+{mail.mail_id}@{BOUNCE_DOMAIN}>" in postfix_log  # the notifier's VERP envelope sender
    assert "status=bounced (unknown user" in postfix_log  # postfix's own bounce ...
    assert f"relay=127.0.0.1[127.0.0.1]:{intake.port}" in postfix_log  # ... relayed to the intake
    assert record.bounce_status_code == "5.1.1"
    assert record.bounce_diagnostic is not None and 'unknown user: "nosuchuser"' in record.bounce_diagnostic
    assert record.bounce_reporting_mta == MTA_NAME
    assert intake.counts == {"recorded_hard": 1}


DELIVERABLE = "deliver.ens-test.example.jp"  # a domain postfix relays to the test's SMTP sink


async def test_a_postfix_bounce_flags_the_account_and_a_resend_after_an_email_change_reaches_the_new_address_once(
    nats_url: str, monkeypatch: pytest.MonkeyPatch, client: EnsClient, mail_sink
) -> None:
    """The whole suite sends through postfix: the registration mail to an address with no such
    user bounces (postfix's own DSN, back through the intake), auth flags the address (GetAccount,
    the login notice); the organisation registers a deliverable address (which clears the flag,
    while the notice to the old address bounces without flagging the new one); an officer resends
    the bounced mail, and the new address gets it exactly once."""
    postfix_or_skip()
    clock = FakeClock(datetime(2027, 4, 1, 1, 0, tzinfo=UTC))
    dead = f"tanto@{LOCAL_DOMAIN}"
    async with (
        bounce_path(nats_url, monkeypatch, relays={DELIVERABLE: mail_sink.port}) as (intake, mta),
        running(["auth", "notifier"], nats_url, clock=clock),
    ):
        officer = await officer_and_active_account(client, clock, email=dead)  # mail 1, to the dead address

        [registration] = (await client.call(QueryDeliveryLog(auth_id=ACCOUNT_ID))).records
        try:
            bounced = await logged(client, registration.mail_id, DeliveryStatus.BOUNCED, within=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\npostfix log:\n{mta.log()[-4000:]}\nintake: {intake.counts}") from None
        flag = await eventually(
            lambda: client.call(a.GetAccount(session_token=officer, auth_id=ACCOUNT_ID)), lambda v: v.account.undeliverable
        )
        assert flag.account.undeliverable is not None
        assert flag.account.undeliverable.email == dead and flag.account.undeliverable.mail_id == bounced.mail_id
        assert flag.account.undeliverable.status_code == "5.1.1"
        org = await client.call(a.Login(auth_id=ACCOUNT_ID, password=ACCOUNT_PW))
        assert org.address_warning and "登録メールアドレスにメールが届いていません" in org.address_warning

        fresh = f"tanto@{DELIVERABLE}"
        await client.call(a.ChangeEmail(session_token=org.session_token, new_email=fresh))
        account = (await client.call(a.GetAccount(session_token=officer, auth_id=ACCOUNT_ID))).account
        assert account.undeliverable is None
        await eventually(lambda: asyncio.sleep(0, mail_sink.mails), lambda mails: any(fresh in m.rcpt_tos for m in mails))
        before = [m for m in mail_sink.mails if fresh in m.rcpt_tos]  # mail 3 at the new address

        resent = await client.call(
            ResendMail(session_token=officer, mail_id=bounced.mail_id, reason="届かないと電話あり", request_id="resend-pf-000001")
        )
        again = await client.call(
            ResendMail(session_token=officer, mail_id=bounced.mail_id, reason="届かないと電話あり", request_id="resend-pf-000001")
        )
        assert resent == again and resent.recipient == fresh
        await logged(client, resent.resent_as, DeliveryStatus.SENT, within=60)
        await eventually(
            lambda: asyncio.sleep(0, mail_sink.mails), lambda mails: len([m for m in mails if fresh in m.rcpt_tos]) > len(before)
        )
        await asyncio.sleep(1.0)  # a second copy, if one were coming, would be through postfix by now
        at_new = [m for m in mail_sink.mails if fresh in m.rcpt_tos]
        assert len(at_new) == len(before) + 1
        # The old address's notice of the change bounced too; the new address stays unflagged.
        account = (await client.call(a.GetAccount(session_token=officer, auth_id=ACCOUNT_ID))).account
        assert account.undeliverable is None


async def eventually(read, done, within: float = 60.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await read()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within}s: {value!r}")
        await asyncio.sleep(0.1)
