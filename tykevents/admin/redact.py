"""Secrets out of admin answers: every value that may hold a credential becomes "****".

What counts (docs/operations.md#admin-api): a URL's userinfo and query values, the values of
headers whose name looks secret, event Meta values whose name looks like a key, request
bodies (a template may put the key in), and the same URL secrets inside error texts. An
answer shows them only for `?reveal=1` with `admin.allow_secrets`; the check is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tykevents.golang import url as gourl

MASK = "****"
# Header (and Meta) names that carry credentials: exact names, then substrings.
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})
_SECRET_PARTS = ("token", "secret", "key", "auth", "password", "passwd", "cookie", "signature")


def secret_name(name: str) -> bool:
    n = name.lower()
    return n in _SECRET_NAMES or any(p in n for p in _SECRET_PARTS)


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme and "//", userinfo, rest of the authority and path, "?query#fragment"), cut
    where the log redaction (golang/url.py) cuts them."""
    base, tail, _, start, at = gourl.secret_parts(url)
    if at < 0:
        return base[:start], "", base[start:], tail
    return base[:start], base[start:at], base[at + 1 :], tail


def redact_url(url: str) -> str:
    """userinfo -> "****@", each query value -> "****", a fragment -> "#****"."""
    head, userinfo, rest, tail = _split(url)
    out = head + (MASK + "@" if userinfo else "") + rest
    query, hash_, frag = tail.partition("#")
    if len(query) > 1:
        pairs = []
        for part in query[1:].split("&"):
            name, eq, value = part.partition("=")
            pairs.append(f"{name}={MASK}" if eq and value else part)
        out += "?" + "&".join(pairs)
    elif query:
        out += query
    return out + (hash_ + MASK if frag else hash_)


def scrub(text: str, url: str) -> str:
    """`text` without the secrets of `url` (error texts often quote the URL)."""
    if not text or not url:
        return text
    _, userinfo, _, tail = _split(url)
    if userinfo:
        text = text.replace(userinfo + "@", MASK + "@")
    query, _, frag = tail.partition("#")
    for part in query[1:].split("&") if len(query) > 1 else ():
        value = part.partition("=")[2]
        if value:
            text = text.replace(f"={value}", f"={MASK}")
    if frag:
        text = text.replace("#" + frag, "#" + MASK)
    return text


def redact_headers(headers: Any) -> Any:
    """Header values of secret-looking names, in the forms answers use: a mapping, or
    dead letters' [[name, [values...]], ...]."""
    if isinstance(headers, Mapping):
        return {k: _mask_value(v) if secret_name(str(k)) else v for k, v in headers.items()}
    if isinstance(headers, list):
        out = []
        for item in headers:
            if isinstance(item, (list, tuple)) and len(item) == 2 and secret_name(str(item[0])):
                out.append([item[0], _mask_value(item[1])])
            else:
                out.append(item)
        return out
    return headers


def redact_meta(meta: Any) -> Any:
    """Event Meta: the values of key-like fields (Key, Token, ...), at any depth."""
    if isinstance(meta, Mapping):
        return {k: _mask_value(v) if secret_name(str(k)) else redact_meta(v) for k, v in meta.items()}
    if isinstance(meta, list):
        return [redact_meta(v) for v in meta]
    return meta


def _mask_value(v: Any) -> Any:
    if isinstance(v, list):
        return [MASK for _ in v]
    return MASK if v not in (None, "") else v


def redact_record(rec: Mapping[str, Any], url: str = "") -> dict[str, Any]:
    """One answer object (a delivery, a dead letter, a handler) with its secrets masked, nested
    objects (attempts) too, their texts scrubbed of the URL's secrets. A new dict: the
    caller's is left as it is."""
    own = rec.get("url")
    url = own if isinstance(own, str) and own else url
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k in ("url", "target") and isinstance(v, str):
            v = _redact_target(v)
        elif k == "headers":
            v = redact_headers(v)
        elif k in ("meta", "Meta"):
            v = redact_meta(v)
        elif k == "body" and v:
            v = MASK
        else:
            v = _redact_value(v, url)
        out[k] = v
    return out


def _redact_value(v: Any, url: str) -> Any:
    if isinstance(v, str):
        return scrub(v, url)
    if isinstance(v, Mapping):
        return redact_record(v, url)
    if isinstance(v, list):
        return [_redact_value(x, url) for x in v]
    return v


def _redact_target(text: str) -> str:
    """A URL, or "METHOD URL" as handler targets read."""
    method, sep, rest = text.partition(" ")
    if sep and "://" in rest and "://" not in method:
        return f"{method} {redact_url(rest)}"
    return redact_url(text) if "://" in text or "@" in text or "?" in text else text
