"""Auth's state in its own JetStream KV buckets.

- `auth_accounts`: one entry per auth ID (officers too), written through the outbox so every
  change carries its events. Entries are never deleted: an auth ID is taken forever.
- `auth_orgs`: organisation -> auth ID of its account, claimed with a CAS create, so two
  officers can never register two valid accounts for one organisation.
- `auth_sessions`: keyed by the SHA-256 of the token (the token itself is never stored).
- `auth_notices`: notices (お知らせ).
- `auth_unknown_logins`: failed-login counts for auth IDs that have no account (or a
  deregistered one), so an unknown ID locks after the same failures and its replies, timing
  and writes match a real account's: the 6th try does not reveal whether the ID exists.
- `auth_index`: due-date markers `<kind>.<YYYYMMDD>.<encoded auth ID>` so the scheduler-driven
  commands read only the accounts due on a day (a subject-filtered ordered consumer), not the
  whole bucket. Markers are hints: every command re-checks the account itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from contracts import auth as c
from services.auth.domain.account import DueKind
from services.auth.ports import Swept
from services.runtime.keys import decode_key, encode_key
from services.runtime.nats import ensure_kv, kv_current
from services.runtime.outbox import KvStore, StaleRevision

ACCOUNTS = "auth_accounts"
ORGANISATIONS = "auth_orgs"
SESSIONS = "auth_sessions"
NOTICES = "auth_notices"
INDEX = "auth_index"
UNKNOWN_LOGINS = "auth_unknown_logins"


def day_token(day: date) -> str:
    return day.strftime("%Y%m%d")


def parse_day_token(token: str) -> date:
    return date(int(token[:4]), int(token[4:6]), int(token[6:8]))


class KvDueIndex:
    def __init__(self, kv: KeyValue, js: JetStreamContext | None = None, bucket: str = INDEX) -> None:
        self._kv = kv
        self._js = js  # needed by scan only
        self._bucket = bucket

    @staticmethod
    def _key(kind: DueKind, day: date, auth_id: str) -> str:
        return f"{kind.value}.{day_token(day)}.{encode_key(auth_id)}"

    async def mark(self, kind: DueKind, day: date, auth_id: str) -> None:
        await self._kv.put(self._key(kind, day, auth_id), b"")

    async def unmark(self, kind: DueKind, day: date, auth_id: str) -> None:
        await self._kv.delete(self._key(kind, day, auth_id))

    async def _sweep(self, job: str) -> tuple[Swept | None, int | None]:
        """The job's record and its revision (None, None: never written)."""
        try:
            entry = await self._kv.get(f"sweep.{job}")
        except nats.js.errors.KeyNotFoundError:
            return None, None
        if not entry.value:
            return None, entry.revision
        doc = json.loads(entry.value)
        return Swept(date.fromisoformat(doc["day"]), tuple(doc["days_before"])), entry.revision

    async def swept(self, job: str) -> Swept | None:
        return (await self._sweep(job))[0]

    async def set_swept(self, job: str, swept: Swept) -> None:
        """Compare-and-set, so two replicas finishing runs at once keep the later day."""
        key = f"sweep.{job}"
        value = json.dumps({"day": swept.day.isoformat(), "days_before": list(swept.days_before)}).encode()
        for _ in range(10):
            current, revision = await self._sweep(job)
            if current is not None and current.days_before == swept.days_before and current.day >= swept.day:
                return
            try:
                if revision is None:
                    await self._kv.create(key, value)
                else:
                    await self._kv.update(key, value, last=revision)
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another replica wrote it meanwhile: look again

    async def scan(self, kind: DueKind, day: date | None = None) -> list[tuple[date, str]]:
        """Markers of one kind (on one day, or all), read by key only through the bucket's
        stream filtered by subject, so the cost follows the markers, not the bucket."""
        if self._js is None:
            raise RuntimeError("KvDueIndex.scan needs the JetStream context")
        pattern = f"{kind.value}.{day_token(day)}.>" if day else f"{kind.value}.>"
        found: list[tuple[date, str]] = []
        for key, _, _ in await kv_current(self._js, self._bucket, pattern, keys_only=True):
            _, token, encoded = key.split(".", 2)
            found.append((parse_day_token(token), decode_key(encoded)))
        return found


class NoticeFeed:
    """The notices bucket mirrored in memory by a KV watcher, so a login reads no bucket for
    them. Small by nature (a handful of お知らせ); a change reaches every replica within ms."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._notices: dict[str, dict[str, Any]] = {}
        self._watcher: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # nats-py's "initial values done" marker can come early under load; that only delays a
        # notice by the moment `_follow` needs to apply it, so the watcher is good enough here
        # (the due-date scans, which must be complete, use KvDueIndex.scan instead).
        self._watcher = await self._kv.watchall()
        while (entry := await self._watcher.updates(timeout=30)) is not None:
            self._apply(entry)
        self._task = asyncio.create_task(self._follow(), name="auth-notice-feed")

    async def _follow(self) -> None:
        async for entry in self._watcher:
            if entry is not None:
                self._apply(entry)

    def _apply(self, entry: Any) -> None:
        key = decode_key(entry.key)
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self._notices.pop(key, None)
        else:
            self._notices[key] = json.loads(entry.value)["state"]

    def put(self, notice_id: str, state: dict[str, Any] | None) -> None:
        """The writer's own change, visible to its next read at once (read-your-writes)."""
        if state is None:
            self._notices.pop(notice_id, None)
        else:
            self._notices[notice_id] = state

    def current(self) -> list[dict[str, Any]]:
        return list(self._notices.values())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._watcher is not None:
            with contextlib.suppress(Exception):  # the connection may be closing already
                await self._watcher.stop()
            self._watcher = None


class KvNotices:
    """The notices bucket for writes; reads come from the feed (no bucket read at login)."""

    def __init__(self, store: KvStore, feed: NoticeFeed) -> None:
        self._store = store
        self._feed = feed

    async def publish(self, notice: c.Notice) -> None:
        state = notice.model_dump(mode="json")
        await self._store.put(notice.notice_id, state, expected=None)
        self._feed.put(notice.notice_id, state)

    async def withdraw(self, notice_id: str) -> bool:
        entry = await self._store.get(notice_id)
        if entry is None:
            return False
        try:
            await self._store.delete(notice_id, entry)
        except StaleRevision:
            return False
        self._feed.put(notice_id, None)
        return True

    async def all(self) -> list[c.Notice]:
        return [c.Notice.model_validate(state) for state in self._feed.current()]


async def ensure_expiring_kv(js: JetStreamContext, bucket: str, *, ttl_s: float, replicas: int) -> KeyValue:
    """A bucket whose entries vanish `ttl_s` after their last write (sessions, unknown-ID
    counters): anyone can make new ones, so they must not pile up forever."""
    return await ensure_kv(js, bucket, history=1, replicas=replicas, ttl_s=ttl_s)
