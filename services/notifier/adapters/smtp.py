"""The SMTP adapter: aiosmtplib over a small pool of reused connections.

A connection is opened when first needed and kept for the next mail; any error closes it, so
the next send starts clean on a new one. Codes decide what happens next: 2xx sent, 4xx (and
lost connections, timeouts) temporary, 5xx permanent — except a 5xx from connecting, TLS or
login, which refuses this notifier rather than the mail and so is temporary too.

Timeouts per phase, as RFC 5321 §4.5.3.2 sets them (SmtpSettings): connecting and the greeting,
each command, DATA, the message being taken, and up to 10 minutes for the answer to the final
"." — a slow but working server that answers 250 late must not get the mail again on a retry.
The caller (delivery.py) keeps the mail's claim alive meanwhile, the consumer its event.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiosmtplib

from services.notifier.adapters.smtp_pipeline import PipelinedConnection, SmtpProtocolError, Timeouts, dot_stuffed
from services.notifier.ports import PermanentFailure, SmtpAnswer, TemporaryFailure
from services.notifier.settings import SmtpSettings

log = logging.getLogger("ens.notifier.smtp")


# 5xx replies that refuse us rather than the mail (TLS or login required or failed): a setting
# to fix, after which the waiting mails go out. Failing them for good would lose them.
REFUSES_US = frozenset({530, 534, 535, 538})
UNREACHABLE_PAUSE_S = 1.0


def tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a failed connection (certificate not verified, handshake refused),
    however aiosmtplib wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _failure(code: int | None, message: str) -> TemporaryFailure | PermanentFailure:
    if code is not None and 500 <= code < 600 and code not in REFUSES_US:
        return PermanentFailure(code, message)
    return TemporaryFailure(code, message)


class SmtpMailer:
    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None) -> None:
        self._settings = settings
        self._local_hostname = local_hostname
        self._timeouts = Timeouts(
            command=settings.command_timeout_s,
            data_init=settings.data_init_timeout_s,
            data_block=settings.data_block_timeout_s,
            final_dot=settings.final_dot_timeout_s,
        )
        self._unreachable_until = 0.0
        self._last_connect_failure = ""
        self.pipelined = 0  # mails sent with MAIL, RCPT and DATA in one write
        self._idle: asyncio.Queue[aiosmtplib.SMTP | PipelinedConnection | None] = asyncio.Queue()
        for _ in range(settings.pool_size):
            self._idle.put_nowait(None)  # a slot; connected on first use

    def _client(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            use_tls=s.implicit_tls,
            start_tls=s.starttls if not s.implicit_tls else False,
            timeout=s.command_timeout_s,  # STARTTLS and AUTH while connecting; EHLO and the rest are given theirs
            local_hostname=self._local_hostname,
            cert_bundle=s.ca_file,
        )

    async def send(self, sender: str, recipient: str, data: bytes) -> SmtpAnswer:
        if not self._settings.host:
            raise TemporaryFailure(None, "ENS_SMTP_HOST is not set")
        loop = asyncio.get_running_loop()
        if loop.time() < self._unreachable_until:
            # Just failed to connect: during an outage, a backlog must not turn into a storm of
            # connection attempts; the mails wait their retry delay instead.
            raise TemporaryFailure(
                None, f"not connecting again yet; the connection moments ago failed: {self._last_connect_failure}"
            )
        conn = await self._idle.get()
        keep: aiosmtplib.SMTP | PipelinedConnection | None = None
        try:
            if conn is None or not conn.is_connected:
                conn = self._client()
                try:
                    # TCP connect, TLS handshake and the 220 greeting, each within timeout_s
                    await conn.connect(timeout=self._settings.timeout_s)
                except aiosmtplib.SMTPResponseException as exc:
                    raise TemporaryFailure(exc.code, exc.message) from None
                except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                    self._unreachable_until = loop.time() + UNREACHABLE_PAUSE_S
                    tls = tls_error(exc)
                    if tls is None:
                        self._last_connect_failure = f"{exc.__class__.__name__}: {exc}"
                        raise
                    # Not "unreachable": the server answered, and TLS failed (a certificate
                    # not signed by ENS_SMTP_CA_FILE, a name mismatch ...): a setting to fix.
                    self._last_connect_failure = f"TLS: {tls}"
                    log.error("SMTP %s:%s: TLS failed: %s", self._settings.host, self._settings.port, tls)
                    raise TemporaryFailure(None, self._last_connect_failure) from None
            timeouts = self._timeouts
            if isinstance(conn, aiosmtplib.SMTP) and conn.is_ehlo_or_helo_needed:
                await conn.ehlo(timeout=timeouts.command)
            if isinstance(conn, aiosmtplib.SMTP) and self._settings.pipelining and conn.supports_extension("pipelining"):
                assert conn.protocol is not None and conn.protocol.transport is not None
                conn = PipelinedConnection(conn.protocol.transport)  # type: ignore[arg-type]  # typed BaseTransport; over TCP/TLS a Transport
            if isinstance(conn, PipelinedConnection):
                answer = await self._pipelined(conn, sender, recipient, data)
                keep = conn
                self.pipelined += 1
                return answer
            # MAIL and RCPT as plain commands: aiosmtplib's mail()/rcpt() parse both addresses
            # with email.utils on every call, ~5% of a mail's CPU; ours are plain ASCII addresses.
            reply = await conn.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), timeout=timeouts.command)
            if reply.code != 250:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
            reply = await conn.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode(), timeout=timeouts.command)
            if reply.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            # DATA by hand rather than aiosmtplib's data(), which has one timeout for the 354 and
            # for the answer to the final ".": RFC 5321 gives them 2 and 10 minutes.
            reply = await conn.execute_command(b"DATA", timeout=timeouts.data_init)
            if reply.code != 354:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            if conn.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost")
            # aiosmtplib buffers the write without waiting for it to drain, so the message's
            # blocks are covered by the final-dot timeout on this path.
            conn.protocol.write(dot_stuffed(data))
            response = await conn.protocol.read_response(timeout=timeouts.final_dot)
            if response.code != 250:
                raise aiosmtplib.SMTPDataError(response.code, response.message)
            keep = conn
            return SmtpAnswer(response.code, response.message)
        except aiosmtplib.SMTPResponseException as exc:
            raise _failure(exc.code, exc.message) from None
        except (TemporaryFailure, PermanentFailure):
            raise
        except (TimeoutError, aiosmtplib.SMTPException, SmtpProtocolError, OSError) as exc:
            raise TemporaryFailure(None, f"{exc.__class__.__name__}: {exc}") from None
        finally:
            if keep is None and conn is not None:
                conn.close()
            self._idle.put_nowait(keep)

    async def _pipelined(self, conn: PipelinedConnection, sender: str, recipient: str, data: bytes) -> SmtpAnswer:
        mail, rcpt, accepted, final = await conn.transaction(sender.encode(), recipient.encode(), data, self._timeouts)
        for answer in (mail, rcpt):
            if answer.code not in (250, 251):
                raise _failure(answer.code, answer.message)
        if final is None:
            raise _failure(accepted.code, accepted.message)
        if final.code != 250:
            raise _failure(final.code, final.message)
        return final

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None and conn.is_connected:
                try:
                    await asyncio.wait_for(conn.quit(), 2)
                except (TimeoutError, aiosmtplib.SMTPException, SmtpProtocolError, OSError):
                    conn.close()
