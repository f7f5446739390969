"""TLS on the bus: services and `ens` verify the NATS server's certificate against the CA they
are given; a certificate from another CA is refused with one line naming the setting."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import bus
from tests.support.suite import running

ROOT = Path(__file__).resolve().parents[2]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(directory: Path, label: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"ENS test CA {label}"))
        .issuer_name(_name(f"ENS test CA {label}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"ca-{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path):
    ca_path, ca_key, ca = make_ca(tmp_path, "right")
    wrong_ca, _, _ = make_ca(tmp_path, "wrong")
    server = bus.server(tmp_path / "nats-tls", tmp_path / "nats-tls.log", tls=make_server_cert(tmp_path, ca_key, ca))
    server.start()
    try:
        yield server, ca_path, wrong_ca
    finally:
        server.stop()


def ens(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ens", *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


async def test_services_and_ens_verify_the_servers_certificate_against_the_configured_ca(tls_server, monkeypatch):
    server, ca, wrong_ca = tls_server
    assert server.url.startswith("tls://")
    monkeypatch.setenv("ENS_NATS_TLS_CA_FILE", str(ca))
    async with running(["auth"], server.url, nats_tls_ca_file=ca):
        env = {**os.environ, "ENS_NATS_URL": server.url}
        ok = await asyncio.to_thread(ens, "status", "auth", env=env)  # the loop keeps serving auth meanwhile
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith("auth ") and "up" in ok.stdout

        refused = await asyncio.to_thread(ens, "status", "auth", env={**env, "ENS_NATS_TLS_CA_FILE": str(wrong_ca)})
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "ENS_NATS_TLS_CA_FILE" in lines[0] and "CERTIFICATE_VERIFY_FAILED" in lines[0], lines
    assert "Traceback" not in refused.stderr
