"""handler_meta -> WebHookConf, decoded as Tyk decodes it (docs/webhooks.md#the-request).

Tyk's `Scan` marshals handler_meta and unmarshals the JSON into `apidef.WebHookHandlerConf`;
tykevents.golang.json.scan applies those encoding/json rules (key folding, sorted-key order, null,
map merging, type errors). Here: the struct, and the error naming the key that failed; and
our own key, `tykevents_signing` (Tyk ignores it), read strictly (docs/webhooks.md#signing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tykevents.deliver.base import HandlerConfigError
from tykevents.deliver.webhook.signing import META_KEY, Signer
from tykevents.golang.json import GoJSONError, scan


@dataclass
class WebHookConf:
    disabled: bool = False
    id: str = ""
    name: str = ""
    method: str = ""
    target_path: str = ""
    template_path: str = ""
    header_map: dict[str, str] = field(default_factory=dict)
    event_timeout: int = 0  # seconds; Tyk: <= 0 means "no expiry", we: no cooldown


def from_meta(meta: Any) -> WebHookConf:
    """Decode handler_meta (parsed JSON) into a WebHookConf; HandlerConfigError names the key."""
    try:
        return scan(meta, WebHookConf, "apidef.WebHookHandlerConf")
    except GoJSONError as e:
        raise HandlerConfigError(e.named("handler_meta")) from None


def signing_from_meta(meta: Any) -> Signer | None:
    """handler_meta's `tykevents_signing: {"secrets": [...]}`: the handler's own signer
    (empty with `[]`: this handler signs nothing), or None without the key (the global
    setting applies). A bad value fails the handler, naming its JSON path, never the secret:
    a webhook meant to be signed is not sent unsigned."""
    if not isinstance(meta, dict) or meta.get(META_KEY) is None:
        return None
    where = f"handler_meta.{META_KEY}"
    conf = meta[META_KEY]
    if not isinstance(conf, dict) or set(conf) != {"secrets"}:
        raise HandlerConfigError(f'{where}: expected {{"secrets": ["whsec_...", ...]}}')
    secrets = conf["secrets"]
    if not isinstance(secrets, list):
        raise HandlerConfigError(f"{where}.secrets: expected a list of strings")
    try:
        return Signer.from_secrets(secrets, f"{where}.secrets")
    except ValueError as e:
        raise HandlerConfigError(str(e)) from None
