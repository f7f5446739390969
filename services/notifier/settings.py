"""Settings of the notifier (ENS_NOTIFIER_*) and of the SMTP server it delivers to (ENS_SMTP_*)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Temporary failures: 1 min, 5 min, 30 min, 2 h, then every 6 h until 3 days after the mail was
# queued, when it is recorded as failed (SPEC §3: retried with backoff, nothing lost meanwhile).
DEFAULT_RETRY_DELAYS_S = (60.0, 300.0, 1800.0, 7200.0)
DEFAULT_RETRY_EVERY_S = 6 * 3600.0
DEFAULT_GIVE_UP_AFTER_S = 3 * 86400.0


class SmtpSettings(BaseSettings):
    """Where mail goes. Without ENS_SMTP_HOST, `ens up` starts a local sink and points here at it."""

    model_config = SettingsConfigDict(env_prefix="ENS_SMTP_", extra="ignore", frozen=True)

    host: str | None = Field(default=None, description="SMTP server host.")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP server port (25, 587 with STARTTLS, 465 with implicit TLS).")
    username: str | None = Field(default=None, description="SMTP login user; no login when unset.")
    password: SecretStr | None = Field(default=None, description="SMTP login password (with ENS_SMTP_USERNAME).")
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS (port 587).")
    implicit_tls: bool = Field(default=False, description="TLS from the first byte (port 465).")
    ca_file: str | None = Field(default=None, description="CA bundle that signs the server's certificate (else the system's).")
    # Per phase, as RFC 5321 §4.5.3.2 sets them: a slow but working server must get its mail once.
    # Waiting less than it needs for the answer to the final "." makes a duplicate: the server
    # stores the mail, answers 250 after we gave up, and the retry sends it again.
    timeout_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "Connecting: the TCP connection, the TLS handshake (implicit TLS) and the server's 220 greeting, "
            "each (RFC 5321 §4.5.3.2.1: 5 min for the greeting). Formerly the deadline of a whole transaction; "
            "the later phases now have their own. Any phase taking longer is a temporary failure."
        ),
    )
    command_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="The answer to each command: EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO (RFC 5321 §4.5.3.2.2-3: 5 min).",
    )
    data_init_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="The answer (354) to DATA (RFC 5321 §4.5.3.2.4: 2 min).",
    )
    data_block_timeout_s: float = Field(
        default=180.0,
        gt=0,
        description="Each block of the message taken by the server while it is being written (RFC 5321 §4.5.3.2.5: 3 min).",
    )
    final_dot_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description=(
            'The answer to the final "." of DATA (RFC 5321 §4.5.3.2.6: 10 min): the server may be storing or '
            "filtering the mail; giving up earlier would send it again on the retry."
        ),
    )
    pool_size: int = Field(
        default=8,
        ge=1,
        le=64,
        description=(
            "SMTP connections kept open and reused per replica (Postfix allows 20 per destination by default). "
            "More transactions at once: the ledger writes of several mails share one NATS write (bench/notifier.py: "
            "4 -> 8 took nats-server's CPU per mail from 0.18 to 0.12 ms)."
        ),
    )
    pipelining: bool = Field(
        default=True,
        description="Send MAIL, RCPT and DATA in one write when the server offers PIPELINING (RFC 2920): two round trips a mail instead of four.",
    )


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_NOTIFIER_", extra="ignore", frozen=True)

    system_name: str = Field(default="出入国在留管理庁電子届出システム", description="The system's name as mails print it.")
    sender: str = Field(default="no-reply@ens.example.jp", description="No-reply From address.")
    bounce_domain: str | None = Field(
        default=None,
        description=(
            "When set, each mail's SMTP envelope sender (MAIL FROM, Return-Path) is `bounce+<mail id>@<this domain>` "
            "(VERP), so a bounce names the mail it is about; the bounce intake receives that domain's mail. "
            "Unset: the envelope sender is ENS_NOTIFIER_SENDER."
        ),
    )
    sender_name: str = Field(
        default="電子届出システム（送信専用）",
        max_length=60,
        description="Display name of the From address; up to 14 Japanese characters fit one encoded word.",
    )
    subject_prefix: str = Field(
        default="【電子届出システム】",
        max_length=20,
        description="What every subject starts with; short, so the subject's meaning fits a phone screen.",
    )
    helpdesk: str = Field(
        default="電子届出システムヘルプデスク（help-ens@example.jp）",
        description="The system's helpdesk (Q13, Q42, Q44): named by every mail but the registration mail.",
    )
    registration_helpdesk: str = Field(
        default="利用者情報登録に係る電子届出システムヘルプデスク（registration-ens@example.jp）",
        description="The registration helpdesk (Q21): named by the registration-complete mail (mail 1).",
    )
    receive_domain: str = Field(
        default="ens.example.jp",
        description="The domain whose mail free-mail and phone users must allow (Q38); mails 1 and 3 name it.",
    )
    login_url: str = Field(
        default="https://ens.example.jp/",
        description="Where users log in (and change their password, which mail 5 asks them to do).",
    )

    retry_delays_s: Annotated[tuple[float, ...], NoDecode] = Field(
        default=DEFAULT_RETRY_DELAYS_S,
        description="Waits before the 1st, 2nd, ... retry of a temporary failure (comma-separated seconds).",
    )
    retry_every_s: float = Field(default=DEFAULT_RETRY_EVERY_S, gt=0, description="Wait between retries after the list.")
    give_up_after_s: float = Field(
        default=DEFAULT_GIVE_UP_AFTER_S,
        gt=0,
        description="A mail still failing this long after it was queued is recorded failed.",
    )

    log_keep_days: int = Field(
        default=400,
        ge=31,
        description="How long a mail's ledger record (its delivery log line) is kept after its last change; more than the event stream's age.",
    )
    durable: str = Field(default="notifier", description="Durable consumer on ENS_EVENTS that all replicas share.")
    batch: int = Field(default=128, ge=1, le=1024, description="Events fetched per pull request.")
    fetch_wait_s: float = Field(
        default=0.02,
        gt=0,
        le=5,
        description="How long a pull waits for a full batch; short, because it is added to a quiet period's latency.",
    )
    max_in_flight: int = Field(default=256, ge=1, le=10_000, description="Events worked on at once per replica.")
    ack_wait_s: float = Field(
        default=90.0,
        gt=0,
        description=(
            "How long an unacknowledged event waits before another replica gets it after its replica died; also the "
            "claim's lease. A replica working on an event tells JetStream so every quarter of it, and renews the "
            "claim's lease while the mail is being sent, however long the SMTP server takes."
        ),
    )
    max_ack_pending: int = Field(
        default=20_000,
        ge=100,
        description="Events delivered but not yet acked, across replicas, including those waiting out a retry delay; high, so mails waiting for a retry never hold up new ones.",
    )
    max_deliver: int = Field(
        default=-1,
        ge=-1,
        description=(
            "JetStream's delivery limit per event; -1 (unlimited) on purpose: JetStream would drop the event "
            "silently, while the notifier itself records a mail failed after give_up_after_s."
        ),
    )

    @field_validator("retry_delays_s", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(v) for v in value.split(",") if v.strip())
        return value

    @field_validator("sender")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in value or value.count("@") != 1 or " " in value:
            raise ValueError(f"'{value}' is not an e-mail address")
        return value

    @field_validator("bounce_domain")
    @classmethod
    def _a_domain(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "@" in value or any(c.isspace() for c in value) or not value.isascii() or "." not in value:
            raise ValueError(f"'{value}' is not a mail domain")
        return value.lower()
