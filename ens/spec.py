"""The AsyncAPI 3.0 document of the whole suite, generated from the services' FastStream routers."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from contracts import subjects
from services.runtime.clock import SystemClock
from services.runtime.host import asyncapi_document
from services.runtime.settings import RuntimeSettings

# Building the services needs their secrets; the document never contains them.
_SPEC_ONLY_ENV = {
    "ENS_AUTH_OPERATOR_TOKEN": "spec-generation-only-operator-token",
    "ENS_FILING_KEYS": "spec:" + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
}


@contextmanager
def _spec_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _SPEC_ONLY_ENV}
    os.environ.update(_SPEC_ONLY_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def generate() -> str:
    from ens.suite import build_services

    runtime = RuntimeSettings(nats_url="nats://localhost:4222")
    with _spec_env():
        services = build_services(list(subjects.SERVICES), runtime, SystemClock())
    doc = asyncapi_document(services, runtime).to_specification().to_jsonable()
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
