"""eh_web_hook_handler: Tyk's WebHookHandler (docs/webhooks.md), delivering through WebhookService.

Per event, as Tyk's HandleEvent: render the template over the EventMessage, build the
request, compute the checksum, check the cooldown, send. Differences (docs/compatibility.md):
- the cooldown check and set are one atomic step, taken before sending, and
  `event_timeout: 0` means no cooldown (Tyk: that payload is suppressed forever);
- custom templates may use as_rfc3339 / as_rfc3339_from_string (Tyk falls back to the
  default template);
- sending is handed to WebhookService, which retries and dead-letters (Tyk tries once);
  when it holds `pending_limit` deliveries, handle() waits for room rather than drop
  (backpressure: docs/operations.md#overload-policy); the cooldown is armed before the wait,
  so a repeat that arrives meanwhile is suppressed.
What stays as in Tyk: a render error sends nothing and sets no cooldown (a template that
html/template refuses to escape loads, and fails every event the same way); a request Go would
refuse to send (bad scheme, no host, a header with a newline) still sets the cooldown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tykevents.apps import Problem
from tykevents.deliver.base import Handler, HandlerConfigError, HandlerContext, HandlerDisabled
from tykevents.deliver.webhook.client import MTLS_SKIP
from tykevents.deliver.webhook.conf import WebHookConf, from_meta, signing_from_meta
from tykevents.deliver.webhook.delivery import Delivery
from tykevents.deliver.webhook.request import (
    JSON,
    METHOD_WARNING,
    RequestPlan,
    cert_checksum,
    request_method,
    tyk_header,
)
from tykevents.deliver.webhook.signing import remember
from tykevents.golang import url as gourl
from tykevents.gotemplate.errors import EscapeError
from tykevents.model import Event, MetaTypeError
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.tykmeta import event_template_data

logger = logging.getLogger("tykevents.handler.webhook")
_ratelog = RateLimitedLog(logger)

DEFAULT_TEMPLATE = "default_webhook.json"
# Event type -> (Meta struct name suffix, time field) for the certificate checksum (docs/webhooks.md).
CERT_EVENTS = {
    "CertificateExpiringSoon": ("EventCertificateExpiringSoonMeta", "ExpiresAt"),
    "CertificateExpired": ("EventCertificateExpiredMeta", "ExpiredAt"),
}

# Parsed templates by (path, mtime, size): thousands of handlers share the default template,
# and a reload re-parses only files that changed.
_CACHE: dict[tuple[str, int, int], Any] = {}
_CACHE_MAX = 512


class TemplateLoadError(Exception):
    pass


def template_funcs() -> dict[str, Any]:
    """Functions every webhook template may use: Tyk's two time functions (Tyk installs them
    on its default template only) and our JSON writers (gotemplate/jsonfuncs.py)."""
    from tykevents.golang.time import TYK_FUNCS
    from tykevents.gotemplate.jsonfuncs import JSON_FUNCS

    return {**TYK_FUNCS, **JSON_FUNCS}


def load_template(path: Path) -> Any:
    """Parse a template file with html/template semantics and template_funcs().

    Raises TemplateLoadError with `<file>:<line>:<col>: <error>` for a parse error. A template
    html/template refuses to escape loads, as with Go's ParseFiles, and raises its
    EscapeError at every render; the escaper runs here, off the event path."""
    from tykevents.gotemplate import TemplateError, parse

    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as e:
        raise TemplateLoadError(f"open {path}: {e.strerror or e}") from None
    try:
        tpl = parse(text, name=path.name, engine="html", funcs=template_funcs(), defer_escape=True)
        tpl.compile()  # escaped and compiled here, off the event path (and before gc.freeze)
    except TemplateError as e:
        line, col = getattr(e, "line", 0), getattr(e, "col", 0)
        raise TemplateLoadError(f"{path}:{line}:{col}: {e}") from None
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = tpl
    return tpl


class WebhookHandler(Handler):
    kind = "webhook"

    def __init__(
        self,
        conf: WebHookConf,
        where: str,
        *,
        name: str,
        template: Any,
        template_file: str,
        content_type: str,
        plan: RequestPlan,
        service: Any,
    ) -> None:
        super().__init__(name=name, where=where)
        self.conf = conf
        self.template = template
        self.template_file = template_file
        self.content_type = content_type
        self.plan = plan
        self.service = service
        self.ttl = float(conf.event_timeout)

    async def handle(self, event: Event) -> None:
        service = self.service
        if service is None:
            raise RuntimeError("no webhook service: ctx.services.webhooks was not set")
        metrics = service.metrics
        host = self.plan.host_key
        try:
            data = event_template_data(event)  # decoded once per event, shared by its webhooks
            body = self.template.render_bytes(data)
        except MetaTypeError:
            # A Meta value of the wrong JSON type: nothing is sent; the lane worker counts
            # and logs it with the other bad-Meta rejections.
            metrics.outcome(self.kind, self.name, host, "render_error")
            raise
        except Exception as e:  # an execution or escaping error (Tyk >= 5.4: nothing sent, no cooldown)
            metrics.outcome(self.kind, self.name, host, "render_error")
            _ratelog.log(
                logging.ERROR,
                f"render:{self.where}",
                "Webhook template rendering error: %s (handler %s, template %s, event %s)",
                e,
                self.name,
                e.location(self.template_file) if isinstance(e, EscapeError) else self.template_file,
                event.type,
            )
            return
        plan = self.plan
        if plan.build_error:
            metrics.outcome(self.kind, self.name, host, "invalid_request")
            _ratelog.log(logging.ERROR, f"build:{self.where}", "%s (handler %s)", plan.build_error, self.name)
            return
        cert = CERT_EVENTS.get(event.type)
        if cert is not None:
            digest = _cert_digest(event.type, data, *cert)
            if digest is None:
                metrics.outcome(self.kind, self.name, host, "checksum_error")
                _ratelog.log(
                    logging.ERROR,
                    f"sum:{self.where}",
                    "Webhook checksum error: could not cast meta data (handler %s)",
                    self.name,
                )
                return
        else:
            digest = plan.checksum(body)
        skip = service.sender.skip
        if skip:  # mTLS asked for and its certificate failed to load: Tyk sends nothing, no cooldown
            metrics.outcome(self.kind, self.name, host, "mtls_skipped")
            _ratelog.log(logging.ERROR, "mtls", "%s error=%s (handler %s)", MTLS_SKIP, skip, self.name)
            return
        cooldown = service.cooldown
        fire, failed = await cooldown.check(digest, self.ttl)
        if failed:  # the store failed: fired anyway, as Tyk does
            metrics.outcome(self.kind, self.name, host, "cooldown_error")
        if not fire:
            metrics.outcome(self.kind, self.name, host, "suppressed")
            if service.log is not None:
                service.suppressed(
                    Delivery(
                        plan, body, kind=self.kind, handler=self.name, api_id=event.api_id, event=event.type
                    )
                )
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("webhook %s: cooldown active for %s, not sent", self.name, digest.hex())
            return
        if plan.send_error:
            metrics.outcome(self.kind, self.name, host, "invalid_request")
            _ratelog.log(
                logging.ERROR,
                f"send:{self.where}",
                "Webhook request failed: %s (handler %s)",
                plan.send_error,
                self.name,
            )
            return
        # Waits while the service is full (backpressure: this lane, and the lossless readers
        # behind it, wait too). Last, with nothing awaited after it: a drain that lets waiting
        # calls through dead-letters them before the lanes stop.
        await service.put(
            Delivery(plan, body, kind=self.kind, handler=self.name, api_id=event.api_id, event=event.type)
        )


def _cert_digest(event_type: str, data: Any, struct: str, time_field: str) -> bytes | None:
    """md5(Type + CertID + CertName + <time>.String() + APIID), if Meta is the cert struct."""
    meta = getattr(data, "fields", {}).get("Meta")
    if not getattr(meta, "type_name", "").endswith(struct):
        return None
    assert meta is not None
    f = meta.fields
    when = f.get(time_field)
    when_s = when.go_string() if hasattr(when, "go_string") else str(when)
    return cert_checksum(
        event_type, str(f.get("CertID", "")), str(f.get("CertName", "")), when_s, str(f.get("APIID", ""))
    )


def build_webhook_handler(meta: Any, ctx: HandlerContext) -> WebhookHandler:
    """Tyk's WebHookHandler.Init (docs/webhooks.md)."""
    try:
        conf = from_meta(meta)
    except HandlerConfigError as e:
        raise HandlerConfigError(f"Problem getting configuration, skipping. {e}") from None
    if conf.disabled:
        raise HandlerDisabled(f"skipping disabled webhook {conf.name}")
    cfg = ctx.config
    template, template_file, content_type = None, "", ""
    if conf.template_path:
        path = cfg.path(conf.template_path)
        if ctx.api.api_id:  # an API definition's: template or app directory only (docs/compatibility.md)
            try:
                path = cfg.confined(conf.template_path)
            except ValueError as e:
                raise HandlerConfigError(f"template_path {e}") from None
        try:
            template, template_file = load_template(path), str(path)
        except TemplateLoadError as e:
            logger.warning("Custom template load failure, using default: %s (%s)", e, ctx.where)
        else:
            _note_refusal(template, template_file, ctx.where)
        if conf.template_path.endswith(".json"):  # case-sensitive, whatever the outcome
            content_type = JSON
    if template is None:
        path = cfg.path(cfg.template_path or "templates") / DEFAULT_TEMPLATE
        logger.debug("Loading default template. (%s)", ctx.where)
        try:
            template, template_file = load_template(path), str(path)
        except TemplateLoadError as e:
            raise HandlerConfigError(f"Could not load the default template: {e}") from None
        _note_refusal(template, template_file, ctx.where)
        content_type = JSON
    _check_url(conf.target_path, ctx.where)
    method, ok = request_method(conf.method)
    if not ok:
        logger.warning("%s (method %r; %s)", METHOD_WARNING, conf.method, ctx.where)
    header = tyk_header(conf.header_map, content_type, cfg.ignore_canonical_mime_header_key)
    signing = signing_from_meta(meta)  # ours, opt-in (docs/webhooks.md#signing)
    plan = RequestPlan(method, conf.target_path, header, signing)
    if plan.send_error:
        logger.error("webhook at %s can never be sent: %s", ctx.where, plan.send_error)
    label = conf.id or conf.name or f"{ctx.api.api_id or 'global'}/{plan.host_key}"
    remember(ctx.api.api_id, label, signing)  # for its deliveries read back from the spool or dead letters
    return WebhookHandler(
        conf,
        ctx.where,
        name=label,
        template=template,
        template_file=template_file,
        content_type=content_type,
        plan=plan,
        service=ctx.services.webhooks,
    )


def _note_refusal(template: Any, file: str, where: str) -> None:
    """Tyk says nothing at Init about a template its escaper refuses; each event logs it.
    INFO here (`check` reports it as an error: webhook_escape_problems)."""
    err = template.escape_error()
    if err is not None:
        logger.info("%s: %s: every event this webhook renders fails (%s)", err.location(file), err, where)


def webhook_escape_problems(served: Iterable[tuple[Any, set[str]]]) -> list[Problem]:
    """Problems for `check`: webhook templates html/template refuses to escape. The escaper
    does not look at the data, so such a template fails every event, whatever its type: an
    error at the escaper's place. `served` is fieldcheck.served_event_types()'s answer."""
    by_template: dict[int, tuple[Any, str, list[str]]] = {}
    for handler, _events in served:
        tpl = handler.template
        by_template.setdefault(id(tpl), (tpl, handler.template_file, []))[2].append(handler.where)
    problems = []
    for tpl, file, wheres in by_template.values():
        err = tpl.escape_error() if hasattr(tpl, "escape_error") else None
        if err is None:
            continue
        users = wheres[0] + (f" and {len(wheres) - 1} more" if len(wheres) > 1 else "")
        msg = f"{err}: html/template refuses this template, so webhook {users} never sends (as in Tyk)"
        problems.append(Problem(err.location(file), msg, logging.ERROR))
    return sorted(problems, key=lambda p: p.where)


def _check_url(target: str, where: str) -> None:
    """Tyk's checkURL: an ERROR only; the handler is still registered (docs/webhooks.md)."""
    try:
        if target:
            gourl.parse_request_uri(target)
            return
    except gourl.GoURLError as e:
        # Tyk's text, but the URL redacted: it may carry a password or an API key.
        logger.error("Failed to parse URL! %s%s (%s)", e, gourl.redact(target), where)
    logger.error("Init failed for this webhook, invalid URL, URL must be absolute (%s)", where)
