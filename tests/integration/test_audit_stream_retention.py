"""The audit stream has a stated retention (issue 16): by age and by size from the settings,
oldest records first, no record over the auditor's bound, deletes and purges still denied."""

from __future__ import annotations

import nats.js.errors
import pytest
from nats.js.api import DiscardPolicy

from contracts import subjects
from services.runtime.audit import MAX_RECORD_BYTES
from services.runtime.nats import ensure_shared_streams
from services.runtime.settings import RuntimeSettings


async def test_the_audit_stream_keeps_records_for_the_configured_age_and_size_and_refuses_big_ones(nats_url, nc):
    settings = RuntimeSettings(nats_url=nats_url, audit_max_age_days=730, audit_max_bytes=256 * 1024**2)
    js = nc.jetstream()
    await ensure_shared_streams(js, settings)
    config = (await js.stream_info(subjects.AUDIT_STREAM)).config
    assert config.max_age == 730 * 86400
    assert config.max_bytes == 256 * 1024**2
    assert config.max_msg_size == MAX_RECORD_BYTES
    assert config.discard == DiscardPolicy.OLD
    assert config.deny_delete and config.deny_purge

    # A stream made before the retention existed is brought to it.
    await ensure_shared_streams(js, RuntimeSettings(nats_url=nats_url))
    config = (await js.stream_info(subjects.AUDIT_STREAM)).config
    assert config.max_age == RuntimeSettings().audit_max_age_days * 86400
    assert config.max_bytes == RuntimeSettings().audit_max_bytes

    ack = await js.publish(subjects.audit("auth"), b"{}", timeout=5)
    assert ack.seq >= 1
    with pytest.raises(nats.js.errors.APIError, match=r"(?i)size"):
        await js.publish(subjects.audit("auth"), b"x" * (MAX_RECORD_BYTES + 1), timeout=5)
