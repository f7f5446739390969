"""Liveness and readiness, and the small HTTP endpoint that serves them with the metrics.

`/healthz`: the process's event loop answers. `/readyz`: every hosted service is connected on
each connection it uses, its streams, buckets and consumers exist, its command subscriptions
are active and its fetch loops (outbox relays, the notifier's consumer) fetch. A fetch loop
reports on itself through a `FetchLoop` it registers for its connection: the host finds the
loops of each service by the service's connection, so a loop needs no reference to the host.

The endpoint is a few lines of asyncio rather than a web framework: three GET paths, one
request per connection, on the service's own event loop — so a wedged loop fails /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.js import JetStreamContext

log = logging.getLogger("ens.health")

# A live loop fetches every second or more often (fetch timeouts are ≤ 1 s), unless all its
# slots are taken by mails waiting on a slow SMTP server (up to ENS_SMTP_TIMEOUT_S, 30 s): one
# that has not come back for longer than that is stuck.
STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class FetchLoop:
    """A background loop that pulls from a JetStream consumer."""

    name: str
    stream: str
    consumer: str
    kind: str  # "outbox" (its consumer follows a bucket) or "events"
    last_beat: float = field(default_factory=time.monotonic)
    failure: str | None = None
    stopped: bool = False

    def ok(self) -> None:
        """A fetch returned (with messages or after its timeout)."""
        self.last_beat = time.monotonic()
        self.failure = None

    def failed(self, exc: BaseException) -> None:
        self.last_beat = time.monotonic()
        self.failure = f"{exc.__class__.__name__}: {exc}"[:200]

    def stop(self) -> None:
        self.stopped = True

    def check(self) -> Check:
        if self.stopped:
            return Check(f"fetch:{self.name}", False, "stopped")
        if self.failure is not None:
            return Check(f"fetch:{self.name}", False, self.failure)
        age = time.monotonic() - self.last_beat
        if age > STALE_AFTER_S:
            return Check(f"fetch:{self.name}", False, f"no fetch for {age:.0f}s")
        return Check(f"fetch:{self.name}", True)


_LOOPS: weakref.WeakKeyDictionary[object, dict[str, FetchLoop]] = weakref.WeakKeyDictionary()


def watch(js: JetStreamContext, name: str, *, stream: str, consumer: str, kind: str) -> FetchLoop:
    """Register a fetch loop under the connection of `js` (one per name: a restarted loop replaces it)."""
    return register(js, FetchLoop(name=name, stream=stream, consumer=consumer, kind=kind))


def register(js: JetStreamContext, loop: FetchLoop) -> FetchLoop:
    loop.stopped = False
    loop.ok()
    _LOOPS.setdefault(js._nc, {})[loop.name] = loop
    return loop


def loops_of(nc: object) -> list[FetchLoop]:
    return [loop for loop in _LOOPS.get(nc, {}).values() if not loop.stopped]


# ---- the HTTP endpoint ----------------------------------------------------------------------

Route = Callable[[], Awaitable[tuple[int, str, bytes]]]


class ProbePortUnavailable(Exception):
    """The metrics port cannot be listened on (taken, or not ours to take)."""


class ProbeServer:
    """GET /metrics, /healthz, /readyz on one port; any other path is 404."""

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.host = host
        self.port = port
        self._routes = routes
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ProbePortUnavailable(f"{self.host}:{self.port}: {exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except TimeoutError:
                pass
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while await asyncio.wait_for(reader.readline(), 5) not in (b"\r\n", b"\n", b""):
                pass  # the headers: nothing here depends on them
            parts = request.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            route = self._routes.get(path)
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain; charset=utf-8", b"method not allowed\n"
            elif route is None:
                status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                status, ctype, body = await route()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}.get(status, "")
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head if parts[0] == "HEAD" else head + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError) as exc:
            log.debug("probe request dropped: %s", exc)
        except Exception:
            log.exception("probe request failed")
        finally:
            writer.close()
