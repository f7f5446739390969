"""Settings shared by every service (env prefix ENS_), and the one way to load any settings class.

Each service has its own settings class with its own prefix (ENS_AUTH_, ...). Secrets have no
defaults; a placeholder value stops start-up. A bad value stops start-up with one line that
names the variable, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import time
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "password", "xxx", "todo", "placeholder"})


class SettingsError(Exception):
    """One clear line naming the setting and what is wrong with it."""


def reject_placeholder(value: str) -> str:
    if value.strip().lower() in PLACEHOLDERS or value.strip().lower().startswith("change"):
        raise ValueError("is a placeholder; set a real secret")
    return value


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_", extra="ignore", frozen=True)

    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="NATS server URL(s), comma-separated for a cluster (nats:// or tls://).",
    )
    nats_credentials_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of NATS nkey seeds, one `<identity>.nk` per identity (auth, filing, notifier, scheduler, client, "
            "operator, ...); each service connects as itself. Default: `<ENS_DATA_DIR>/credentials`, where `ens up` "
            "makes development ones."
        ),
    )
    nats_nkey_seed_file: Path | None = Field(
        default=None,
        description="This process's one nkey seed file (e.g. a container's mounted secret); overrides the directory.",
    )
    nats_tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificate that signs the NATS servers' certificates (tls:// URLs); the server certificate is verified.",
    )
    data_dir: Path = Field(default=Path(".ens"), description="Where `ens up` keeps NATS data, mail and dev secrets.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the suite's own log lines."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`text` for a terminal, `json` (one object a line) for a log collector."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description=(
            "Event loop of the services: uvloop (libuv; measured ~15% less CPU per mail in bench/notifier.py) "
            "or Python's own asyncio loop."
        ),
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="How long a client waits for a reply.")
    command_concurrency: int = Field(
        default=32,
        ge=1,
        le=1024,
        description=(
            "Commands of one kind a replica works on at once. One at a time would leave the CPU idle while a "
            "command waits for NATS (a login waiting for its session write holds up the next login's hash)."
        ),
    )
    activation_time: time = Field(
        default=time(9, 0),
        description=(
            "JST time of day of the next-day registration activation (SPEC §1): auth activates registrations from "
            "then and the scheduler runs the activation batch then. One setting, so the two cannot disagree."
        ),
    )
    idempotency_retention_h: int = Field(
        default=24,
        ge=1,
        le=24 * 30,
        description=(
            "How long a command's idempotency key (request_id) and its first reply are kept: a retry with the key "
            "within this time gets the first reply; after it, the key is new again."
        ),
    )
    idempotency_lease_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description=(
            "How long a copy of a command waits for another copy with the same key still running before taking it "
            "over (its replica died): longer than any command takes."
        ),
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="Replicas of streams and buckets (3 on a cluster).")
    events_duplicate_window_s: int = Field(default=3600, ge=60, description="JetStream duplicate window of the event stream.")
    events_max_age_days: int = Field(default=30, ge=1, description="How long domain events stay in the stream.")
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "HTTP port serving `/metrics` (Prometheus), `/healthz` and `/readyz` (docs/OPERATIONS.md). Unset: `ens up` "
            "uses 9464 and `ens run` serves none (replicas on one machine each need a port of their own); 0: none."
        ),
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the metrics port listens on; `0.0.0.0` in a container that Prometheus scrapes from outside.",
    )
    metrics: bool = Field(
        default=True,
        description="Count metrics; false leaves the counters still (to measure what they cost), health still answers.",
    )
    third_party_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING",
        description=(
            "Level of the libraries' log lines (FastStream, nats-py, APScheduler, aiosmtpd, ...); raise it to "
            "INFO or DEBUG to see their chatter."
        ),
    )
    audit_max_age_days: int = Field(
        default=1096,
        ge=400,
        description=(
            "How long audit records (ENS_AUDIT) are kept: 3 years by default. The trail is the seed's 証跡管理 (Q17); "
            "a record must outlive what it explains: a filing lives while pending, then 1 year after it became final "
            "(retention), an auth ID 1 year after its last use, a password 1 year; a question about any of them "
            "(a complaint, an audit, a disclosure request) can come a year or more after the last step. At least 400 "
            "days, so a full one-year period plus a month of margin is always covered."
        ),
    )
    audit_max_bytes: int = Field(
        default=20 * 1024**3,
        ge=64 * 1024**2,
        description=(
            "Most bytes the audit stream keeps (20 GiB by default); past it the oldest records go first, so the trail "
            "never stops the suite. Each record is at most 8 KiB (bounded before it is written; the stream refuses "
            "bigger ones) and about 300 bytes typically: 20 GiB holds roughly 70 million commands, far more than 3 "
            "years of the agency's filings; reaching it means a flood, which a size alarm on the stream should catch."
        ),
    )

    @field_validator("nats_url")
    @classmethod
    def _valid_urls(cls, value: str) -> str:
        for url in value.split(","):
            parts = urlsplit(url.strip())
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
                raise ValueError(f"'{url.strip()}' is not a NATS URL (nats://host:port)")
            try:
                _ = parts.port  # urllib raises only when the port is read
            except ValueError:
                raise ValueError(f"'{url.strip()}' has an invalid port") from None
        return value

    @property
    def nats_servers(self) -> list[str]:
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    @property
    def credentials_dir(self) -> Path:
        return self.nats_credentials_dir or self.data_dir / "credentials"

    def seed_file(self, identity: str) -> Path:
        """The nkey seed this process connects with as `identity`; one clear line if there is none."""
        if self.nats_nkey_seed_file is not None:
            path, setting = self.nats_nkey_seed_file, "ENS_NATS_NKEY_SEED_FILE"
        else:
            path, setting = self.credentials_dir / f"{identity}.nk", "ENS_NATS_CREDENTIALS_DIR"
        if not path.is_file():
            raise SettingsError(
                f"setting {setting}: no NATS credential for identity '{identity}' at {path} "
                "(`ens up` makes development ones; `ens nats-config` makes a deployment's)"
            )
        return path


S = TypeVar("S", bound=BaseSettings)
T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T], settings: RuntimeSettings) -> T:
    """Run a service's main coroutine on the configured loop (asyncio's when uvloop is missing)."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # e.g. Windows, where uvloop does not exist
            return asyncio.run(main)
        return uvloop.run(main)
    return asyncio.run(main)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build a settings class from the environment; translate any error into one SettingsError line."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]  # keyword overrides of any settings class: checked by pydantic, not mypy
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        first = exc.errors(include_url=False)[0]
        name = (prefix + "_".join(str(p) for p in first["loc"])).upper() if first["loc"] else prefix.rstrip("_")
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            reason = "is required (a secret with no default)"
        raise SettingsError(f"setting {name}: {reason}") from None
