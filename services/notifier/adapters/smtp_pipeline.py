"""SMTP command pipelining (RFC 2920) on a connection aiosmtplib has opened.

aiosmtplib connects, says EHLO, upgrades with STARTTLS and logs in: the parts where getting it
wrong is a security problem stay with the library. It sends one command and waits for its
reply each time, though: four round trips and four writes per mail. When the server announces
PIPELINING, this takes the connection over (`transport.set_protocol`) and sends
MAIL FROM, RCPT TO and DATA in one write, then the message after the 354: two round trips.
In bench/notifier.py this cut the CPU per mail of the notifier and of the sink (see
docs/DELIVERY.md). A server without PIPELINING keeps the one-command-at-a-time path.

Each wait has its phase's timeout (`Timeouts`, RFC 5321 §4.5.3.2): a timer is armed only while
a reply is actually awaited, so replies already read cost nothing. After any failure, a timeout
included, the connection is closed (never reused), so no half-finished transaction can leak
into the next mail.
"""

from __future__ import annotations

import asyncio
import collections
import re
from dataclasses import dataclass

from services.notifier.ports import SmtpAnswer

MAX_REPLY_BYTES = 64 * 1024
LINE_END = re.compile(rb"\r\n|\r|\n")


class SmtpProtocolError(Exception):
    """The connection broke or the server said something that is not SMTP."""


class SmtpTimeout(SmtpProtocolError):
    """The server did not answer (or take the message) within the phase's timeout."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds per phase of one transaction (SmtpSettings: command, data_init, data_block, final_dot)."""

    command: float = 300.0
    data_init: float = 120.0
    data_block: float = 180.0
    final_dot: float = 600.0


RFC_5321 = Timeouts()  # the RFC's minimums, and SmtpSettings' defaults


def dot_stuffed(message: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, ending in CRLF "." CRLF."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:  # a bare CR or LF somewhere
        message = LINE_END.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class PipelinedConnection(asyncio.Protocol):
    """Replies arrive in order; each `reply()` takes the next one, waiting if need be."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._buffer = bytearray()
        self._replies: collections.deque[SmtpAnswer] = collections.deque()
        self._lines: list[str] = []
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        transport.set_protocol(self)

    @property
    def is_connected(self) -> bool:
        # A reply nobody asked for (a server's "421 idle timeout" before it hangs up) means the
        # connection is done: the next transaction would read it as its own.
        return self._error is None and not self._replies and not self._transport.is_closing()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[: end + 1]).rstrip(b"\r\n")
            del self._buffer[: end + 1]
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                self._fail(SmtpProtocolError(f"not an SMTP reply: {line[:80]!r}"))
                return
            self._lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":  # the last line of a (possibly multi-line) reply
                self._replies.append(SmtpAnswer(int(line[:3]), "\n".join(self._lines)))
                self._lines = []
                self._wake()
        if len(self._buffer) > MAX_REPLY_BYTES:
            self._fail(SmtpProtocolError("SMTP reply too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(SmtpProtocolError(f"connection lost: {exc}" if exc else "connection closed by the server"))
        self.resume_writing()

    def eof_received(self) -> bool:
        self._fail(SmtpProtocolError("connection closed by the server"))
        return False

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- use ---------------------------------------------------------------------------------

    async def send(self, data: bytes, timeout: float | None = None) -> None:
        if self._error is not None:
            raise self._error
        self._transport.write(data)
        if self._paused:  # a large message filled the socket buffer: let it drain first
            self._drained = asyncio.get_running_loop().create_future()
            timer = self._timer(timeout, "to take the message")
            try:
                await self._drained
            finally:
                if timer is not None:
                    timer.cancel()
            if self._error is not None:
                raise self._error

    async def reply(self, timeout: float | None = None, what: str = "a command") -> SmtpAnswer:
        if self._replies:  # already read: no timer needed (the common case for pipelined replies)
            return self._replies.popleft()
        timer = self._timer(timeout, f"to answer {what}")
        try:
            while not self._replies:
                if self._error is not None:
                    raise self._error
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()
        return self._replies.popleft()

    def _timer(self, timeout: float | None, what: str) -> asyncio.TimerHandle | None:
        """Fail the connection (and so wake the wait) if `timeout` passes first."""
        if timeout is None:
            return None

        def expire() -> None:
            self._fail(SmtpTimeout(f"the server took longer than {timeout:g}s {what}"))
            self.resume_writing()
            if not self._transport.is_closing():
                self._transport.close()

        return asyncio.get_running_loop().call_later(timeout, expire)

    async def transaction(
        self, sender: bytes, recipient: bytes, message: bytes, timeouts: Timeouts = RFC_5321
    ) -> tuple[SmtpAnswer, SmtpAnswer, SmtpAnswer, SmtpAnswer | None]:
        """MAIL, RCPT and DATA in one write; the message only after a 354 (RFC 2920 §3.1).

        Returns the four replies (the last None when DATA was not accepted); the caller decides
        what a failure means and closes the connection after one. Raises SmtpTimeout when a
        phase takes longer than its timeout."""
        await self.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, recipient), timeouts.command)
        mail = await self.reply(timeouts.command, "MAIL FROM")
        rcpt = await self.reply(timeouts.command, "RCPT TO")
        data = await self.reply(timeouts.data_init, "DATA")
        if data.code != 354:
            return mail, rcpt, data, None
        if mail.code != 250 or rcpt.code not in (250, 251):
            # DATA accepted although the envelope was refused: end it empty, send nothing.
            await self.send(b".\r\n", timeouts.data_block)
            await self.reply(timeouts.final_dot, 'the final "."')
            return mail, rcpt, data, None
        await self.send(dot_stuffed(message), timeouts.data_block)
        return mail, rcpt, data, await self.reply(timeouts.final_dot, 'the final "."')

    async def quit(self) -> None:
        if self.is_connected:
            await self.send(b"QUIT\r\n")
            await self.reply()
        self.close()

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()
        self._fail(SmtpProtocolError("connection closed"))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        self._wake()
