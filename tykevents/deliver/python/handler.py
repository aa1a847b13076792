"""cp_dynamic_handler: a Python `@Event` function of the API's bundle, or a gateway forwarder.

What a `cp_dynamic_handler` entry is depends on the API's driver, as in Tyk:
- `python`: the `@Event` function `handler_meta.name` of the API's bundle, run by tykevents
  (Tyk's own Python event dispatch is a stub: docs/tyk-gateway.md). The bundle is
  imported when the handler is built, in a throwaway process, so that a broken file or a
  missing function is reported with the handler's file and JSON path; calls then run in the
  handler's own process (process.py), with `tykevents.python.call_time_limit`.
- `grpc`: a forwarder. In the gateway's copy of the API it sends the event to tykevents
  (docs/tyk-gateway.md); in tykevents' copy there is nothing to run, so it is skipped with an
  INFO line.
- any other driver: not supported (a WARNING), and skipped.

Python handlers run on the `js` lane, the lane of user code.
"""

from __future__ import annotations

import logging
from typing import Any

from tykevents.deliver.base import Handler, HandlerConfigError, HandlerContext, HandlerDisabled
from tykevents.deliver.python.plugin import PluginError, find_bundle, read_plugin_config
from tykevents.deliver.python.process import HandlerProcess, PythonHandlerError, command, probe
from tykevents.deliver.python.stats import STATS
from tykevents.golang.json import go_marshal
from tykevents.model import Event

logger = logging.getLogger("tykevents.python")


class NotSupported(HandlerConfigError):
    """A cp_dynamic_handler tykevents cannot run: reported as a warning, as before it ran any."""

    level = logging.WARNING


class PythonHandler(Handler):
    kind = "js"  # the user-code lane (tykevents.work)

    def __init__(self, name: str, where: str, process: HandlerProcess, api_id: str, org_id: str) -> None:
        super().__init__(name=name, where=where)
        self.process = process
        # The rest of Tyk's CoProcessEventWrapper around the EventMessage, marshalled once.
        self._tail = (
            ',"handler_name":%s,"spec":%s}'
            % (go_marshal(name), go_marshal({"APIID": api_id, "OrgID": org_id}))
        ).encode()

    async def handle(self, event: Event) -> None:
        message = event.message_json()
        if b"\n" in message:  # only blanks between tokens can be raw newlines: keep one line
            message = message.replace(b"\n", b" ")
        try:
            await self.process.call(b'{"message":' + message + self._tail)
        except PythonHandlerError as e:
            raise PythonHandlerError(f"{self.name} ({self.where}): {e}") from None

    async def close(self) -> None:
        await self.process.close()


def build_python_handler(meta: Any, ctx: HandlerContext) -> PythonHandler:
    if ctx.api.api_id == "":
        raise HandlerConfigError("Handler not found")  # Tyk: coprocess handlers need an API
    name = meta.get("name") if isinstance(meta, dict) else None  # Tyk reads handler_meta["name"]
    if not isinstance(name, str) or not name:
        raise HandlerConfigError("handler_meta.name: the name of a handler function is required")
    plugin = read_plugin_config(ctx.api.source)
    bundle = None
    driver = plugin.driver
    cfg = ctx.config
    if plugin.bundle:
        try:
            bundle = find_bundle(cfg.path(cfg.middleware_path), plugin.bundle)
        except PluginError as e:
            if driver == "grpc":  # the gateway's own plugin server; the event is forwarded
                bundle = None
            else:
                raise HandlerConfigError(str(e)) from None
        if bundle is not None:
            driver = bundle.driver  # Tyk: the manifest's custom_middleware replaces the API's
    if driver == "grpc":
        raise HandlerDisabled(
            f"cp_dynamic_handler {name!r}: a forwarder (driver grpc): the gateway sends this event "
            "to tykevents, which runs the API's other handlers for it: skipped"
        )
    if driver != "python":
        raise NotSupported(
            f"coprocess handlers (cp_dynamic_handler) with driver {driver!r} are not supported by "
            "tykevents (python runs here, grpc is a gateway forwarder): skipped"
        )
    if bundle is None:
        raise HandlerConfigError(
            "a Python handler needs the API's bundle (custom_middleware_bundle, unpacked under "
            f"{cfg.path(cfg.middleware_path) / 'bundles'})"
        )
    settings = cfg.tykevents.python
    try:
        events = probe(settings.interpreter, bundle.module, bundle.path, settings.load_time_limit)
    except PythonHandlerError as e:
        STATS.load_errors += 1
        raise HandlerConfigError(str(e)) from None
    if name not in events:
        found = ", ".join(events) or "none"
        raise HandlerConfigError(f"{bundle.module} has no @Event function {name!r} (found: {found})")
    process = HandlerProcess(
        command(settings.interpreter, bundle.module, bundle.path),
        f"{name} ({ctx.where})",
        settings.call_time_limit,
        settings.load_time_limit,
    )
    return PythonHandler(name, ctx.where, process, ctx.api.api_id, ctx.api.org_id)
