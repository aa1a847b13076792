"""Go's text/template and html/template (as Tyk uses it), in Python.

Public API::

    parse(text, *, name="", engine="html", funcs=None, delims=None,
          missingkey="default", defer_escape=False) -> Template
    Template.execute(data, *, name=None) -> str      # raises ExecError (.partial)
    Template.render_bytes(data) -> bytes              # same, as Go's output bytes
    Template.escape_error(name=None) -> EscapeError | None   # what execute would refuse with
    Template.names() -> list[str]                     # the top-level template and defines
    TemplateError  (base; .kind is "parse", "exec" or "escape")
      ParseError   (.name .line .col)  bad template text
      ExecError    (.name .partial)    execution failed; .partial is what was written
      EscapeError  (.name .line .col)  html/template refused the template

`engine="html"` gives html/template: the template text is analysed as HTML once, at
parse time, and every action gets the escapers Go would add for its context. Go
reports escaping errors at Execute (every one, with the same error); here `parse` raises
EscapeError, or with `defer_escape=True` parses as Go does and leaves the error to every
execute. The analysis does not depend on the data, so `escape_error()` says beforehand
what execute will raise.

Data uses the value model of values.py (None, bool, int, float, str, list, dict,
GoStruct, GoMap, GoTime, GoDuration). `funcs` maps names to callables (Tyk's
`as_rfc3339` and `as_rfc3339_from_string` live in tykevents/golang/time.py); a
callable may declare Go parameter types in `fn.go_params`, e.g. ("time.Time",), so
that a wrong argument fails the way Go's reflection call would.

`missingkey` is Go's Option("missingkey=..."): "default" (or "invalid"), "zero",
"error". Strings are UTF-8 bytes for len/index/slice; bytes that are not valid UTF-8
travel through str as surrogateescape code points and come out of render_bytes as
the original bytes.

A Template is compiled once and may be executed from several threads at a time.
Deliberate differences from Go: escaping errors come from parse unless deferred; recursion
through {{template}} stops at Python's stack depth (a few hundred levels) with Go's
"exceeded maximum template depth" message; a template name containing `%` does not
get Go's mangled error message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .builtins import BUILTINS, Func, describe
from .errors import EscapeError, ExecError, ParseError, TemplateError, go_quote
from .exec import MK_DEFAULT, MK_ERROR, MK_ZERO
from .nodes import Tree
from .parser import parse_trees
from .program import Program

__all__ = ["parse", "Template", "TemplateError", "ParseError", "ExecError", "EscapeError"]

_MISSINGKEY = {"default": MK_DEFAULT, "invalid": MK_DEFAULT, "zero": MK_ZERO, "error": MK_ERROR}


class Template:
    """A parsed (and, for html, escaped) template set, ready to execute many times."""

    def __init__(self, name: str, engine: str, prog: Program, trees: dict[str, Tree]) -> None:
        self.name = name
        self.engine = engine
        self._prog = prog
        self._trees = trees
        self._escaped: set[str] = set()
        self._refused: dict[str, EscapeError] = {}  # Go's escapeErr: kept, raised every time
        self._lock = threading.Lock()  # escaping edits the shared trees

    def names(self) -> list[str]:
        """Names of the templates in this set (the top-level one and every define)."""
        return sorted(self._trees)

    def _prepare(self, name: str) -> None:
        if self.engine != "html" or name in self._escaped:
            return
        from .escape import escape_template

        with self._lock:
            err = self._refused.get(name)
            if err is None and name not in self._escaped:
                try:
                    escape_template(self._prog, self._trees, name)
                except EscapeError as e:  # the trees are left unedited
                    err = self._refused[name] = e
                else:
                    self._escaped.add(name)
        if err is not None:  # a fresh instance per raise: callers on other threads keep theirs
            raise EscapeError(err.message, err.name, err.line, err.col)

    def escape_error(self, name: str | None = None) -> EscapeError | None:
        """The EscapeError executing template `name` (default: the top one) raises on any
        data, or None; runs the escaper now if no execute has."""
        target = self.name if name is None else name
        if target not in self._trees:
            return None
        try:
            self._prepare(target)
        except EscapeError as e:
            return e
        return None

    def compile(self, name: str | None = None) -> None:
        """Escape and compile template `name` (default: the top one) now, not at its first
        execute: a daemon loads its templates once and then freezes what it loaded out of
        the garbage collector's full passes, and a large template compiles to thousands of
        closures. Every template of the set is compiled, so that {{template}} calls find
        theirs. Does nothing for a template the escaper refuses (execute raises it)."""
        target = self.name if name is None else name
        if target in self._trees and self.escape_error(target) is None:
            for each in list(self._prog.trees):  # those it calls ({{template}}) as well
                self._prog.runner(each)

    def execute(self, data: Any, *, name: str | None = None) -> str:
        """Render with `data` as dot; `name` selects a defined template (ExecuteTemplate)."""
        target = self.name if name is None else name
        if target not in self._trees:
            if self.engine == "html":
                msg = "html/template: %s is undefined" % go_quote(target)
            else:
                msg = "template: no template %s associated with template %s" % (
                    go_quote(target),
                    go_quote(self.name),
                )
            raise ExecError(msg, target)
        self._prepare(target)
        return self._prog.execute(target, data)

    def render_bytes(self, data: Any) -> bytes:
        """execute() as the bytes Go writes (invalid UTF-8 bytes included)."""
        out = self.execute(data)
        if out.isascii():
            return out.encode("ascii")
        return out.encode("utf-8", "surrogateescape")


def parse(
    text: str,
    *,
    name: str = "",
    engine: str = "html",
    funcs: dict[str, Callable[..., Any]] | None = None,
    delims: tuple[str, str] | None = None,
    missingkey: str = "default",
    defer_escape: bool = False,
) -> Template:
    """Parse `text` as template `name` (Go's template.New(name).Parse(text)). An html
    template Go's escaper refuses raises EscapeError here, or with `defer_escape` at every
    execute, as in Go."""
    if engine not in ("html", "text"):
        raise ValueError("engine must be 'html' or 'text', not %r" % (engine,))
    mk = _MISSINGKEY.get(missingkey)
    if mk is None:
        raise ValueError("unrecognized missingkey option %r" % (missingkey,))
    table: dict[str, Func] = dict(BUILTINS)
    for fname, fn in (funcs or {}).items():
        if not _good_name(fname):
            raise ValueError("function name %s is not a valid identifier" % go_quote(fname))
        if not callable(fn):
            raise ValueError("value for %s not a function" % fname)
        table[fname] = describe(fname, fn)
    left, right = delims if delims else ("", "")
    trees = parse_trees(name, text, table, left, right)
    html = engine == "html"
    if html:
        from .escapers import escaper_funcs

        table.update(escaper_funcs())
    prog = Program(table, mk, html)
    prog.trees = trees
    t = Template(name, engine, prog, trees)
    if not defer_escape:
        t._prepare(name)
    return t


def _good_name(name: str) -> bool:
    if not name:
        return False
    for i, ch in enumerate(name):
        if ch == "_":
            continue
        if i == 0 and not ch.isalpha():
            return False
        if not (ch.isalpha() or ch.isdigit()):
            return False
    return True
