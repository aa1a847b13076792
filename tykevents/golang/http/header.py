"""net/http's header rules, as Go's client applies them.

A Header is Go's http.Header: name -> values, names canonicalised by textproto (or kept
verbatim by a caller that sets them raw). On the wire (Request.write, then the Transport):
request line, Host, User-Agent, `Connection: close` (req.Close), Content-Length (a non-empty
body, or always for POST/PUT/PATCH), the other headers sorted by name with values trimmed,
then `Accept-Encoding: gzip` unless the request asks for an encoding or a range, or is a
HEAD. Redirects follow Client.do: at most 10, 301/302/303 become a body-less GET (but
HEAD), 307/308 keep method and body, credentials are dropped once a redirect leaves the
first host's domain, and Referer is added.
"""

from __future__ import annotations

from tykevents.golang import url as gourl

Header = dict[str, list[str]]

GO_USER_AGENT = "Go-http-client/1.1"
# Content-Length: 0 is written for these even when the body is empty.
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
# Written by Request.write itself, never from the header map (reqWriteExcludeHeader).
WRITE_EXCLUDED = frozenset(("Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"))
# Dropped from a redirected request to another domain (shouldCopyHeaderOnRedirect).
SENSITIVE_ON_REDIRECT = frozenset(
    ("Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate")
)
REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10  # Client.do's default CheckRedirect: the 11th request is refused
STOPPED_AFTER_REDIRECTS = "stopped after 10 redirects"

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HOST_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&()*+,-.:;=['~]_")


def canonical_header_key(s: str) -> str:
    """textproto.CanonicalMIMEHeaderKey: `x-tyk-test` -> `X-Tyk-Test`, `x_under` -> `X_under`.

    A name with a byte that is not a token character (a space, a non-ASCII letter) is
    returned unchanged, as Go does.
    """
    raw = s.encode("utf-8", "surrogateescape")
    if not raw or any(c not in _TOKEN for c in raw):
        return s
    out = bytearray(raw)
    upper = True
    for i, c in enumerate(out):
        if upper and 0x61 <= c <= 0x7A:
            c -= 0x20
        elif not upper and 0x41 <= c <= 0x5A:
            c += 0x20
        out[i] = c
        upper = c == 0x2D
    return out.decode("ascii")


def header_get(h: Header, key: str) -> str:
    """http.Header.Get: the first value under the canonical key, or ""."""
    values = h.get(canonical_header_key(key))
    return values[0] if values else ""


def has_token(v: str, token: str) -> bool:
    """hasToken: `token` is one of the comma-separated words of `v`, case-insensitively."""
    return token in (t.strip(" \t").lower() for t in v.split(","))


def valid_method(method: str) -> bool:
    """validMethod: a non-empty token."""
    raw = method.encode("utf-8", "surrogateescape")
    return bool(raw) and all(c in _TOKEN for c in raw)


def valid_header_name(name: str) -> bool:
    return valid_method(name)  # httpguts.ValidHeaderFieldName: the same token rule


def valid_header_value(value: str) -> bool:
    """httpguts.ValidHeaderFieldValue: no control bytes but tab (obs-text is allowed)."""
    return not any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value)


def trim_value(v: str) -> str:
    """A value as Header.write prints it: newlines as spaces, then textproto.TrimString."""
    return v.replace("\n", " ").replace("\r", " ").strip(" \t\r\n")


def _wire_sort_key(k: str) -> bytes:
    return k.encode("utf-8", "surrogateescape")


def host_header(u: gourl.GoURL) -> str:
    """The Host line: u.Host, punycoded, emptied when Go finds it invalid, zone removed.

    Raises ValueError when the host cannot be punycoded (Request.write fails on it)."""
    host = u.host
    if not host.isascii():
        name, port = host, ""
        colon, bracket = host.rfind(":"), host.rfind("]")
        if colon > bracket:
            name, port = host[:colon], host[colon + 1 :]
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"idna: invalid label {host!r}: {e}") from None
        host = f"{name}:{port}" if port else name
    if not all(ord(c) in _HOST_BYTES for c in host):
        host = ""  # Go 1.22+: an invalid Host is sent empty rather than truncated
    if host.startswith("["):
        i = host.rfind("]")
        j = host.rfind("%", 0, i) if i >= 0 else -1
        if j >= 0:
            host = host[:j] + host[i:]
    return host


def url_error_op(method: str) -> str:
    """urlErrorOp: `Post`, `Get`: the Op of Client.Do's *url.Error."""
    return method[:1] + method[1:].lower()


def wire_parts(
    host: str, method: str, h: Header, close: bool
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], bool]:
    """Header lines before and after Content-Length, in Go's order, and whether the
    Transport asked for gzip (then it also inflates the reply).

    `h` is the header map as sent (Authorization from the URL's userinfo included)."""
    head = [("Host", host)]
    if "User-Agent" in h:
        ua = header_get(h, "User-Agent")
        if ua != "":
            head.append(("User-Agent", trim_value(ua)))
    else:
        head.append(("User-Agent", GO_USER_AGENT))
    if close and not has_token(header_get(h, "Connection"), "close"):
        head.append(("Connection", "close"))
    tail = [
        (k, trim_value(v)) for k in sorted(h, key=_wire_sort_key) if k not in WRITE_EXCLUDED for v in h[k]
    ]
    gz = method != "HEAD" and header_get(h, "Accept-Encoding") == "" and header_get(h, "Range") == ""
    if gz:
        tail.append(("Accept-Encoding", "gzip"))
    return tuple(head), tuple(tail), gz


def check_header(h: Header) -> str | None:
    """The Transport's refusal of an invalid header field, or None."""
    for name, values in h.items():
        if not valid_header_name(name):
            return f"net/http: invalid header field name {gourl._go_quote(name)}"
        if not all(valid_header_value(v) for v in values):
            return f"net/http: invalid header field value for {gourl._go_quote(name)}"
    return None


def redirect_method(status: int, method: str) -> tuple[str, bool]:
    """redirectBehavior: the next request's method, and whether it keeps the body."""
    if status in (307, 308):
        return method, True
    return (method if method in ("GET", "HEAD") else "GET"), False


def referer(prev: gourl.GoURL, dest: gourl.GoURL) -> str:
    """refererForURL: the previous URL without userinfo; none from https to http."""
    if prev.scheme == "https" and dest.scheme == "http":
        return ""
    return prev.string(userinfo=False)


def redirect_header(
    original: Header, initial: gourl.GoURL, dest: gourl.GoURL, referer: str, strip: bool
) -> tuple[Header, bool]:
    """Headers of a redirected request (net/http Client.do): the first request's headers,
    without credentials once a redirect has left the first host's domain (sticky), plus
    Referer. Returns the headers and the new sticky flag."""
    if not strip and initial.host != dest.host:
        i, d = initial.hostname().lower(), dest.hostname().lower()
        strip = not (d == i or d.endswith("." + i))
    h = {
        k: v for k, v in original.items() if not (strip and canonical_header_key(k) in SENSITIVE_ON_REDIRECT)
    }
    ref = header_get(h, "Referer") or referer
    if ref:
        h[canonical_header_key("Referer")] = [ref]
    return h, strip
