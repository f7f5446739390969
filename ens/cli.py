"""`ens`: run the suite, and talk to it over its contracts.

Start-up problems (a bad ENS_* setting, a missing secret, NATS unreachable) end with one
line naming the cause and exit code 2; no traceback reaches the terminal.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import nats
import nats.errors
from nats.aio.client import Client as Nats

from contracts import subjects
from contracts.client import CommandRefused, EnsClient
from ens.commands import auth as auth_commands
from ens.commands import filing as filing_commands
from ens.commands import jobs as jobs_commands
from ens.commands import mail as mail_commands
from services.runtime.clock import SystemClock
from services.runtime.logging import configure_logging
from services.runtime.nats import BusRefused, connect_as
from services.runtime.settings import RuntimeSettings, SettingsError, load_settings, run_event_loop

EXIT_CONFIG = 2
DEFAULT_METRICS_PORT = 9464  # the port OpenTelemetry's Prometheus exporter uses by default


def fail(message: str, code: int = EXIT_CONFIG) -> None:
    click.echo(f"ens: {message}", err=True)
    sys.exit(code)


def runtime_settings() -> RuntimeSettings:
    try:
        return load_settings(RuntimeSettings)
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable


async def nats_answers(url: str, timeout: float = 1.0) -> bool:
    """Does a NATS server answer there? (It greets every new connection with an INFO line.)"""
    parts = urlsplit(url)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port or 4222), timeout)
    except (TimeoutError, OSError):
        return False
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line.startswith(b"INFO")
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()


async def _quiet(_: Exception) -> None:
    """nats-py prints a traceback for every failed attempt unless given an error callback."""


def cli_identity(settings: RuntimeSettings) -> str:
    """Who the `ens` command is on the bus: ENS_NATS_IDENTITY, else `operator` where its
    credential is at hand (the operator's own machine, `ens up`'s data dir), else `client`."""
    from ens.settings import CliSettings

    try:
        chosen = load_settings(CliSettings).nats_identity
    except SettingsError as exc:
        fail(str(exc))
        raise
    if chosen:
        return chosen
    has_operator = settings.nats_nkey_seed_file is None and (settings.credentials_dir / "operator.nk").is_file()
    return "operator" if has_operator else "client"


async def connect_client(settings: RuntimeSettings) -> tuple[Nats, EnsClient]:
    if not any([await nats_answers(url) for url in settings.nats_servers]):
        fail(f"cannot reach NATS at {settings.nats_url} (ENS_NATS_URL)", 1)
    identity = cli_identity(settings)
    try:
        nc = await connect_as(settings, identity, connect_timeout=2)
    except (SettingsError, BusRefused) as exc:
        fail(str(exc), 1)
        raise
    except Exception as exc:
        fail(f"cannot reach NATS at {settings.nats_url} (ENS_NATS_URL): {exc.__class__.__name__}", 1)
        raise
    return nc, EnsClient(nc, timeout=settings.request_timeout_s)


@click.group()
def cli() -> None:
    """ENS notification suite (電子届出システム)."""


# ---- running ------------------------------------------------------------------------------


async def _serve(
    names: list[str],
    settings: RuntimeSettings,
    embedded: bool,
    dev_secrets: dict[str, str] | None = None,
    console: bool = False,
    bounces: bool = False,
) -> None:
    from dataclasses import replace

    from ens import credentials
    from ens.devsecrets import suite_settings
    from ens.embedded import MailSink, NatsServerProcess
    from ens.settings import CliSettings
    from ens.suite import build_services
    from services.runtime.health import ProbePortUnavailable
    from services.runtime.host import Host

    try:
        cli_settings = load_settings(CliSettings)
        suite = suite_settings(dev_secrets or {}).loaded(names)
        if bounces:  # `ens up` runs the intake only where a bounce domain is set; `ens run bounces` needs one
            from services.bounces.app import build as build_intake
            from services.bounces.settings import BouncesSettings

            intake_settings = load_settings(BouncesSettings)
            intake = build_intake(settings, intake_settings) if intake_settings.domain or not embedded else None
    except SettingsError as exc:
        fail(str(exc))
        raise

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        mail_note = f"SMTP server {suite.smtp.host}:{suite.smtp.port}" if suite.smtp else ""
        if embedded:
            if not await nats_answers(settings.nats_servers[0]):
                parts = urlsplit(settings.nats_servers[0])
                if parts.hostname not in ("127.0.0.1", "localhost"):
                    fail(f"no NATS answers at {settings.nats_url} (ENS_NATS_URL), and it is not local")
                server = NatsServerProcess(
                    port=parts.port or 4222,
                    store_dir=settings.data_dir / "nats",
                    log_file=settings.data_dir / "nats-server.log",
                    authorization=credentials.server_authorization(settings.credentials_dir),
                    sync_interval=cli_settings.nats_sync_interval,
                )
                try:
                    server.start()
                except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
                    fail(f"could not start nats-server: {exc}")
                stack.callback(server.stop)
                click.echo(
                    f"ens: started nats-server (pid {server.proc.pid if server.proc else '?'}) at {server.url}, store {server.store_dir}"
                )
            if suite.smtp is not None and not suite.smtp.host:
                sink = MailSink(port=cli_settings.sink_port, maildir=settings.data_dir / "mail")
                try:
                    await sink.start()
                except OSError as exc:
                    fail(f"could not start the mail sink on port {sink.port} (ENS_SINK_PORT): {exc.strerror}")
                stack.push_async_callback(sink.stop)
                suite = replace(suite, smtp=suite.smtp.model_copy(update={"host": sink.host, "port": sink.port}))
                mail_note = f"local mail sink {sink.host}:{sink.port}, each mail kept as a file in {sink.maildir}"
        if settings.metrics_port is None and embedded:
            # `ens up`: 127.0.0.1:9464 by default. `ens run` serves metrics only where asked
            # (ENS_METRICS_PORT): replicas on one machine would race for one default port.
            settings = settings.model_copy(update={"metrics_port": _default_metrics_port(settings.metrics_host)})
        services = build_services(names, settings, SystemClock(), suite)
        host = Host(services, settings, SystemClock())
        try:
            await asyncio.wait_for(host.start(), timeout=120)
        except (BusRefused, SettingsError) as exc:
            fail(str(exc), 1)
        except ProbePortUnavailable as exc:
            fail(f"cannot serve metrics on {exc} (ENS_METRICS_HOST, ENS_METRICS_PORT)", 1)
        except (TimeoutError, nats.errors.NoServersError, OSError) as exc:
            fail(f"cannot start against NATS at {settings.nats_url} (ENS_NATS_URL): {exc.__class__.__name__}", 1)
        stack.push_async_callback(host.stop)
        if console:
            from ens.suite import build_console

            try:
                web = build_console(settings, SystemClock(), suite)
                await web.start()
            except SettingsError as exc:
                fail(str(exc))
                raise
            except OSError as exc:
                fail(f"could not start the console on {web.url} (ENS_CONSOLE_HOST, ENS_CONSOLE_PORT): {exc.strerror}")
            stack.push_async_callback(web.stop)
            click.echo(f"ens: console at {web.url}")
        if bounces:
            try:
                if intake is not None:
                    await asyncio.wait_for(intake.start(), timeout=120)
            except (SettingsError, BusRefused) as exc:
                fail(str(exc))
            except (TimeoutError, nats.errors.NoServersError) as exc:
                fail(f"cannot start against NATS at {settings.nats_url} (ENS_NATS_URL): {exc.__class__.__name__}", 1)
            except OSError as exc:
                fail(f"could not start the bounce intake (ENS_BOUNCES_HOST, ENS_BOUNCES_PORT): {exc.strerror}")
            if intake is None:
                bounces = False
                click.echo("ens: no bounce intake (set ENS_NOTIFIER_BOUNCE_DOMAIN to receive bounces)")
            else:
                stack.push_async_callback(intake.stop)
                click.echo(f"ens: bounce intake at smtp://{intake.host}:{intake.port} for {intake.domain}")
        if mail_note:
            click.echo(f"ens: mail goes to the {mail_note}")
        if host.probe is not None:
            click.echo(
                f"ens: metrics, health and readiness on http://{host.probe.host}:{host.probe.port}/metrics, /healthz, /readyz"
            )
        click.echo(
            f"ens: ready — {', '.join([*names, *(['console'] if console else []), *(['bounces'] if bounces else [])])} on {settings.nats_url} (Ctrl-C to stop)",
            err=False,
        )
        sys.stdout.flush()
        await stop.wait()
        click.echo("ens: stopping")
    click.echo("ens: stopped")


def _default_metrics_port(host: str) -> int:
    """9464 when free; else none, with a warning (a second `ens up` on one machine must still
    start; ENS_METRICS_PORT gives it a port of its own)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, DEFAULT_METRICS_PORT))
        except OSError:
            click.echo(f"ens: port {DEFAULT_METRICS_PORT} is taken: no /metrics, /readyz here (set ENS_METRICS_PORT)", err=True)
            return 0
    return DEFAULT_METRICS_PORT


@cli.command()
def up() -> None:
    """Start the whole suite: NATS and a mail sink when none is configured, and all four services."""
    settings = runtime_settings()
    configure_logging(settings.log_level, settings.log_format, settings.third_party_log_level)
    from ens import devsecrets

    path, created, secrets = devsecrets.ensure(settings.data_dir)
    if created:
        click.echo(f"ens: made development secrets in {path} (set ENS_AUTH_OPERATOR_TOKEN and ENS_FILING_KEYS in production)")
    run_event_loop(
        _serve(list(subjects.SERVICES), settings, embedded=True, dev_secrets=secrets, console=True, bounces=True), settings
    )


@cli.command()
@click.argument("service", type=click.Choice([*subjects.SERVICES, "console", "bounces"]))
def run(service: str) -> None:
    """Run one service alone against the NATS at ENS_NATS_URL (scale out by running it again)."""
    settings = runtime_settings()
    configure_logging(settings.log_level, settings.log_format, settings.third_party_log_level)
    console, bounces = service == "console", service == "bounces"
    alone = [] if console or bounces else [service]
    run_event_loop(_serve(alone, settings, embedded=False, console=console, bounces=bounces), settings)


@cli.command()
@click.argument("services", nargs=-1, type=click.Choice(subjects.SERVICES))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(services: tuple[str, ...], as_json: bool) -> None:
    """Ask every service (or the SERVICES named) over NATS whether it is up and ready; exit 1 if any
    does not answer or is not ready. One replica answers for each service: its own /readyz tells
    about one particular replica."""
    settings = runtime_settings()

    async def ask() -> int:
        nc, client = await connect_client(settings)
        rows: list[dict[str, Any]] = []
        bad = 0
        for name in services or subjects.SERVICES:
            try:
                st = await client.status(name, timeout=5.0)
            except CommandRefused:
                bad += 1
                rows.append({"service": name, "up": False, "ready": False})
                continue
            failing = [f"{c.name}: {c.detail}" for c in st.checks or [] if not c.ok]
            bad += st.ready is False
            rows.append(
                {
                    "service": name,
                    "up": True,
                    "ready": st.ready,
                    "not_ready_because": failing,
                    "instance": st.instance,
                    "version": st.version,
                    "owns": st.owns,
                    "metrics_port": st.metrics_port,
                }
            )
        await nc.close()
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False))
        else:
            for r in rows:
                if not r["up"]:
                    click.echo(f"{r['service']:<10} DOWN  (no answer)")
                elif r["ready"] is False:
                    click.echo(f"{r['service']:<10} up    NOT READY  {r['instance']}  {'; '.join(r['not_ready_because'])}")
                else:  # None: a replica still starting, or one older than readiness in its status
                    state = "ready" if r["ready"] else "-"
                    click.echo(f"{r['service']:<10} up    {state:<9}  {r['instance']}  {', '.join(r['owns'])}")
        return 1 if bad else 0

    sys.exit(asyncio.run(ask()))


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs/asyncapi.json"), show_default=True)
@click.option(
    "--schemas",
    type=click.Path(path_type=Path),
    default=Path("contracts/schemas"),
    show_default=True,
    help="Directory of the per-message JSON Schemas.",
)
@click.option("--check", is_flag=True, help="Exit 1 if a file differs from what the code generates.")
def asyncapi(out: Path, schemas: Path, check: bool) -> None:
    """Write (or check) the AsyncAPI 3.0 document of every subject, and one JSON Schema per message."""
    from ens.spec import generate, message_schemas

    wanted = {out: generate(), **{schemas / name: text for name, text in message_schemas().items()}}
    extra = sorted(p for p in schemas.glob("*.json") if p not in wanted) if schemas.is_dir() else []
    if check:
        stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text() != text] + [str(p) for p in extra]
        if stale:
            fail(f"stale: {', '.join(stale)}: run `ens asyncapi` and commit them", 1)
        click.echo(f"{out} and {schemas}/ are current")
        return
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in extra:
        path.unlink()
    click.echo(f"wrote {out} and {len(wanted) - 1} schemas in {schemas}/")


@cli.command("nats-config")
@click.argument("directory", type=click.Path(path_type=Path))
def nats_config(directory: Path) -> None:
    """Make a deployment's NATS credentials in DIRECTORY: one nkey seed per identity (secrets, mode
    0600; hand each process its own) and nats-authorization.conf (public keys and permissions;
    include it from every NATS node's configuration). Existing seeds are kept."""
    from ens import credentials

    path = credentials.write_server_authorization(directory)
    click.echo(f"ens: seeds in {directory} (one <identity>.nk each), server authorization in {path}")


@cli.command()
def demo() -> None:
    """Play the whole story (registration to fix request) on an embedded suite with a simulated clock."""
    settings = runtime_settings()
    configure_logging("WARNING", settings.log_format)
    from ens.demo import run_demo

    sys.exit(asyncio.run(run_demo()))


for _commands in (auth_commands, filing_commands, mail_commands, jobs_commands):
    _commands.register(cli)


def main() -> None:
    cli(prog_name="ens")
