"""Development secrets for the embedded suite: made once per data dir, never used by `ens run`.

Production sets ENS_AUTH_OPERATOR_TOKEN and ENS_FILING_KEYS itself; the services refuse to
start without them. `ens up` on a fresh machine must just work, so it writes random ones to
`<data dir>/secrets.env` (mode 0600) the first time and reuses them afterwards.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from ens.suite import SuiteSettings
from services.runtime.settings import load_settings

FILE = "secrets.env"


def generate() -> dict[str, str]:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {
        "ENS_AUTH_OPERATOR_TOKEN": secrets.token_urlsafe(32),
        "ENS_FILING_KEYS": f"dev1:{key}",
    }


def read(data_dir: Path) -> dict[str, str]:
    path = data_dir / FILE
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            out[name.strip()] = value.strip()
    return out


def ensure(data_dir: Path) -> tuple[Path, bool, dict[str, str]]:
    """The development secrets, from the file or freshly made: (file, created, values).

    Only those the environment does not set are returned: a real ENS_AUTH_OPERATOR_TOKEN or
    ENS_FILING_KEYS always wins. The caller hands them to the settings classes; the process
    environment is left as it was."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE
    created = False
    values = read(data_dir)
    if not values:
        values = generate()
        path.write_text(
            "# development secrets made by `ens up`; do not use in production\n"
            + "".join(f"{k}={v}\n" for k, v in values.items())
        )
        path.chmod(0o600)
        created = True
    return path, created, {name: value for name, value in values.items() if not os.environ.get(name)}


def suite_settings(values: dict[str, str]) -> SuiteSettings:
    """Settings for an embedded suite with the development secrets the environment lacks."""
    from services.auth.settings import AuthSettings
    from services.filing.settings import FilingSettings

    auth = filing = None
    if "ENS_AUTH_OPERATOR_TOKEN" in values:
        auth = load_settings(AuthSettings, operator_token=values["ENS_AUTH_OPERATOR_TOKEN"])
    if "ENS_FILING_KEYS" in values:
        filing = load_settings(FilingSettings, keys=values["ENS_FILING_KEYS"])
    return SuiteSettings(auth=auth, filing=filing)
