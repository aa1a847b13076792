"""eh_dynamic_handler (and OAS `custom` handlers): a user's JS event handler
(docs/compatibility.md, JavaScript handlers).

Built per configuration generation: the builder runs the handler's file in the
generation's JSRuntime (`ctx.services.jsvm`), as Tyk's LoadJSPaths does for each handler
entry, and compiles the call of `<name>.DoProcessEvent`. Per event the handler hands the
EventMessage JSON and the precomputed context JSON `{"APIID","OrgID"}` to the VM thread.

Tyk's rules kept: JS handlers need an API (in tyk.conf's global handlers they are
"Handler not found"), `disabled` skips with Tyk's INFO line, `name` is the script's global
variable. Where Tyk panics (no `path`, `enable_jsvm` off: K5) the handler is skipped with an
error instead. Unlike Tyk, `path` must lie inside the directories of `js_roots`
(docs/compatibility.md, JavaScript handlers).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from tykevents.deliver.base import Handler, HandlerConfigError, HandlerContext, HandlerDisabled
from tykevents.deliver.jsvm.runtime import JSLoadError, JSRuntime, config_option, runtime_options
from tykevents.golang.json import GoJSONError, go_marshal, scan
from tykevents.model import Event

logger = logging.getLogger("tykevents.jsvm")


@dataclasses.dataclass
class JSVMConf:
    """apidef.JSVMEventHandlerConf: `name` is Go's MethodName (the JS global's name)."""

    disabled: bool = False
    id: str = ""
    name: str = ""
    path: str = ""


class JSHandler(Handler):
    kind = "js"

    def __init__(
        self, conf: JSVMConf, where: str, runtime: JSRuntime, hid: int, api_id: str, org_id: str
    ) -> None:
        super().__init__(name=conf.name, where=where)
        self.conf = conf
        self.path = str(runtime.resolve(conf.path))  # the file as read (for `tykevents check`)
        self.runtime = runtime
        self.hid = hid
        # Tyk's JSVMContextGlobal, marshalled once in Init.
        self.context_json = go_marshal({"APIID": api_id, "OrgID": org_id})

    owns_runtime = False  # only for `check`: the daemon owns the generation's runtime

    async def close(self) -> None:
        if self.owns_runtime:
            await self.runtime.aclose()

    async def handle(self, event: Event) -> None:
        # Errors, timeouts and out-of-memory are logged (name, file, line) and counted by
        # the runtime; the return value only says whether the script threw.
        await self.runtime.call_handler(self.hid, event.message_text(), self.context_json)


def js_roots(config: Any) -> list[Path]:
    """Where an API definition's JS handler may read its script: tyk.conf's template, app and
    middleware directories, `tykevents.allowed_paths` and `tykevents.js.paths` (Config.confined)."""
    dirs = [config.middleware_path, *config.tykevents.js.paths]
    return [*config.file_roots(), *(config.path(d) for d in dirs if d)]


def build_js_handler(meta: Any, ctx: HandlerContext) -> JSHandler:
    """handler_meta (a dict, or a JSVMConf already decoded) -> JSHandler."""
    if ctx.api.api_id == "":
        raise HandlerConfigError("Handler not found")  # Tyk: JS handlers need an API spec
    if isinstance(meta, JSVMConf):
        conf = meta
    else:
        try:
            conf = scan(meta, JSVMConf, "apidef.JSVMEventHandlerConf")
        except GoJSONError as e:
            raise HandlerConfigError(f"Problem getting configuration, skipping. {e}") from None
    if conf.disabled:
        raise HandlerDisabled(
            f"skipping disabled jsvm event handler with method name {conf.name} at path {conf.path}"
        )
    if not config_option(ctx.config, "enable_jsvm", False):
        raise HandlerConfigError("JS event handlers need `enable_jsvm: true` in tyk.conf")
    runtime = ctx.services.jsvm
    owns = False
    if runtime is None and ctx.services.check_only:
        # `tykevents check` loads every script as `run` would, in one VM for all handlers.
        # One VM is enough to check every script.
        options = {**runtime_options(ctx.config), "vms": 1}
        runtime = ctx.services.jsvm = JSRuntime(ctx.config, None, **options)
        owns = True
    if runtime is None:
        raise HandlerConfigError("the JS VM is not running")
    if not conf.path:
        raise HandlerConfigError("handler_meta.path: a JS file is required")
    if hasattr(ctx.config, "confined"):  # a Config (tests may hand the runtime a plain dict)
        try:
            ctx.config.confined(conf.path, js_roots(ctx.config))
        except ValueError as e:
            raise HandlerConfigError(f"handler_meta.path {e}") from None
    try:
        runtime.load_file(conf.path)
        hid = runtime.register_handler(conf.name, conf.path, ctx.api.api_id)
    except JSLoadError as e:
        raise HandlerConfigError(str(e)) from None
    if not runtime.is_defined(conf.name):
        logger.warning(
            "%s: %s is not defined after loading %s; its events will fail unless a file "
            "loaded later defines it",
            ctx.where,
            conf.name,
            conf.path,
            extra={"prefix": "jsvm"},
        )
    h = JSHandler(conf, ctx.where, runtime, hid, ctx.api.api_id, ctx.api.org_id)
    h.owns_runtime = owns
    return h
