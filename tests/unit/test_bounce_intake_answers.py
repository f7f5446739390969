"""Which SMTP answer each outcome earns: 250 only once the notifier answered (or for a message
we do not record), 451 whenever the bounce may be lost otherwise, 550 for other domains."""

from __future__ import annotations

from pathlib import Path

from aiosmtpd.smtp import Envelope

from contracts.common import ErrorCode
from contracts.notifier import BounceRecorded, RecordBounce
from services.bounces.handlers import IntakeHandler
from services.bounces.ports import BounceRefused, NotifierUnavailable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
DOMAIN = "bounces.ens.example.jp"
MAIL_ID = "3f2a9c41d0b7e8a65c14f0e2d9b3a871"


class FakeRecorder:
    """A notifier that records, answers "not ours", refuses or is away, as the test says."""

    def __init__(self, answer: str = "recorded") -> None:
        self.answer = answer
        self.commands: list[RecordBounce] = []

    async def record(self, command: RecordBounce) -> BounceRecorded:
        self.commands.append(command)
        if self.answer == "away":
            raise NotifierUnavailable("no answer")
        if self.answer == "refuse":
            raise BounceRefused(ErrorCode.VALIDATION.value)
        if self.answer == "bug":
            raise RuntimeError("a bug in the recorder")
        return BounceRecorded(mail_id=command.mail_id, recorded=self.answer == "recorded")


async def deliver(handler: IntakeHandler, name: str, rcpt: str = f"bounce+{MAIL_ID}@{DOMAIN}") -> tuple[str, str]:
    envelope = Envelope()
    rcpt_answer = await handler.handle_RCPT(None, None, envelope, rcpt, [])
    if not rcpt_answer.startswith("250"):
        return rcpt_answer, ""
    envelope.content = envelope.original_content = (FIXTURES / f"{name}.eml").read_bytes()
    return rcpt_answer, await handler.handle_DATA(None, None, envelope)


async def test_a_bounce_is_answered_250_after_the_notifier_recorded_it() -> None:
    recorder = FakeRecorder()
    handler = IntakeHandler(DOMAIN, recorder)
    _, answer = await deliver(handler, "postfix")
    assert answer.startswith("250 ")
    assert [c.mail_id for c in recorder.commands] == [MAIL_ID]
    assert recorder.commands[0].kind == "hard" and recorder.commands[0].status_code == "5.1.1"
    assert handler.counts == {"recorded_hard": 1}


async def test_the_notifier_away_means_451_so_the_mta_delivers_the_bounce_again() -> None:
    for answer in ("away", "bug"):
        handler = IntakeHandler(DOMAIN, FakeRecorder(answer))
        _, reply = await deliver(handler, "postfix")
        assert reply.startswith("451 "), (answer, reply)
        assert handler.counts == {"deferred": 1}


async def test_not_ours_and_refused_reports_are_answered_250_and_counted() -> None:
    for answer, label in (("not-ours", "not_ours"), ("refuse", "refused")):
        handler = IntakeHandler(DOMAIN, FakeRecorder(answer))
        _, reply = await deliver(handler, "gmail", f"bounce+e41b7a9d03c25f68b1e9d4a7c0f3b2e6@{DOMAIN}")
        assert reply.startswith("250 ")
        assert handler.counts == {label: 1}


async def test_auto_replies_are_answered_250_dropped_and_counted_without_asking_the_notifier() -> None:
    recorder = FakeRecorder()
    handler = IntakeHandler(DOMAIN, recorder)
    for name in ("autoreply", "out_of_office"):
        _, reply = await deliver(handler, name)
        assert reply.startswith("250 ")
    _, reply = await deliver(handler, "spam", f"postmaster@{DOMAIN}")
    assert reply.startswith("250 ")
    assert recorder.commands == []
    assert handler.counts == {"dropped_auto_reply": 2, "dropped_not_a_bounce": 1}


async def test_recipients_outside_the_bounce_domain_are_refused_550() -> None:
    handler = IntakeHandler(DOMAIN, FakeRecorder())
    answer, _ = await deliver(handler, "postfix", "tanaka@example.co.jp")
    assert answer.startswith("550 ")
    assert handler.counts == {"rcpt_refused": 1}
