"""User input never becomes a subject token or KV key as is (auth IDs may hold `* . > $`)."""

from __future__ import annotations

import base64


def encode_key(value: str) -> str:
    """A KV-key/subject-token-safe, reversible encoding of any string (base64url, no padding)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=") or "_"


def decode_key(token: str) -> str:
    if token == "_":
        return ""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
