"""The pipelining layer's own pieces: reply parsing, dot-stuffing, refusals mid-pipeline."""

from __future__ import annotations

import asyncio

import pytest

from services.notifier.adapters.smtp_pipeline import PipelinedConnection, SmtpProtocolError, dot_stuffed
from services.notifier.ports import SmtpAnswer


class Wire(asyncio.Transport):
    """A transport that records writes; the test plays the server through data_received."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_dot_stuffing_doubles_leading_dots_and_ends_the_data():
    assert dot_stuffed(b"a\r\n.b\r\n..c\r\n") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert dot_stuffed(b".first") == b"..first\r\n.\r\n"
    assert dot_stuffed(b"bare\nlf\rcr\r\n.x") == b"bare\r\nlf\r\ncr\r\n..x\r\n.\r\n"


async def test_replies_split_across_packets_and_multi_line_replies_come_out_whole_and_in_order():
    wire = Wire()
    conn = PipelinedConnection(wire)
    assert wire.protocol is conn
    conn.data_received(b"250 2.1.0 Ok\r\n25")
    conn.data_received(b"0-first\r\n250 second\r\n354 go")
    conn.data_received(b" ahead\r\n")
    assert await conn.reply() == SmtpAnswer(250, "2.1.0 Ok")
    assert await conn.reply() == SmtpAnswer(250, "first\nsecond")
    assert await conn.reply() == SmtpAnswer(354, "go ahead")


async def test_a_transaction_is_one_write_then_the_body_after_354():
    wire = Wire()
    conn = PipelinedConnection(wire)
    task = asyncio.ensure_future(conn.transaction(b"a@x.jp", b"b@y.jp", b"Subject: t\r\n\r\n.hi\r\n"))
    await asyncio.sleep(0)
    assert bytes(wire.written) == b"MAIL FROM:<a@x.jp>\r\nRCPT TO:<b@y.jp>\r\nDATA\r\n"
    conn.data_received(b"250 ok\r\n250 ok\r\n354 go\r\n")
    await asyncio.sleep(0)
    assert bytes(wire.written).endswith(b"Subject: t\r\n\r\n..hi\r\n.\r\n")
    conn.data_received(b"250 2.0.0 queued as X\r\n")
    assert (await task)[3] == SmtpAnswer(250, "2.0.0 queued as X")


async def test_a_refused_recipient_sends_no_body_even_if_data_was_accepted():
    wire = Wire()
    conn = PipelinedConnection(wire)
    task = asyncio.ensure_future(conn.transaction(b"a@x.jp", b"b@y.jp", b"secret body\r\n"))
    await asyncio.sleep(0)
    conn.data_received(b"250 ok\r\n550 no such user\r\n354 go\r\n")
    await asyncio.sleep(0)
    assert b"secret body" not in wire.written and bytes(wire.written).endswith(b"DATA\r\n.\r\n")
    conn.data_received(b"554 no valid recipients\r\n")
    _, rcpt, _, final = await task
    assert rcpt == SmtpAnswer(550, "no such user") and final is None


async def test_a_lost_connection_fails_the_waiting_reply_and_an_unasked_reply_retires_the_connection():
    wire = Wire()
    conn = PipelinedConnection(wire)
    conn.data_received(b"421 idle timeout\r\n")
    assert not conn.is_connected  # the next mail takes a new connection
    other = PipelinedConnection(Wire())
    waiting = asyncio.ensure_future(other.reply())
    await asyncio.sleep(0)
    other.connection_lost(None)
    with pytest.raises(SmtpProtocolError):
        await waiting
    garbage = PipelinedConnection(Wire())
    garbage.data_received(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(SmtpProtocolError):
        await garbage.reply()
