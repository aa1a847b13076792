"""The admin API's one credential: tyk.conf's `secret` in x-tyk-authorization, as Tyk's Gateway
API wants it (the events listener's http_auth checks it the same way: ingest/http.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from tykevents.ingest.http import refuse_unauthorised

if TYPE_CHECKING:
    from tykevents.ingest.http import HttpCounters


def refuse(request: web.Request, want: bytes, counts: HttpCounters) -> web.Response | None:
    """ingest/http.py's check of the header (the one owner of it), named for the admin route:
    its method and path only, as a query string may carry what was meant as a secret."""
    return refuse_unauthorised(request, want, counts, f"admin API {request.method} {request.path}")
