"""handler_meta -> WebHookConf, decoded as Tyk decodes it (docs/webhooks.md#the-request).

Tyk's `Scan` marshals handler_meta and unmarshals the JSON into `apidef.WebHookHandlerConf`;
tykevents.golang.json.scan applies those encoding/json rules (key folding, sorted-key order, null,
map merging, type errors). Here: the struct, and the error naming the key that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tykevents.deliver.base import HandlerConfigError
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
