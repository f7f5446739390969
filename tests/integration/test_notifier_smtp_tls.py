"""The SMTP adapter against a real aiosmtpd server over TCP that insists on STARTTLS and login,
and against one that is not there: the answers become sent / temporary / permanent."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from ens.embedded import free_port
from services.notifier.adapters.smtp import SmtpMailer
from services.notifier.ports import PermanentFailure, TemporaryFailure
from services.notifier.settings import SmtpSettings

MESSAGE = b"From: <no-reply@ens.example.jp>\r\nTo: <a@example.jp>\r\nSubject: test\r\n\r\nbody\r\n"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Recorder:
    def __init__(self) -> None:
        self.received: list[tuple[str, bool, str | None]] = []
        self.pipelining = False

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, session.ssl is not None, session.auth_data if session.authenticated else None))
        return "250 2.0.0 queued as TLS-1"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"ens", b"mail-pass-2027")
    return AuthResult(success=ok, auth_data=auth_data.login if ok else None)


@pytest.fixture
async def tls_server(tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder, port = Recorder(), free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            recorder,
            hostname="tls-sink",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=authenticator,
        ),
        host="127.0.0.1",
        port=port,
    )
    try:
        yield port, cert, recorder
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("pipelining", [False, True])
async def test_starttls_and_login_when_configured_and_the_connection_is_reused(tls_server, pipelining):
    port, cert, recorder = tls_server
    recorder.pipelining = pipelining  # after STARTTLS, pipelining runs over the TLS transport
    mailer = SmtpMailer(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            starttls=True,
            ca_file=str(cert),
            username="ens",
            password=SecretStr("mail-pass-2027"),
            pool_size=1,
            timeout_s=5,
        )
    )
    try:
        first = await mailer.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)
        second = await mailer.send("no-reply@ens.example.jp", "b@example.jp", MESSAGE)
    finally:
        await mailer.close()
    assert (first.code, first.message) == (250, "2.0.0 queued as TLS-1") and second.code == 250
    assert recorder.received == [("no-reply@ens.example.jp", True, b"ens")] * 2
    assert mailer.pipelined == (2 if pipelining else 0)


async def test_a_server_demanding_tls_or_login_refuses_us_not_the_mail_so_mails_wait(tls_server):
    port, _, recorder = tls_server
    plain = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, timeout_s=5))  # no STARTTLS configured
    with pytest.raises(TemporaryFailure) as refused:
        await plain.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)
    assert refused.value.code == 530 and recorder.received == []


async def test_a_mailbox_the_server_rejects_is_a_permanent_failure(mail_sink):
    mail_sink.script = ["550 5.1.1 no such user"]
    mailer = SmtpMailer(SmtpSettings(host=mail_sink.host, port=mail_sink.port, timeout_s=5))
    with pytest.raises(PermanentFailure) as rejected:
        await mailer.send("no-reply@ens.example.jp", "nobody@example.jp", MESSAGE)
    again = await mailer.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)  # a fresh connection
    await mailer.close()
    assert rejected.value.code == 550 and again.code == 250 and len(mail_sink.mails) == 1
    assert mailer.pipelined == 1  # the sink offers PIPELINING, as Postfix does


async def test_without_pipelining_configured_commands_go_one_at_a_time(mail_sink):
    mailer = SmtpMailer(SmtpSettings(host=mail_sink.host, port=mail_sink.port, timeout_s=5, pipelining=False))
    answer = await mailer.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)
    await mailer.close()
    assert answer.code == 250 and mailer.pipelined == 0 and len(mail_sink.mails) == 1


async def test_a_server_that_is_not_there_or_an_untrusted_certificate_is_temporary(tls_server):
    port, _, _ = tls_server
    nobody = SmtpMailer(SmtpSettings(host="127.0.0.1", port=free_port(), timeout_s=2))
    with pytest.raises(TemporaryFailure) as down:
        await nobody.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)
    assert down.value.code is None and down.value.message
    with pytest.raises(TemporaryFailure) as still_down:  # no new connection attempt right after one failed
        await nobody.send("no-reply@ens.example.jp", "b@example.jp", MESSAGE)
    assert "moments ago" in still_down.value.message
    untrusted = SmtpMailer(
        SmtpSettings(
            host="127.0.0.1", port=port, starttls=True, timeout_s=5, username="ens", password=SecretStr("mail-pass-2027")
        )
    )
    with pytest.raises(TemporaryFailure):
        await untrusted.send("no-reply@ens.example.jp", "a@example.jp", MESSAGE)
