"""Settings of the `ens` command itself (env prefix ENS_), validated like the services' own.

The CLI is the edge where the environment is read: it loads these and each hosted service's
settings class once, and passes them in. Nothing under services/ reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.filing import MAX_UPLOAD_BYTES
from services.runtime.identities import IDENTITIES


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_", extra="ignore", frozen=True)

    sink_port: int = Field(
        default=2525, ge=1, le=65535, description="Port of the local mail sink `ens up` starts when ENS_SMTP_HOST is unset."
    )
    session_file: Path | None = Field(
        default=None,
        description="Where `ens login` keeps the session token (mode 0600); default ~/.config/ens/session.json.",
    )
    xdg_config_home: Path | None = Field(
        default=None,
        validation_alias="XDG_CONFIG_HOME",
        description="The XDG base directory for the default session file.",
    )
    filing_upload_limit: int = Field(
        default=MAX_UPLOAD_BYTES,
        ge=1,
        validation_alias="ENS_FILING_MAX_UPLOAD_BYTES",
        description="Largest CSV `ens filing submit-bulk` sends; the same variable the filing service refuses above.",
    )
    nats_sync_interval: str | None = Field(
        default="always",
        pattern=r"^(always|[0-9]+(ms|s|m|h))$",
        description=(
            "JetStream fsync policy of the nats-server `ens up` starts: `always` syncs every write before its ack, "
            "as compose.yaml's cluster does; a duration (`2m`, NATS's own default) syncs that often "
            "(docs/SECURITY.md, Durability)."
        ),
    )
    nats_identity: str | None = Field(
        default=None,
        description=(
            "Who `ens` client commands are on the bus (an identity of services/runtime/identities.py; in a service's "
            "container, that service, for `ens status SERVICE`); default `operator` when its credential is in the "
            "credentials directory, else `client`."
        ),
    )

    @field_validator("nats_identity")
    @classmethod
    def _known_identity(cls, value: str | None) -> str | None:
        if value is not None and value not in IDENTITIES:
            raise ValueError(f"'{value}' is not an identity of the suite ({', '.join(IDENTITIES)})")
        return value

    operator_token: SecretStr | None = Field(
        default=None,
        validation_alias="ENS_AUTH_OPERATOR_TOKEN",
        description="Operator token for `ens officer create` (the auth service's ENS_AUTH_OPERATOR_TOKEN).",
    )

    @property
    def session_path(self) -> Path:
        if self.session_file is not None:
            return self.session_file
        base = self.xdg_config_home or Path.home() / ".config"
        return base / "ens" / "session.json"
