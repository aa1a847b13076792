"""Exceptions of the template engine, with Go's message texts.

Messages keep Go's shapes (`template: name:line: ...` for parse errors,
`template: name:line:col: executing "name" at <node>: ...` for execution errors,
`html/template:name:line:col: ...` for escaping errors) so that logs read the same
as Tyk's.
"""

from __future__ import annotations

import unicodedata


class TemplateError(Exception):
    """Base class of every error the engine raises."""

    kind = "template"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ParseError(TemplateError):
    """The template text is invalid. `.name`, `.line` and `.col` locate the fault
    (col is 1-based, in characters; Go's own message carries only the line)."""

    kind = "parse"

    def __init__(self, message: str, name: str = "", line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.line = line
        self.col = col


class ExecError(TemplateError):
    """Execution failed. `.partial` holds the output written before the failure."""

    kind = "exec"

    def __init__(self, message: str, name: str = "", partial: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.partial = partial


class EscapeError(TemplateError):
    """html/template refused the template. Go reports it at every Execute; `parse` raises
    it unless asked to defer it (docs/gotemplate.md). `.line` and `.col` (a byte column,
    from 1) locate the fault; for "ends in a non-text context", which Go's message places
    nowhere, they point at the template's end."""

    kind = "escape"

    def __init__(self, message: str, name: str = "", line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.line = line
        self.col = col

    def location(self, file: str = "") -> str:
        """`file:line:col` counted as Go's messages count (the byte column from 0)."""
        return "%s:%d:%d" % (file or self.name, self.line, max(self.col - 1, 0))


def _is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    if ch == " ":
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "LMNPS"


def go_quote(s: str, limit: int | None = None) -> str:
    """strconv.Quote (and `%.Nq` when `limit` is given: the first N runes)."""
    if limit is not None:
        s = s[:limit]
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif 0xDC80 <= o <= 0xDCFF:  # a raw byte kept by surrogateescape
            out.append("\\x%02x" % (o - 0xDC00))
        elif o < 0x80 or not _is_print(ch) or 0xD800 <= o <= 0xDFFF:
            esc = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}.get(o)
            if esc:
                out.append(esc)
            elif o < 0x20 or o == 0x7F:
                out.append("\\x%02x" % o)
            elif 0xD800 <= o <= 0xDFFF:
                out.append("\\ufffd")
            elif o < 0x10000:
                out.append("\\u%04x" % o)
            else:
                out.append("\\U%08x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def rune_u(ch: str) -> str:
    """fmt's %#U: `U+0041 'A'` (the quoted form only for printable runes)."""
    o = ord(ch)
    if _is_print(ch):
        return "U+%04X '%s'" % (o, ch)
    return "U+%04X" % o
