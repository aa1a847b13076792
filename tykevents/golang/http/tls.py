"""The client side of Go's crypto/tls as a Transport's TLSClientConfig sets it up, on
Python's ssl: tls.LoadX509KeyPair, a RootCAs pool from PEM, InsecureSkipVerify.

Errors are TLSConfigError with Go's texts (`open <file>: no such file or directory`, `tls:
failed to find any PEM data in certificate input`, `tls: private key does not match public
key`), so that callers can wrap them as Tyk does.
"""

from __future__ import annotations

import os
import ssl


class TLSConfigError(Exception):
    """A certificate, key or CA file could not be used; the text reads as Go's."""


class KeyPairError(TLSConfigError):
    """tls.LoadX509KeyPair failed."""


class CAError(TLSConfigError):
    """The CA file could not be read, or holds no PEM certificate."""


def _read(path: str, error: type[TLSConfigError]) -> bytes:
    """os.ReadFile, with Go's *PathError text on failure."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        why = os.strerror(e.errno).lower() if e.errno else str(e)
        raise error(f"open {path}: {why}") from None


def client_context(
    *,
    insecure_skip_verify: bool = False,
    cert_file: str = "",
    key_file: str = "",
    ca_file: str = "",
) -> ssl.SSLContext:
    """A client context as Go's tls.Config{InsecureSkipVerify, Certificates, RootCAs}: the
    key pair of `cert_file` / `key_file` when either is set (loaded first, as Tyk does), then
    the system roots, or only the certificates of `ca_file` when given; TLS 1.2 at least
    (Go's client default). Raises KeyPairError or CAError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, checks host names
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file or key_file:
        load_x509_key_pair(ctx, cert_file, key_file)
    if ca_file:
        pem = _read(ca_file, CAError)
        try:
            if b"-----BEGIN CERTIFICATE-----" not in pem:  # AppendCertsFromPEM found none
                raise ValueError
            ctx.load_verify_locations(cadata=pem.decode("latin-1"))
        except (ssl.SSLError, ValueError):
            raise CAError("failed to parse CA certificate") from None
    else:
        ctx.load_default_certs()
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def load_x509_key_pair(ctx: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """tls.LoadX509KeyPair into `ctx`: both files read first, then checked as Go does."""
    cert, key = _read(cert_file, KeyPairError), _read(key_file, KeyPairError)
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise KeyPairError("tls: failed to find any PEM data in certificate input")
    if b"PRIVATE KEY-----" not in key:
        raise KeyPairError("tls: failed to find any PEM data in key input")
    try:
        # An empty password: an encrypted key fails here (as in Go) instead of prompting.
        ctx.load_cert_chain(cert_file, key_file, password="")
    except ssl.SSLError as e:
        if "KEY_VALUES_MISMATCH" in str(e):
            raise KeyPairError("tls: private key does not match public key") from None
        raise KeyPairError(f"tls: failed to parse key pair: {e.reason or e}") from None
    except OSError as e:  # the files changed since they were read
        raise KeyPairError(f"open {e.filename or cert_file}: {e.strerror or e}") from None
