"""The HTML/JS/CSS state machine of html/template (transition.go semantics): each
function consumes a prefix of template text in one context and returns the next
context. It runs on str; every byte it reacts to is ASCII, so character offsets
stand in for Go's byte offsets."""

from __future__ import annotations

import html as _html
import re

from .context import (
    A_META_CONTENT,
    A_NONE,
    A_SCRIPT,
    A_SCRIPT_TYPE,
    A_SRCSET,
    A_STYLE,
    A_URL,
    D_DOUBLE,
    D_NONE,
    D_SINGLE,
    D_SPACE,
    E_META,
    E_NONE,
    E_SCRIPT,
    E_STYLE,
    E_TEXTAREA,
    E_TITLE,
    J_DIV_OP,
    J_REGEXP,
    S_AFTER_NAME,
    S_ATTR,
    S_ATTR_NAME,
    S_BEFORE_VALUE,
    S_CSS,
    S_CSS_BLOCK_CMT,
    S_CSS_DQ_STR,
    S_CSS_DQ_URL,
    S_CSS_LINE_CMT,
    S_CSS_SQ_STR,
    S_CSS_SQ_URL,
    S_CSS_URL,
    S_ERROR,
    S_HTML_CMT,
    S_JS,
    S_JS_BLOCK_CMT,
    S_JS_DQ_STR,
    S_JS_HTML_CLOSE_CMT,
    S_JS_HTML_OPEN_CMT,
    S_JS_LINE_CMT,
    S_JS_REGEXP,
    S_JS_SQ_STR,
    S_JS_TMPL_LIT,
    S_META_CONTENT,
    S_META_CONTENT_URL,
    S_RCDATA,
    S_SRCSET,
    S_TAG,
    S_TEXT,
    S_URL,
    U_NONE,
    U_PRE_QUERY,
    U_QUERY_OR_FRAG,
    Ctx,
    EscErr,
    error_ctx,
    goq,
    is_comment,
    is_in_script_literal,
)
from .escapers import CSS, JS, SRCSET, URL, attr_type, decode_css, is_css_nmchar

# -- transitions ------------------------------------------------------------------


def t_text(c: Ctx, s: str) -> tuple[Ctx, int]:
    k = 0
    n = len(s)
    while True:
        i = s.find("<", k)
        if i < 0 or i + 1 == n:
            return c, n
        if s.startswith("<!--", i):
            return Ctx(state=S_HTML_CMT), i + 4
        i += 1
        end = False
        if s[i] == "/":
            if i + 1 == n:
                return c, n
            end, i = True, i + 1
        j, e = eat_tag_name(s, i)
        if j != i:
            if end:
                e = E_NONE
            return Ctx(state=S_TAG, element=e), j
        k = j


_ELEMENT_CONTENT = {
    E_NONE: S_TEXT,
    E_SCRIPT: S_JS,
    E_STYLE: S_CSS,
    E_TEXTAREA: S_RCDATA,
    E_TITLE: S_RCDATA,
    E_META: S_TEXT,
}


def t_tag(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    if s[i] == ">":
        if c.element == E_META:
            return Ctx(state=S_TEXT), i + 1
        return Ctx(state=_ELEMENT_CONTENT[c.element], element=c.element), i + 1
    j, err = eat_attr_name(s, i)
    if err is not None:
        return Ctx(state=S_ERROR, err=err), len(s)
    state, attr = S_TAG, A_NONE
    if i == j:
        return error_ctx(None, 0, "expected space, attr name, or end of tag, but got %s" % goq(s[i:])), len(s)
    name = s[i:j].lower()
    if c.element == E_SCRIPT and name == "type":
        attr = A_SCRIPT_TYPE
    elif c.element == E_META and name == "content":
        attr = A_META_CONTENT
    else:
        t = attr_type(name)
        attr = {URL: A_URL, CSS: A_STYLE, JS: A_SCRIPT, SRCSET: A_SRCSET}.get(t, A_NONE)
    state = S_ATTR_NAME if j == len(s) else S_AFTER_NAME
    return Ctx(state=state, element=c.element, attr=attr), j


def t_attr_name(c: Ctx, s: str) -> tuple[Ctx, int]:
    i, err = eat_attr_name(s, 0)
    if err is not None:
        return Ctx(state=S_ERROR, err=err), len(s)
    if i != len(s):
        c = c.copy(state=S_AFTER_NAME)
    return c, i


def t_after_name(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    if s[i] != "=":
        return c.copy(state=S_TAG), i
    return c.copy(state=S_BEFORE_VALUE), i + 1


ATTR_START = {
    A_NONE: S_ATTR,
    A_SCRIPT: S_JS,
    A_SCRIPT_TYPE: S_ATTR,
    A_STYLE: S_CSS,
    A_URL: S_URL,
    A_SRCSET: S_SRCSET,
    A_META_CONTENT: S_META_CONTENT,
}


def t_before_value(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = eat_white_space(s, 0)
    if i == len(s):
        return c, len(s)
    delim = D_SPACE
    if s[i] == "'":
        delim, i = D_SINGLE, i + 1
    elif s[i] == '"':
        delim, i = D_DOUBLE, i + 1
    return c.copy(state=ATTR_START[c.attr], delim=delim), i


def t_html_cmt(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = s.find("-->")
    if i != -1:
        return Ctx(), i + 3
    return c, len(s)


_SPECIAL_END = {E_SCRIPT: "script", E_STYLE: "style", E_TEXTAREA: "textarea", E_TITLE: "title", E_META: ""}


def t_special_tag_end(c: Ctx, s: str) -> tuple[Ctx, int]:
    if c.element != E_NONE:
        if c.element == E_SCRIPT and (is_in_script_literal(c.state) or is_comment(c.state)):
            return c, len(s)
        i = index_tag_end(s, _SPECIAL_END[c.element])
        if i != -1:
            return Ctx(), i
    return c, len(s)


def index_tag_end(s: str, tag: str) -> int:
    res = 0
    tl = len(tag)
    while s:
        i = s.find("</")
        if i == -1:
            return -1
        s = s[i + 2 :]
        if tl <= len(s) and s[:tl].lower() == tag:
            s = s[tl:]
            if s and s[0] in "> \t\n\x0c/":
                return res + i
            res += tl
        res += i + 2
    return -1


def t_attr(c: Ctx, s: str) -> tuple[Ctx, int]:
    return c, len(s)


def t_url(c: Ctx, s: str) -> tuple[Ctx, int]:
    if "#" in s or "?" in s:
        c = c.copy(url_part=U_QUERY_OR_FRAG)
    elif len(s) != eat_white_space(s, 0) and c.url_part == U_NONE:
        c = c.copy(url_part=U_PRE_QUERY)
    return c, len(s)


def t_js(c: Ctx, s: str) -> tuple[Ctx, int]:
    m = _JS_SPECIAL.search(s)
    if m is None:
        return c.copy(js_ctx=next_js_ctx(s, c.js_ctx)), len(s)
    i = m.start()
    c = c.copy(js_ctx=next_js_ctx(s[:i], c.js_ctx))
    ch = s[i]
    n = len(s)
    if ch == '"':
        c.state, c.js_ctx = S_JS_DQ_STR, J_REGEXP
    elif ch == "'":
        c.state, c.js_ctx = S_JS_SQ_STR, J_REGEXP
    elif ch == "`":
        c.state, c.js_ctx = S_JS_TMPL_LIT, J_REGEXP
    elif ch == "/":
        if i + 1 < n and s[i + 1] == "/":
            c.state, i = S_JS_LINE_CMT, i + 1
        elif i + 1 < n and s[i + 1] == "*":
            c.state, i = S_JS_BLOCK_CMT, i + 1
        elif c.js_ctx == J_REGEXP:
            c.state = S_JS_REGEXP
        elif c.js_ctx == J_DIV_OP:
            c.js_ctx = J_REGEXP
        else:
            return error_ctx(None, 0, "'/' could start a division or regexp: %s" % goq(s[i:], 32)), len(s)
    elif ch == "<":
        if i + 3 < n and s.startswith("<!--", i):
            c.state, i = S_JS_HTML_OPEN_CMT, i + 3
    elif ch == "-":
        if i + 2 < n and s.startswith("-->", i):
            c.state, i = S_JS_HTML_CLOSE_CMT, i + 2
    elif ch == "#":
        if i + 1 < n and s[i + 1] == "!":
            c.state, i = S_JS_LINE_CMT, i + 1
    elif ch == "{":
        if not c.js_brace:
            return c, i + 1
        c.js_brace[-1] += 1
    elif ch == "}":
        if not c.js_brace:
            return c, i + 1
        c.js_brace[-1] -= 1
        if c.js_brace[-1] >= 0:
            return c, i + 1
        c.js_brace = c.js_brace[:-1]
        c.state = S_JS_TMPL_LIT
    return c, i + 1


_JS_SPECIAL = re.compile(r"[\"`'/{}<\-#]")


def t_js_tmpl(c: Ctx, s: str) -> tuple[Ctx, int]:
    k = 0
    n = len(s)
    while True:
        m = _TMPL_SPECIAL.search(s, k)
        if m is None:
            break
        i = m.start()
        ch = s[i]
        if ch == "\\":
            i += 1
            if i == n:
                return error_ctx(None, 0, "unfinished escape sequence in JS string: %s" % goq(s)), n
        elif ch == "$":
            if n >= i + 2 and s[i + 1] == "{":
                c = c.copy(state=S_JS)
                c.js_brace = (c.js_brace or []) + [0]
                return c, i + 2
        else:  # backquote
            return c.copy(state=S_JS), i + 1
        k = i + 1
    return c, n


_TMPL_SPECIAL = re.compile(r"[`\\$]")


def t_js_delimited(c: Ctx, s: str) -> tuple[Ctx, int]:
    specials = '\\"'
    if c.state == S_JS_SQ_STR:
        specials = "\\'"
    elif c.state == S_JS_REGEXP:
        specials = "\\/[]"
    k, in_charset = 0, False
    n = len(s)
    while True:
        i = _index_any(s, specials, k)
        if i < 0:
            break
        ch = s[i]
        if ch == "\\":
            i += 1
            if i == n:
                return error_ctx(None, 0, "unfinished escape sequence in JS string: %s" % goq(s)), n
        elif ch == "[":
            in_charset = True
        elif ch == "]":
            in_charset = False
        elif ch == "/":
            if i > 0 and i + 7 <= n and s[i - 1 : i + 7].lower() == "</script":
                i += 1
            elif not in_charset:
                return c.copy(state=S_JS, js_ctx=J_DIV_OP), i + 1
        else:
            if not in_charset:
                return c.copy(state=S_JS, js_ctx=J_DIV_OP), i + 1
        k = i + 1
    if in_charset:
        return error_ctx(None, 0, "unfinished JS regexp charset: %s" % goq(s)), n
    return c, n


def _index_any(s: str, chars: str, start: int) -> int:
    best = -1
    for ch in chars:
        i = s.find(ch, start)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


def t_block_cmt(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = s.find("*/")
    if i == -1:
        return c, len(s)
    return c.copy(state=S_JS if c.state == S_JS_BLOCK_CMT else S_CSS), i + 2


def t_line_cmt(c: Ctx, s: str) -> tuple[Ctx, int]:
    if c.state == S_CSS_LINE_CMT:
        terms, end_state = "\n\x0c\r", S_CSS
    else:
        terms, end_state = "\n\r\u2028\u2029", S_JS
    i = _index_any(s, terms, 0)
    if i == -1:
        return c, len(s)
    return c.copy(state=end_state), i


def t_css(c: Ctx, s: str) -> tuple[Ctx, int]:
    k = 0
    n = len(s)
    while True:
        i = _index_any(s, "(\"'/", k)
        if i < 0:
            return c, n
        ch = s[i]
        if ch == "(":
            p = s[:i].rstrip("\t\n\x0c\r ")
            if ends_with_css_keyword(p, "url"):
                rest = s[i + 1 :].lstrip("\t\n\x0c\r ")
                j = n - len(rest)
                if j != n and s[j] == '"':
                    return c.copy(state=S_CSS_DQ_URL), j + 1
                if j != n and s[j] == "'":
                    return c.copy(state=S_CSS_SQ_URL), j + 1
                return c.copy(state=S_CSS_URL), j
        elif ch == "/":
            if i + 1 < n:
                if s[i + 1] == "/":
                    return c.copy(state=S_CSS_LINE_CMT), i + 2
                if s[i + 1] == "*":
                    return c.copy(state=S_CSS_BLOCK_CMT), i + 2
        elif ch == '"':
            return c.copy(state=S_CSS_DQ_STR), i + 1
        elif ch == "'":
            return c.copy(state=S_CSS_SQ_STR), i + 1
        k = i + 1


def t_css_str(c: Ctx, s: str) -> tuple[Ctx, int]:
    if c.state in (S_CSS_DQ_STR, S_CSS_DQ_URL):
        end_esc = '\\"'
    elif c.state in (S_CSS_SQ_STR, S_CSS_SQ_URL):
        end_esc = "\\'"
    else:
        end_esc = "\\\t\n\x0c\r )"
    k = 0
    n = len(s)
    while True:
        i = _index_any(s, end_esc, k)
        if i < 0:
            c2, nread = t_url(c, decode_css(s[k:]))
            return c2, k + nread
        if s[i] == "\\":
            i += 1
            if i == n:
                return error_ctx(None, 0, "unfinished escape sequence in CSS string: %s" % goq(s)), n
        else:
            return c.copy(state=S_CSS), i + 1
        c, _ = t_url(c, decode_css(s[: i + 1]))
        k = i + 1


def t_error(c: Ctx, s: str) -> tuple[Ctx, int]:
    return c, len(s)


def t_meta_content(c: Ctx, s: str) -> tuple[Ctx, int]:
    n = len(s)
    for i in range(n):
        if i + 3 <= n - 1 and s[i : i + 3].lower() == "url":
            j = eat_white_space(s, i + 3)
            if j < n and s[j] == "=":
                return c.copy(state=S_META_CONTENT_URL), j + 1
    return c, n


def t_meta_content_url(c: Ctx, s: str) -> tuple[Ctx, int]:
    i = s.find(";")
    if i >= 0:
        return c.copy(state=S_META_CONTENT), i + 1
    return c, len(s)


TRANSITIONS = {
    S_TEXT: t_text,
    S_TAG: t_tag,
    S_ATTR_NAME: t_attr_name,
    S_AFTER_NAME: t_after_name,
    S_BEFORE_VALUE: t_before_value,
    S_HTML_CMT: t_html_cmt,
    S_RCDATA: t_special_tag_end,
    S_ATTR: t_attr,
    S_URL: t_url,
    S_META_CONTENT: t_meta_content,
    S_META_CONTENT_URL: t_meta_content_url,
    S_SRCSET: t_url,
    S_JS: t_js,
    S_JS_DQ_STR: t_js_delimited,
    S_JS_SQ_STR: t_js_delimited,
    S_JS_REGEXP: t_js_delimited,
    S_JS_TMPL_LIT: t_js_tmpl,
    S_JS_BLOCK_CMT: t_block_cmt,
    S_JS_LINE_CMT: t_line_cmt,
    S_JS_HTML_OPEN_CMT: t_line_cmt,
    S_JS_HTML_CLOSE_CMT: t_line_cmt,
    S_CSS: t_css,
    S_CSS_DQ_STR: t_css_str,
    S_CSS_SQ_STR: t_css_str,
    S_CSS_DQ_URL: t_css_str,
    S_CSS_SQ_URL: t_css_str,
    S_CSS_URL: t_css_str,
    S_CSS_BLOCK_CMT: t_block_cmt,
    S_CSS_LINE_CMT: t_line_cmt,
    S_ERROR: t_error,
}


def eat_attr_name(s: str, i: int) -> tuple[int, EscErr | None]:
    for j in range(i, len(s)):
        ch = s[j]
        if ch in " \t\n\x0c\r=>":
            return j, None
        if ch in "'\"<":
            return -1, EscErr(None, 0, "%s in attribute name: %s" % (goq(ch), goq(s, 32)))
    return len(s), None


_ELEMENTS = {"script": E_SCRIPT, "style": E_STYLE, "textarea": E_TEXTAREA, "title": E_TITLE, "meta": E_META}


def _alpha(c: str) -> bool:
    return "A" <= c <= "Z" or "a" <= c <= "z"


def _alnum(c: str) -> bool:
    return _alpha(c) or "0" <= c <= "9"


def eat_tag_name(s: str, i: int) -> tuple[int, int]:
    n = len(s)
    if i == n or not _alpha(s[i]):
        return i, E_NONE
    j = i + 1
    while j < n:
        x = s[j]
        if _alnum(x):
            j += 1
            continue
        if x in ":-" and j + 1 < n and _alnum(s[j + 1]):
            j += 2
            continue
        break
    return j, _ELEMENTS.get(s[i:j].lower(), E_NONE)


def eat_white_space(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in " \t\n\x0c\r":
        i += 1
    return i


_JS_WHITESPACE = (
    "\x0c\n\r\t\v \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_REGEXP_PRECEDERS = frozenset(
    "break case continue delete do else finally in instanceof return throw try typeof void".split()
)


def next_js_ctx(s: str, preceding: int) -> int:
    s = s.rstrip(_JS_WHITESPACE)
    if not s:
        return preceding
    c, n = s[-1], len(s)
    if c in "+-":
        start = n - 1
        while start > 0 and s[start - 1] == c:
            start -= 1
        return J_REGEXP if (n - start) & 1 else J_DIV_OP
    if c == ".":
        if n != 1 and "0" <= s[-2] <= "9":
            return J_DIV_OP
        return J_REGEXP
    if c in ",<>=*%&|^?!~([:;{}":
        return J_REGEXP
    j = n
    while j > 0 and _js_ident(s[j - 1]):
        j -= 1
    if s[j:] in _REGEXP_PRECEDERS:
        return J_REGEXP
    return J_DIV_OP


def _js_ident(c: str) -> bool:
    return c == "$" or c == "_" or "0" <= c <= "9" or "A" <= c <= "Z" or "a" <= c <= "z"


def ends_with_css_keyword(b: str, kw: str) -> bool:
    i = len(b) - len(kw)
    if i < 0:
        return False
    if i != 0 and is_css_nmchar(b[i - 1]):
        return False
    return b[i:].lower() == kw


_JS_TYPES = frozenset(
    (
        "",
        "application/ecmascript",
        "application/javascript",
        "application/json",
        "application/ld+json",
        "application/x-ecmascript",
        "application/x-javascript",
        "module",
        "text/ecmascript",
        "text/javascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    )
)


def is_js_type(mime: str) -> bool:
    return mime.split(";", 1)[0].lower().strip() in _JS_TYPES


_DELIM_ENDS = {D_DOUBLE: '"', D_SINGLE: "'", D_SPACE: " \t\n\x0c\r>"}


def context_after_text(c: Ctx, s: str) -> tuple[Ctx, int]:
    """The context after the longest prefix of text s that stays in one region."""
    if c.delim == D_NONE:
        c1, i = t_special_tag_end(c, s)
        if i == 0:
            return c1, 0
        return TRANSITIONS[c.state](c, s[:i])
    i = _index_any(s, _DELIM_ENDS[c.delim], 0)
    if i == -1:
        i = len(s)
    if c.delim == D_SPACE:
        j = _index_any(s[:i], "\"'<=`", 0)
        if j >= 0:
            return error_ctx(None, 0, "%s in unquoted attr: %s" % (goq(s[j]), goq(s[:i]))), len(s)
    if i == len(s):
        u = _html.unescape(s)
        while u:
            c1, i1 = TRANSITIONS[c.state](c, u)
            c, u = c1, u[i1:]
        return c, len(s)
    element = c.element
    if c.state == S_ATTR and c.element == E_SCRIPT and c.attr == A_SCRIPT_TYPE and not is_js_type(s[:i]):
        element = E_NONE
    if c.delim != D_SPACE:
        i += 1
    return Ctx(state=S_TAG, element=element), i
