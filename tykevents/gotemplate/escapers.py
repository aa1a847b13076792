"""html/template's escaping functions (html.go, js.go, css.go, url.go), which the
escaper appends to action pipelines according to each action's context.

Template data never carries Go's typed content (template.HTML and friends), so every
value is plain text here, except the trusted JSON that jsonfuncs' functions return, which
the HTML text-context escaper writes as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from . import gofmt
from . import govalues as V
from .builtins import ANY, Func

FAILSAFE = "ZgotmplZ"


def stringify(args: tuple) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return gofmt.sprint(*[a for a in args if a is not None])


# -- HTML -------------------------------------------------------------------------

_HTML = {
    0: "\ufffd",
    ord('"'): "&#34;",
    ord("&"): "&amp;",
    ord("'"): "&#39;",
    ord("+"): "&#43;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
}
_NOSPACE = {
    0: "&#xfffd;",
    9: "&#9;",
    10: "&#10;",
    11: "&#11;",
    12: "&#12;",
    13: "&#13;",
    32: "&#32;",
    ord('"'): "&#34;",
    ord("&"): "&amp;",
    ord("'"): "&#39;",
    ord("+"): "&#43;",
    ord("<"): "&lt;",
    ord("="): "&#61;",
    ord(">"): "&gt;",
    ord("`"): "&#96;",
}


_HTML_SPECIAL_RE = re.compile("[\x00\"&'+<>]")


def html_escaper(*args: Any) -> str:
    """_html_template_htmlescaper (also attrescaper and rcdataescaper for plain text)."""
    return html_escape_str(args[0] if len(args) == 1 and type(args[0]) is str else stringify(args))


def html_text_escaper(*args: Any) -> str:
    """_html_template_htmlescaper: as html_escaper, but trusted HTML content (Go's
    template.HTML, here jsonfuncs.TrustedHTML) is written as it is."""
    if len(args) == 1 and type(args[0]).__name__ == "TrustedHTML":
        return str(args[0])
    return html_escaper(*args)


def html_escape_str(s: str, _search: Callable[[str], object] = _HTML_SPECIAL_RE.search) -> str:
    if _search(s) is None:
        return s
    if "&" in s:
        s = s.replace("&", "&amp;")
    return (
        s.replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        .replace("+", "&#43;")
        .replace("\x00", "\ufffd")
    )


def nospace_escaper(*args: Any) -> str:
    s = stringify(args)
    if s == "":
        return FAILSAFE
    out = []
    for ch in s:
        o = ord(ch)
        rep = _NOSPACE.get(o)
        if rep is not None:
            out.append(rep)
        elif 0xFDD0 <= o <= 0xFDEF or 0xFFF0 <= o <= 0xFFFF:
            out.append("&#x%x;" % o)
        elif 0xDC80 <= o <= 0xDCFF:  # an invalid byte decodes as U+FFFD
            out.append("&#xfffd;")
        else:
            out.append(ch)
    return "".join(out)


_URL_ATTRS = frozenset(
    "action archive background cite classid codebase data formaction href icon longdesc "
    "manifest poster profile src usemap xmlns".split()
)
_PLAIN_ATTRS = frozenset(
    "accept alt autocomplete autofocus autoplay border checked class cols colspan "
    "contenteditable contextmenu controls coords datetime default dir dirname disabled "
    "draggable dropzone for formtarget headers height hidden high hreflang id ismap kind "
    "label lang list loop low max maxlength media mediagroup min multiple name open optimum "
    "placeholder preload pubdate radiogroup readonly required reversed rows rowspan "
    "spellcheck scope scoped seamless selected shape size sizes span srclang start step "
    "tabindex target title width wrap".split()
)
_OTHER_ATTRS = {"srcdoc": "html", "srcset": "srcset", "style": "css"}

PLAIN, URL, CSS, JS, SRCSET, OTHER = "plain", "url", "css", "js", "srcset", "other"


def attr_type(name: str) -> str:
    """attr.go attrType: the content type of an attribute's value, by its name."""
    if name.startswith("data-"):
        name = name[5:]
    elif ":" in name:
        prefix, short = name.split(":", 1)
        if prefix == "xmlns":
            return URL
        name = short
    if name in _PLAIN_ATTRS:
        return PLAIN
    if name in _URL_ATTRS:
        return URL
    if name in _OTHER_ATTRS:
        t = _OTHER_ATTRS[name]
        return CSS if t == "css" else SRCSET if t == "srcset" else OTHER
    if name in _UNSAFE_ATTRS:
        return OTHER
    if name.startswith("on"):
        return JS
    if "src" in name or "uri" in name or "url" in name:
        return URL
    return PLAIN


_UNSAFE_ATTRS = frozenset(
    "accept-charset async challenge charset content crossorigin defer enctype form "
    "formenctype formmethod formnovalidate http-equiv keytype language method novalidate "
    "pattern rel sandbox type value".split()
)


def html_name_filter(*args: Any) -> str:
    s = stringify(args)
    if not s:
        return FAILSAFE
    s = s.lower()
    if attr_type(s) != PLAIN:
        return FAILSAFE
    for ch in s:
        if not ("0" <= ch <= "9" or "a" <= ch <= "z"):
            return FAILSAFE
    return s


def comment_escaper(*args: Any) -> str:
    return ""


# -- URLs -----------------------------------------------------------------------------


def is_safe_url(s: str) -> bool:
    if ":" in s:
        protocol = s.split(":", 1)[0]
        if "/" not in protocol and protocol.lower() not in ("http", "https", "mailto"):
            return False
    return True


def url_filter(*args: Any) -> str:
    s = stringify(args)
    if not is_safe_url(s):
        return "#" + FAILSAFE
    return s


_HEX = frozenset(b"0123456789abcdefABCDEF")
_URL_RESERVED = frozenset(b"!#$&*+,/:;=?@[]")
_URL_UNRESERVED = frozenset(b"-._~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def process_url(s: str, norm: bool) -> str:
    b = V.to_bytes(s)
    out = []
    n = len(b)
    for i, c in enumerate(b):
        if (
            c in _URL_UNRESERVED
            or (norm and c in _URL_RESERVED)
            or (c == 0x25 and norm and i + 2 < n and b[i + 1] in _HEX and b[i + 2] in _HEX)
        ):
            out.append(chr(c))
        else:
            out.append("%%%02x" % c)
    return "".join(out)


def url_escaper(*args: Any) -> str:
    return process_url(stringify(args), False)


def url_normalizer(*args: Any) -> str:
    return process_url(stringify(args), True)


def _is_html_space(c: str) -> bool:
    return c in "\t\n\x0c\r "


def srcset_escaper(*args: Any) -> str:
    s = stringify(args)
    out = []
    written = 0
    for i, ch in enumerate(s):
        if ch == ",":
            out.append(_filter_srcset_element(s, written, i))
            out.append(",")
            written = i + 1
    out.append(_filter_srcset_element(s, written, len(s)))
    return "".join(out)


def _filter_srcset_element(s: str, left: int, right: int) -> str:
    start = left
    while start < right and _is_html_space(s[start]):
        start += 1
    end = right
    for i in range(start, right):
        if _is_html_space(s[i]):
            end = i
            break
    url = s[start:end]
    if is_safe_url(url):
        if all(_is_html_space(c) or (c.isascii() and c.isalnum()) for c in s[end:right]):
            return s[left:start] + process_url(url, True) + s[end:right]
    return "#" + FAILSAFE


# -- CSS --------------------------------------------------------------------------------

_CSS = {
    0: "\\0",
    9: "\\9",
    10: "\\a",
    12: "\\c",
    13: "\\d",
    ord('"'): "\\22",
    ord("&"): "\\26",
    ord("'"): "\\27",
    ord("("): "\\28",
    ord(")"): "\\29",
    ord("+"): "\\2b",
    ord("/"): "\\2f",
    ord(":"): "\\3a",
    ord(";"): "\\3b",
    ord("<"): "\\3c",
    ord(">"): "\\3e",
    ord("\\"): "\\\\",
    ord("{"): "\\7b",
    ord("}"): "\\7d",
}


def css_escaper(*args: Any) -> str:
    s = stringify(args)
    out = []
    n = len(s)
    for i, ch in enumerate(s):
        rep = _CSS.get(ord(ch))
        if rep is None:
            out.append(ch)
            continue
        out.append(rep)
        if rep != "\\\\" and (i + 1 == n or s[i + 1] in "0123456789abcdefABCDEF\t\n\x0c\r "):
            out.append(" ")
    return "".join(out)


def is_css_nmchar(c: str) -> bool:
    o = ord(c)
    return (
        "a" <= c <= "z"
        or "A" <= c <= "Z"
        or "0" <= c <= "9"
        or c in "-_"
        or 0x80 <= o <= 0xD7FF
        or 0xE000 <= o <= 0xFFFD
        or 0x10000 <= o <= 0x10FFFF
    )


def decode_css(s: str) -> str:
    if "\\" not in s:
        return s
    out = []
    i, n = 0, len(s)
    while i < n:
        j = s.find("\\", i)
        if j < 0:
            out.append(s[i:])
            break
        out.append(s[i:j])
        i = j
        if n - i < 2:
            break
        if s[i + 1] in "0123456789abcdefABCDEF":
            k = i + 2
            while k < n and k < i + 7 and s[k] in "0123456789abcdefABCDEF":
                k += 1
            r = int(s[i + 1 : k], 16)
            if r > 0x10FFFF:
                r, k = r // 16, k - 1
            out.append(chr(0xFFFD) if 0xD800 <= r <= 0xDFFF else chr(r))
            i = k
            if i < n and s[i] in "\t\n\x0c ":
                i += 1
            elif i < n and s[i] == "\r":
                i += 2 if i + 1 < n and s[i + 1] == "\n" else 1
        else:
            out.append(s[i + 1])
            i += 2
    return "".join(out)


def css_value_filter(*args: Any) -> str:
    s = stringify(args)
    b = decode_css(s)
    ident = []
    for i, c in enumerate(b):
        if c in "\x00\"'()/;@[\\]`{}<>":
            return FAILSAFE
        if c == "-":
            if i != 0 and b[i - 1] == "-":
                return FAILSAFE
        elif c.isascii() and is_css_nmchar(c):
            ident.append(c)
    idl = "".join(ident).lower()
    if "expression" in idl or "mozbinding" in idl:
        return FAILSAFE
    return b


# -- JavaScript ---------------------------------------------------------------------------

_LOW = {i: "\\u%04x" % i for i in range(0x20)}
_LOW.update({9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"})
_JS_STR = dict(_LOW)
_JS_STR.update(
    {
        ord('"'): "\\u0022",
        ord("`"): "\\u0060",
        ord("&"): "\\u0026",
        ord("'"): "\\u0027",
        ord("+"): "\\u002b",
        ord("/"): "\\/",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("\\"): "\\\\",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)
_JS_BQ = dict(_JS_STR)
_JS_BQ.update({ord("$"): "\\u0024", ord("{"): "\\u007b", ord("}"): "\\u007d"})
_JS_RE = dict(_LOW)
_JS_RE.update(
    {
        ord(k): v
        for k, v in {
            '"': "\\u0022",
            "$": "\\$",
            "&": "\\u0026",
            "'": "\\u0027",
            "(": "\\(",
            ")": "\\)",
            "*": "\\*",
            "+": "\\u002b",
            "-": "\\-",
            ".": "\\.",
            "/": "\\/",
            "<": "\\u003c",
            ">": "\\u003e",
            "?": "\\?",
            "[": "\\[",
            "\\": "\\\\",
            "]": "\\]",
            "^": "\\^",
            "{": "\\{",
            "|": "\\|",
            "}": "\\}",
        }.items()
    }
)
_JS_RE.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def js_str_escaper(*args: Any) -> str:
    return stringify(args).translate(_JS_STR)


def js_tmpl_lit_escaper(*args: Any) -> str:
    return stringify(args).translate(_JS_BQ)


def js_regexp_escaper(*args: Any) -> str:
    s = stringify(args).translate(_JS_RE)
    return s or "(?:)"


def _js_ident_part(c: str) -> bool:
    return c == "$" or c == "_" or ("0" <= c <= "9") or ("A" <= c <= "Z") or ("a" <= c <= "z")


class _JSONError(Exception):
    pass


def _json_float(f: float) -> str:
    # encoding/json: shortest 'f' form, or 'e' form outside [1e-6, 1e21), "e-07" -> "e-7".
    if math.isnan(f) or math.isinf(f):
        raise _JSONError("json: unsupported value: %s" % gofmt.format_value(f))
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = gofmt.format_float(f, "e", -1)
        if len(s) >= 4 and s[-4] == "e" and s[-3] == "-" and s[-2] == "0":
            s = s[:-2] + s[-1]
        return s
    return gofmt.format_float(f, "f", -1)


_JSON_STR = {i: "\\u%04x" % i for i in range(0x20)}
_JSON_STR.update(
    {
        8: "\\b",
        9: "\\t",
        10: "\\n",
        12: "\\f",
        13: "\\r",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)
_JSON_STR.update(dict.fromkeys(range(56448, 56576), "\\ufffd"))


def json_marshal(v: Any) -> str:
    """encoding/json.Marshal for the template value model."""
    if v is None or v is V.MISSING:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return '"' + v.translate(_JSON_STR) + '"'
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, dict):
        return "{" + ",".join(json_marshal(str(k)) + ":" + json_marshal(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(json_marshal(x) for x in v) + "]"
    marshal = getattr(v, "go_marshal_json", None)
    if marshal is not None:
        return marshal()
    fields = getattr(v, "fields", None)
    if isinstance(fields, dict):
        return "{" + ",".join(json_marshal(k) + ":" + json_marshal(x) for k, x in fields.items()) + "}"
    return json_marshal(gofmt.format_value(v))


def js_val_escaper(*args: Any) -> str:
    if len(args) == 1:
        a = args[0]
        if getattr(a, "go_marshal_json", None) is None:
            methods = getattr(type(a), "_go_methods", None) or {}
            if "String" in methods:
                a = getattr(a, methods["String"])()
    else:
        a = gofmt.sprint(*args)
    try:
        b = json_marshal(a)
    except _JSONError as e:
        err = str(e).replace("*/", "* /").replace("<!--", "\\x3C!--")
        return " /* %s */null " % err
    if not b:
        return " null "
    if _js_ident_part(b[0]) or _js_ident_part(b[-1]):
        return " " + b + " "
    return b


def eval_args(*args: Any) -> str:
    """html/template's _eval_args_ (nil prints as <nil>, unlike text/template's)."""
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return gofmt.sprint(*args)


_TABLE = {
    "_html_template_attrescaper": html_escaper,
    "_html_template_commentescaper": comment_escaper,
    "_html_template_cssescaper": css_escaper,
    "_html_template_cssvaluefilter": css_value_filter,
    "_html_template_htmlnamefilter": html_name_filter,
    "_html_template_htmlescaper": html_text_escaper,
    "_html_template_jsregexpescaper": js_regexp_escaper,
    "_html_template_jsstrescaper": js_str_escaper,
    "_html_template_jstmpllitescaper": js_tmpl_lit_escaper,
    "_html_template_jsvalescaper": js_val_escaper,
    "_html_template_nospaceescaper": nospace_escaper,
    "_html_template_rcdataescaper": html_escaper,
    "_html_template_srcsetescaper": srcset_escaper,
    "_html_template_urlescaper": url_escaper,
    "_html_template_urlfilter": url_filter,
    "_html_template_urlnormalizer": url_normalizer,
    "_eval_args_": eval_args,
}


def escaper_funcs() -> dict[str, Func]:
    return {name: Func(name, fn, (ANY,), True, True) for name, fn in _TABLE.items()}
