"""Composition root of the console: builds the web application from the settings it is given;
nothing connects at import, nothing reads the environment.

`build(...)` returns a `Console`; `await console.start()` connects to NATS (as the operator
identity, and as events-reader to show sent mails) and starts a uvicorn server in the running
event loop, so `ens up` hosts it beside the services; `await console.stop()` ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from pathlib import Path

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from nats.aio.client import Client as Nats
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.client import EnsClient
from contracts.common import Command
from services.console import handlers as h
from services.console import views
from services.console.adapters.events import EventArchive
from services.console.mails import previews
from services.console.ports import R, SentEvents, Suite
from services.console.security import PAGE_CSP, CookiePolicy, Csrf
from services.console.settings import ConsoleSettings
from services.notifier.domain.rendering import Renderer
from services.notifier.settings import NotifierSettings
from services.runtime import nats as ens_nats
from services.runtime.clock import Clock
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("ens.console")

HERE = Path(__file__).parent

ROUTES = [
    Route("/", h.home),
    Route("/login", h.login_form, methods=["GET"]),
    Route("/login", h.login, methods=["POST"]),
    Route("/logout", h.logout, methods=["POST"]),
    Route("/mail", h.mail_search),
    Route("/mail/{mail_id}", h.mail_detail),
    Route("/mail/{mail_id}/html", h.mail_html),
    Route("/mail/{mail_id}/resend", h.resend, methods=["POST"]),
    Route("/accounts", h.account_page),
    Route("/accounts/password", h.set_password, methods=["POST"]),
    Route("/filings", h.filing_page),
    Route("/templates", h.templates_page),
    Route("/templates/{key}/html", h.template_html),
    Route("/jobs", h.jobs_page),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


class SecurityHeaders:
    """On every response: nothing cached (officers' pages hold personal data), no framing but
    the console's own mail previews, no script anywhere, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"cache-control", b"no-store"),
                    (b"pragma", b"no-cache"),
                    (b"content-security-policy", PAGE_CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


MAX_FORM_BYTES = 16 * 1024  # the largest form (a password reset) is well under 1 KiB


class FormLimit:
    """A POST must say its length, and be small: Starlette reads a url-encoded body whole into
    memory, so an unbounded one would be a way to exhaust it before any check runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            declared = dict(scope["headers"]).get(b"content-length")
            status = 411 if declared is None or not declared.isdigit() else 413 if int(declared) > MAX_FORM_BYTES else 0
            if status:
                await PlainTextResponse("送信内容が大きすぎるか、長さが不明です。", status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def template_environment() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jst"] = views.jst
    env.filters["jst_seconds"] = views.jst_seconds
    env.filters["last_valid_day"] = views.last_valid_day
    env.globals["status_labels"] = views.STATUS_LABELS
    env.globals["mail_status_labels"] = views.MAIL_STATUS_LABELS
    return Jinja2Templates(env=env)


def web_app(deps: h.ConsoleDeps) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.state.deps = deps
    app.add_middleware(FormLimit)
    app.add_middleware(SecurityHeaders)
    return app


class _HostedServer(uvicorn.Server):
    """uvicorn inside someone else's event loop: the host process (`ens up`) owns SIGINT and
    SIGTERM and stops the console with the rest; uvicorn's own handlers would take them over
    and re-raise them past the host's orderly shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Console:
    """The console as `ens up` and `ens run console` host it: `start()` and `stop()` in the
    caller's event loop. `app` is the ASGI application (tests may drive it without a socket
    once `start()` has connected, or with `connect=False` deps of their own)."""

    def __init__(self, runtime: RuntimeSettings, settings: ConsoleSettings, clock: Clock, notifier: NotifierSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        renderer = Renderer(notifier)
        key = settings.csrf_secret.get_secret_value().encode() if settings.csrf_secret else None
        self._deps = h.ConsoleDeps(
            settings=settings,
            suite=_NotConnected(),
            events=None,
            renderer=renderer,
            previews={p.key: p for p in previews(renderer)},
            csrf=Csrf(key),
            cookies=CookiePolicy(secure=settings.secure_cookie),
            templates=template_environment(),
            clock=clock,
        )
        self.app = web_app(self._deps)
        self._connections: list[Nats] = []
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port or self.settings.port}"

    async def connect(self, suite: Suite | None = None, events: SentEvents | None = None) -> None:
        """Connect to the bus (or take the given ports), without serving HTTP."""
        if suite is None:
            nc = await ens_nats.connect(self.runtime, "ens-console", identity=self.settings.identity)
            self._connections.append(nc)
            suite = EnsClient(nc, timeout=self.runtime.request_timeout_s)
            if self.settings.events_identity:
                reader = await ens_nats.connect(self.runtime, "ens-console-events", identity=self.settings.events_identity)
                self._connections.append(reader)
                events = EventArchive(reader)
        self._deps.suite = suite
        self._deps.events = events

    async def start(self) -> None:
        if isinstance(self._deps.suite, _NotConnected):
            await self.connect()
        # IPPROTO_TCP named, so asyncio turns Nagle off on each accepted connection (it checks the
        # protocol number): uvicorn writes headers and body separately, and with Nagle on every
        # response waited ~40 ms for the client's delayed ACK.
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", server_header=False)
        self._server = _HostedServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="ens-console-http")
        while not self._server.started:
            if self._serving.done():
                await self._serving  # raises what stopped it
                raise RuntimeError("console: the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        log.info("console: serving on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
            self._server = self._serving = None
        for nc in self._connections:
            await nc.close()
        self._connections.clear()


class _NotConnected:
    async def call(self, command: Command[R]) -> R:
        raise RuntimeError("console: not connected; await Console.start() or connect() first")


def build(runtime: RuntimeSettings, settings: ConsoleSettings, clock: Clock, notifier: NotifierSettings | None = None) -> Console:
    """`notifier`: the notifier's settings (system name, sender, helpdesk), so a mail rebuilt
    for an officer is byte for byte the one sent; the defaults when not given."""
    return Console(runtime, settings, clock, notifier or NotifierSettings.model_construct())
