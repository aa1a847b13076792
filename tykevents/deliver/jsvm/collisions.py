"""Which top-level names two JS files both define (for `tykevents check`).

All event handler scripts share one global namespace, as in Tyk (K2): when two files
define the same global, the one loaded later wins and the earlier handler silently calls the
later code. This is a static scan, not a parser: comments, strings and regex literals are
blanked out, then `var`/`let`/`const` declarations (every declarator), function
declarations and bare `name = ...` assignments at nesting depth 0 count as definitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_IDENT = r"[A-Za-z_$][\w$]*"
_DECL = re.compile(rf"\b(?:var|let|const)\s+({_IDENT})")
_FUNC = re.compile(rf"\bfunction\s+({_IDENT})\s*\(")
_ASSIGN = re.compile(rf"({_IDENT})\s*=(?![=>])")
_MORE = re.compile(rf",\s*({_IDENT})\s*(?==(?!=)|,|;|$)")
_KEYWORDS = frozenset(
    "break case catch continue debugger default delete do else finally for function if in "
    "instanceof new return switch this throw try typeof var void while with let const".split()
)
# After one of these (or nothing), a `/` starts a regex literal rather than a division.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {""}


def _blank(src: str) -> str:
    """`src` with comments, strings, template literals and regexes replaced by spaces
    (newlines kept, so positions and line structure survive)."""
    out = list(src)
    i, n, prev = 0, len(src), ""

    def clear(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if c == "/" and src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            clear(i, j)
            i = j
            continue
        if c == "/" and src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            clear(i, j)
            i = j
            continue
        if c in "'\"`" or (c == "/" and prev in _REGEX_AFTER):
            j, in_class = i + 1, False
            while j < n:
                d = src[j]
                if d == "\\":
                    j += 2
                    continue
                if c == "/" and d == "[":
                    in_class = True
                elif c == "/" and d == "]":
                    in_class = False
                elif d == c and not in_class:
                    break
                elif d == "\n" and c != "`":
                    break
                j += 1
            clear(i + 1, j)
            i = j + 1
            prev = "a"  # an operand
            continue
        if not c.isspace():
            prev = c if not (c.isalnum() or c in "_$") else "a"
            if prev == "a":  # `return /re/` and `typeof /re/`: a keyword before a regex
                m = re.match(r"[\w$]+", src[i:])
                word = m.group(0) if m else c
                prev = "" if word in ("return", "typeof", "case", "do", "else", "in") else "a"
                i += len(word)
                continue
        i += 1
    return "".join(out)


def _depths(text: str) -> list[int]:
    depth, out = 0, []
    for c in text:
        if c in ")]}":
            depth = max(0, depth - 1)
        out.append(depth)
        if c in "([{":
            depth += 1
    return out


def top_level_names(src: str) -> set[str]:
    """Global names a script defines at its top level (see the module doc)."""
    text = _blank(src)
    depth = _depths(text)
    names: set[str] = set()
    for m in _DECL.finditer(text):
        if depth[m.start()]:
            continue
        names.add(m.group(1))
        # Further declarators: `, name =` at this statement's depth, up to its `;`.
        j = m.end()
        end = j
        while end < len(text) and not (text[end] == ";" and depth[end] == 0):
            if (
                depth[end] == 0
                and text[end] == "\n"
                and re.match(r"\s*[A-Za-z_$]", text[end:])
                and not text[j:end].rstrip().endswith((",", "="))
            ):
                break
            end += 1
        for d in _MORE.finditer(text, j, end):
            if depth[d.start()] == 0:
                names.add(d.group(1))
    for m in _FUNC.finditer(text):
        before = text[: m.start()].rstrip()
        if not depth[m.start()] and (not before or before[-1] in ";{}"):
            names.add(m.group(1))
    for m in _ASSIGN.finditer(text):
        before = text[: m.start()].rstrip()
        if depth[m.start()] or m.group(1) in _KEYWORDS:
            continue
        if not before or before[-1] in ";{}" or text[len(before) : m.start()].count("\n"):
            if not before.endswith((".", ",")) and not re.search(r"\b(?:var|let|const)\s*$", before):
                names.add(m.group(1))
    return names


def find_global_collisions(paths: Iterable[str]) -> list[tuple[str, str, str]]:
    """(name, earlier file, later file) for each global that a later file redefines, in load
    order; the later file's definition is the one every handler gets. A file listed twice
    is not compared with itself, and unreadable files are skipped (loading reports them)."""
    seen: dict[str, str] = {}
    out: list[tuple[str, str, str]] = []
    for path in dict.fromkeys(paths):
        try:
            src = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for name in sorted(top_level_names(src)):
            if name in seen and seen[name] != path:
                out.append((name, seen[name], path))
            seen[name] = path
    return out
