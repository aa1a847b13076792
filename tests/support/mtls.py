"""Certificates made at test time with the openssl CLI, and TLS server contexts from them.

make_pki(dir): a CA, a server certificate it signed (localhost, 127.0.0.1), a client
certificate it signed (clientAuth), and a second CA that signed neither; as in
tests/e2e/test_grpc.py. `server_context` makes a receiver that demands a client
certificate from the first CA.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]


def make_pki(where: Path) -> dict[str, Path]:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=where, timeout=30)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *_KEY, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN={ca}")
    for name, ext in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key", *_KEY,
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", "-addext", ext,
        )  # fmt: skip
    return {p.name: p for p in where.iterdir()}


def server_context(pki: dict[str, Path], require_client: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server.pem"], pki["server.key"])
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca.pem"])
    return ctx
