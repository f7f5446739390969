from __future__ import annotations

import base64
import binascii

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.filing import MAX_UPLOAD_BYTES
from services.runtime.settings import reject_placeholder


class FilingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENS_FILING_", extra="ignore", frozen=True)

    keys: SecretStr = Field(
        description="Encryption keys for personal data: comma-separated `id:base64url(32 bytes)`; the last is current.",
    )
    max_upload_bytes: int = Field(
        default=MAX_UPLOAD_BYTES,
        ge=1024,
        # base64 grows by 4/3 and the command's JSON wraps it: 6,000,000 bytes stay under the 8 MB
        # max payload the suite's NATS servers run with (deploy/nats/nats.conf, ens up, the tests)
        le=6_000_000,
        description="Largest bulk CSV accepted; bigger uploads are refused with TOO_LARGE.",
    )
    retention_days: int = Field(default=365, ge=1, description="Days a final (completed/withdrawn) filing is kept.")
    session_cache_s: float = Field(
        default=0.0,
        ge=0,
        le=30,
        description=(
            "How long a checked session is trusted before auth is asked again. 0 (the default): auth is asked for "
            "every command, so a logout, deregistration, expiry or officer password reset ends the session here at "
            "once; more trades that promise for fewer requests to auth."
        ),
    )

    @field_validator("keys")
    @classmethod
    def _valid_keys(cls, v: SecretStr) -> SecretStr:
        raw = reject_placeholder(v.get_secret_value())
        seen: set[str] = set()
        for item in raw.split(","):
            key_id, sep, b64 = item.strip().partition(":")
            if not sep or not key_id:
                raise ValueError("each key must be written `id:base64url(32 bytes)`")
            if key_id in seen:
                raise ValueError(f"key id '{key_id}' appears twice")
            seen.add(key_id)
            try:
                material = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            except (binascii.Error, ValueError):
                raise ValueError(f"key '{key_id}' is not base64url") from None
            if len(material) != 32:
                raise ValueError(f"key '{key_id}' must be 32 bytes (AES-256)")
        return v

    def key_ring(self) -> dict[str, bytes]:
        ring: dict[str, bytes] = {}
        for item in self.keys.get_secret_value().split(","):
            key_id, _, b64 = item.strip().partition(":")
            ring[key_id] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        return ring
