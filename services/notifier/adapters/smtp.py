"""The SMTP adapter: aiosmtplib over a small pool of reused connections.

A connection is opened when first needed and kept for the next mail; any error closes it, so
the next send starts clean on a new one. Codes decide what happens next: 2xx sent, 4xx (and
lost connections, timeouts) temporary, 5xx permanent — except a 5xx from connecting, TLS or
login, which refuses this notifier rather than the mail and so is temporary too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiosmtplib

from services.notifier.adapters.smtp_pipeline import PipelinedConnection, SmtpProtocolError
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
            timeout=s.timeout_s,
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
            # One deadline for the whole transaction (cheaper than one per command, and what
            # matters: how long a mail may hold a connection).
            async with asyncio.timeout(self._settings.timeout_s):
                if conn is None or not conn.is_connected:
                    conn = self._client()
                    try:
                        await conn.connect()
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
                if isinstance(conn, aiosmtplib.SMTP) and conn.is_ehlo_or_helo_needed:
                    await conn.ehlo(timeout=None)
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
                reply = await conn.execute_command(b"MAIL", b"FROM:<%s>" % sender.encode(), timeout=None)
                if reply.code != 250:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
                reply = await conn.execute_command(b"RCPT", b"TO:<%s>" % recipient.encode(), timeout=None)
                if reply.code not in (250, 251):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
                response = await conn.data(data, timeout=None)
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

    @staticmethod
    async def _pipelined(conn: PipelinedConnection, sender: str, recipient: str, data: bytes) -> SmtpAnswer:
        mail, rcpt, accepted, final = await conn.transaction(sender.encode(), recipient.encode(), data)
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
