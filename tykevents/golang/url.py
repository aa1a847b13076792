"""Go's net/url parsing, as far as a webhook request needs it.

Tyk hands `target_path` to `http.NewRequest`, so which URLs are accepted, the Host header and
the request line on the wire (and therefore the cooldown checksum, docs/webhooks.md) follow
Go's url.Parse and URL.RequestURI, not Python's urllib or yarl. Strings are handled as UTF-8
bytes, as Go does; results are str (undecodable bytes kept as surrogate escapes).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

# encoding modes of net/url
PATH, PATH_SEGMENT, HOST, ZONE, USER_PASSWORD, QUERY_COMPONENT, FRAGMENT = range(7)

_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class GoURLError(ValueError):
    """Go's *url.Error text, `parse "<url>": <reason>`, but with the URL redact()ed: the text
    is logged, and a webhook URL may carry a password or an API key in its query. The raw
    URL stays in `.url`."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"parse {_go_quote(redact(raw))}: {reason}")
        self.url = raw
        self.reason = reason


def secret_parts(url: str) -> tuple[str, str, str, int, int]:
    """(base, tail, password, userinfo start, `@` index or -1) of a URL string, Go or not:
    tail is the query and fragment, userinfo whatever precedes the last `@` of the authority
    (or of the text up to the first `/` when there is no `//`)."""
    cut = len(url)
    for ch in "?#":
        i = url.find(ch)
        if 0 <= i < cut:
            cut = i
    base, tail = url[:cut], url[cut:]
    start = base.find("//")
    start = start + 2 if start >= 0 else 0
    end = base.find("/", start)
    at = base.rfind("@", start, len(base) if end < 0 else end)
    pw = base[start:at].partition(":")[2] if at >= 0 else ""
    return base, tail, pw, start, at


def redact(url: str) -> str:
    """A URL fit for logs: the password becomes `***` (as Go's client errors print it), a
    query or fragment `?***` / `#***`. Works on strings Go would not parse too."""
    base, tail, _, start, at = secret_parts(url)
    if tail:
        query, hash_, frag = tail.partition("#")
        tail = ("?***" if len(query) > 1 else query) + (hash_ + "***" if frag else hash_)
    if at >= 0:
        user, colon, _ = base[start:at].partition(":")
        base = base[:start] + user + (":***" if colon else "") + base[at:]
    return base + tail


def scrub(text: str, url: str) -> str:
    """`text` with the password, query and fragment of `url` replaced as redact() does: for
    error texts of other libraries and records written before errors were redacted."""
    _, tail, pw, _, _ = secret_parts(url)
    query, hash_, frag = tail.partition("#")
    if len(query) > 1:
        text = text.replace(query, "?***")
    if frag:
        text = text.replace(hash_ + frag, "#***")
    if pw:
        text = text.replace(f":{pw}@", ":***@")
    return text


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _go_quote(s: str) -> str:
    """strconv.Quote, enough for error messages."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append("\\x%02x" % (ord(ch) & 0xFF))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def should_escape(c: int, mode: int) -> bool:
    if c in _ALNUM:
        return False
    if mode in (HOST, ZONE) and c in b"!$&'()*+,;=:[]<>\"":
        return False
    if c in b"-_.~":
        return False
    if c in b"$&+,/:;=?@":
        if mode == PATH:
            return c == ord("?")
        if mode == PATH_SEGMENT:
            return c in b"/;,?"
        if mode == USER_PASSWORD:
            return c in b"@/?:"
        if mode == QUERY_COMPONENT:
            return True
        if mode == FRAGMENT:
            return False
    if mode == FRAGMENT and c in b"!()*":
        return False
    return True


def unescape(s: bytes, mode: int) -> bytes:
    i, n = 0, len(s)
    out = bytearray()
    while i < n:
        c = s[i]
        if c == 0x25:  # %
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise ValueError(f"invalid URL escape {_go_quote(_s(s[i : i + 3]))}")
            v = int(s[i + 1 : i + 3], 16)
            if mode == HOST and int(s[i + 1 : i + 2], 16) < 8 and s[i : i + 3] != b"%25":
                raise ValueError(f"invalid URL escape {_go_quote(_s(s[i : i + 3]))}")
            if mode == ZONE and s[i : i + 3] != b"%25" and v != 0x20 and should_escape(v, HOST):
                raise ValueError(f"invalid URL escape {_go_quote(_s(s[i : i + 3]))}")
            out.append(v)
            i += 3
            continue
        if c == 0x2B and mode == QUERY_COMPONENT:
            out.append(0x20)
        else:
            if mode in (HOST, ZONE) and c < 0x80 and should_escape(c, mode):
                raise ValueError(f"invalid character {_go_quote(chr(c))} in host name")
            out.append(c)
        i += 1
    return bytes(out)


def escape(s: bytes, mode: int) -> bytes:
    out = bytearray()
    for c in s:
        if should_escape(c, mode):
            if c == 0x20 and mode == QUERY_COMPONENT:
                out.append(0x2B)
            else:
                out += b"%%%02X" % c
        else:
            out.append(c)
    return bytes(out)


def _valid_encoded(s: bytes, mode: int) -> bool:
    for c in s:
        if c in b"!$&'()*+,;=:@[]%":
            continue
        if should_escape(c, mode):
            return False
    return True


@dataclass
class GoURL:
    scheme: str = ""
    opaque: str = ""
    username: str | None = None  # None: no userinfo at all
    password: str | None = None
    host: str = ""  # unescaped, "host:port" or "[v6]:port"
    path: str = ""
    raw_path: str = ""
    force_query: bool = False
    raw_query: str = ""
    fragment: str = ""

    def escaped_path(self) -> str:
        if self.raw_path and _valid_encoded(_b(self.raw_path), PATH):
            try:
                if _s(unescape(_b(self.raw_path), PATH)) == self.path:
                    return self.raw_path
            except ValueError:
                pass
        if self.path == "*":
            return "*"
        return _s(escape(_b(self.path), PATH))

    def request_uri(self) -> str:
        result = self.opaque
        if not result:
            result = self.escaped_path() or "/"
        elif result.startswith("//"):
            result = self.scheme + ":" + result
        if self.force_query or self.raw_query:
            result += "?" + self.raw_query
        return result

    def hostname(self) -> str:
        host, _ = split_host_port(self.host)
        return host

    def port(self) -> str:
        _, port = split_host_port(self.host)
        return port

    def safe(self) -> str:
        """redact() of the URL (an opaque `u:pw@h` included): what logs show."""
        return redact(self.string())

    def string(self, userinfo: bool = True) -> str:
        parts = []
        if self.scheme:
            parts.append(self.scheme + ":")
        if self.opaque:
            parts.append(self.opaque)
        else:
            if self.scheme or self.host or self.username is not None:
                if self.host or self.path or self.username is not None:
                    parts.append("//")
                if userinfo and self.username is not None:
                    parts.append(_s(escape(_b(self.username), USER_PASSWORD)))
                    if self.password is not None:
                        pw = _s(escape(_b(self.password), USER_PASSWORD))
                        parts.append(":" + pw)
                    parts.append("@")
                if self.host:
                    parts.append(_s(escape(_b(self.host), HOST)))
            path = self.escaped_path()
            if path and path[0] != "/" and self.host:
                parts.append("/")
            parts.append(path)
        if self.force_query or self.raw_query:
            parts.append("?" + self.raw_query)
        if self.fragment:
            parts.append("#" + _s(escape(_b(self.fragment), FRAGMENT)))
        return "".join(parts)

    def basic_auth(self) -> str | None:
        """The Authorization value Go's client derives from user:pass@ (Client.send)."""
        if self.username is None:
            return None
        raw = _b(self.username) + b":" + _b(self.password or "")
        return "Basic " + base64.b64encode(raw).decode("ascii")


def split_host_port(hostport: str) -> tuple[str, str]:
    """URL.Hostname() / URL.Port(): brackets removed, port "" when absent."""
    host, port = hostport, ""
    colon = host.rfind(":")
    if colon != -1 and _valid_optional_port(host[colon:]):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    if port[0] != ":":
        return False
    return all("0" <= c <= "9" for c in port[1:])


def _get_scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if "a" <= c <= "z" or "A" <= c <= "Z":
            continue
        if "0" <= c <= "9" or c in "+-.":
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise ValueError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _valid_userinfo(s: str) -> bool:
    for c in s:
        if c in _ALNUM_STR or c in "-._:~!$&'()*+,;=%@":
            continue
        return False
    return True


_ALNUM_STR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _parse_host(host: str) -> str:
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0:
            raise ValueError("missing ']' in host")
        colon_port = host[i + 1 :]
        if not _valid_optional_port(colon_port):
            raise ValueError(f"invalid port {_go_quote(colon_port)} after host")
        zone = host[:i].find("%25")
        if zone >= 0:
            return (
                _s(unescape(_b(host[:zone]), HOST))
                + _s(unescape(_b(host[zone:i]), ZONE))
                + _s(unescape(_b(host[i:]), HOST))
            )
    else:
        i = host.rfind(":")
        if i != -1:
            colon_port = host[i:]
            if not _valid_optional_port(colon_port):
                raise ValueError(f"invalid port {_go_quote(colon_port)} after host")
    return _s(unescape(_b(host), HOST))


def _parse_authority(u: GoURL, authority: str) -> None:
    i = authority.rfind("@")
    u.host = _parse_host(authority[i + 1 :] if i >= 0 else authority)
    if i < 0:
        return
    userinfo = authority[:i]
    if not _valid_userinfo(userinfo):
        raise ValueError("net/url: invalid userinfo")
    if ":" not in userinfo:
        u.username = _s(unescape(_b(userinfo), USER_PASSWORD))
    else:
        name, _, pw = userinfo.partition(":")
        u.username = _s(unescape(_b(name), USER_PASSWORD))
        u.password = _s(unescape(_b(pw), USER_PASSWORD))


def _set_path(u: GoURL, p: str) -> None:
    path = unescape(_b(p), PATH)
    u.path = _s(path)
    u.raw_path = "" if _s(escape(path, PATH)) == p else p


def _parse(raw: str, via_request: bool) -> GoURL:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise ValueError("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise ValueError("empty url")
    u = GoURL()
    if raw == "*":
        u.path = "*"
        return u
    scheme, rest = _get_scheme(raw)
    u.scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        u.force_query = True
        rest = rest[:-1]
    else:
        rest, _, u.raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if u.scheme:
            u.opaque = rest
            return u
        if via_request:
            raise ValueError("invalid URI for request")
        if ":" in rest.partition("/")[0]:
            raise ValueError("first path segment in URL cannot contain colon")
    if (u.scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        i = authority.find("/")
        if i >= 0:
            authority, rest = authority[:i], authority[i:]
        _parse_authority(u, authority)
    _set_path(u, rest)
    return u


def parse(raw: str) -> GoURL:
    """url.Parse: the fragment is split off first."""
    u_part, sep, frag = raw.partition("#")
    try:
        u = _parse(u_part, False)
        if sep:
            u.fragment = _s(unescape(_b(frag), FRAGMENT))
    except ValueError as e:
        raise GoURLError(raw, str(e)) from None
    return u


def parse_request_uri(raw: str) -> GoURL:
    """url.ParseRequestURI (Tyk's checkURL): absolute URL or absolute path, no fragment."""
    try:
        return _parse(raw, True)
    except ValueError as e:
        raise GoURLError(raw, str(e)) from None


def new_request_url(raw: str) -> GoURL:
    """The URL http.NewRequest keeps: url.Parse, then an empty port (`host:`) removed."""
    u = parse(raw)
    colon, bracket = u.host.rfind(":"), u.host.rfind("]")
    if colon > bracket and u.host.endswith(":"):
        u.host = u.host[:-1]
    return u


def _resolve_path(base: str, ref: str) -> str:
    """net/url resolvePath: merge and remove dot segments (RFC 3986 5.2)."""
    if ref == "":
        full = base
    elif ref[0] != "/":
        full = base[: base.rfind("/") + 1] + ref
    else:
        full = ref
    if full == "":
        return ""
    dst = "/"
    first = True
    elem = ""
    parts = full.split("/")
    for elem in parts:
        if elem == ".":
            first = False
            continue
        if elem == "..":
            s = dst[1:]
            i = s.rfind("/")
            if i == -1:
                dst, first = "/", True
            else:
                dst = "/" + s[:i]
        else:
            if not first:
                dst += "/"
            dst += elem
            first = False
    if elem in (".", ".."):
        dst += "/"
    if len(dst) > 1 and dst[1] == "/":
        dst = dst[1:]
    return dst


def resolve(base: GoURL, ref_raw: str) -> GoURL:
    """base.Parse(ref): a Location header resolved against the request URL (redirects)."""
    ref = parse(ref_raw)
    u = GoURL(**ref.__dict__)
    if not ref.scheme:
        u.scheme = base.scheme
    if ref.scheme or ref.host or ref.username is not None:
        _set_path(u, _resolve_path(ref.escaped_path(), ""))
        return u
    if ref.opaque:
        u.username = u.password = None
        u.host = u.path = ""
        return u
    if ref.path == "" and not ref.force_query and ref.raw_query == "":
        u.raw_query = base.raw_query
        if ref.fragment == "":
            u.fragment = base.fragment
    u.host, u.username, u.password = base.host, base.username, base.password
    _set_path(u, _resolve_path(base.escaped_path(), ref.escaped_path()))
    return u
