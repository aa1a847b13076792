"""Standard Webhooks signatures, opt-in (docs/webhooks.md#signing).

Tyk signs nothing; with secrets configured (`tykevents.webhooks.signing`, or a handler's
`tykevents_signing` in handler_meta) each attempt carries `webhook-id` (the same on every
retry and replay of one delivery), `webhook-timestamp` (the attempt's unix seconds) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret,
space-separated, so that a receiver keeps verifying while secrets rotate.

The keys live in memory only: dead letters and the spool store the request without them, and
a delivery read back from either is signed with the current configuration when it is sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tykevents.config import whsec_key
from tykevents.deliver.webhook.delivery import Delivery, new_log_id

# Go's canonical form of the spec's header names (Header.Set would write these).
ID_HEADER = "Webhook-Id"
TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
_LOWER = frozenset(h.lower() for h in HEADERS)
META_KEY = "tykevents_signing"  # handler_meta key; Tyk's decoder ignores keys it does not know


class Signer:
    """The HMAC keys of one signing setting; empty = signing off. Its repr shows no key."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._keys = tuple(keys)

    @classmethod
    def from_secrets(cls, secrets: Sequence[Any], where: str = "secrets") -> Signer:
        """Parse `whsec_` secrets; ValueError names `where[i]`, never the secret."""
        keys = []
        for i, secret in enumerate(secrets):
            try:
                keys.append(whsec_key(secret))
            except ValueError as e:
                raise ValueError(f"{where}[{i}]: {e}") from None
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Signer(<{len(self._keys)} secrets>)"

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The `webhook-signature` value: `v1,<b64>` per key, space-separated, keys in order."""
        content = b"%s.%d.%s" % (msg_id.encode("utf-8", "surrogateescape"), timestamp, body)
        return " ".join(
            "v1," + base64.b64encode(hmac.new(k, content, hashlib.sha256).digest()).decode("ascii")
            for k in self._keys
        )

    def headers(self, msg_id: str, body: bytes, now: float | None = None) -> list[tuple[str, str]]:
        """The three headers of one attempt made at `now` (default: the current time)."""
        ts = int(time.time() if now is None else now)
        return [
            (ID_HEADER, msg_id),
            (TIMESTAMP_HEADER, str(ts)),
            (SIGNATURE_HEADER, self.signature(msg_id, ts, body)),
        ]


# The per-handler signers of the handlers built so far, by (api_id, handler label): a delivery
# rebuilt from the spool or a dead letter names its handler, never its keys. The latest build
# of a handler wins (a reload replaces its entry); entries are few (one per handler with its
# own setting), and only handlers with a `tykevents_signing` key are listed.
_BY_HANDLER: dict[tuple[str, str], Signer] = {}


def remember(api_id: str, handler: str, signer: Signer | None) -> None:
    """Record a built handler's own signer (None: it follows the global setting)."""
    if signer is None:
        _BY_HANDLER.pop((api_id, handler), None)
    else:
        _BY_HANDLER[(api_id, handler)] = signer


def handler_signer(api_id: str, handler: str) -> Signer | None:
    return _BY_HANDLER.get((api_id, handler))


def forget_all() -> None:
    """Tests: start from no handler."""
    _BY_HANDLER.clear()


def message_id(d: Delivery | None) -> str:
    """`webhook-id`: the delivery's log id, given when it is accepted and kept through the
    spool, dead letters and replays (hex: no dots, as the spec asks); a fresh one for a send
    with no delivery behind it."""
    if d is None:
        return new_log_id()
    if d.log_id is None:
        d.log_id = new_log_id()
    return d.log_id


def is_signing_header(name: str) -> bool:
    return name.lower() in _LOWER
