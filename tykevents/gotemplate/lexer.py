"""Lexer for Go's template language (text/template/parse/lex.go semantics).

Positions are character offsets into the template text; error locations convert
them to Go's byte columns where needed. The state machine follows Go's so that the
parser sees the same items and the same line numbers in error messages.
"""

from __future__ import annotations

import unicodedata
from typing import Protocol

from .errors import go_quote, rune_u

# Item types. Keywords sort after KEYWORD, as in Go (item.String depends on it).
(
    ERROR,
    BOOL,
    CHAR,
    CHAR_CONSTANT,
    COMMENT,
    COMPLEX,
    ASSIGN,
    DECLARE,
    EOF,
    FIELD,
    IDENTIFIER,
    LEFT_DELIM,
    LEFT_PAREN,
    NUMBER,
    PIPE,
    RAW_STRING,
    RIGHT_DELIM,
    RIGHT_PAREN,
    SPACE,
    STRING,
    TEXT,
    VARIABLE,
    KEYWORD,
    BLOCK,
    BREAK,
    CONTINUE,
    DOT,
    DEFINE,
    ELSE,
    END,
    IF,
    NIL,
    RANGE,
    TEMPLATE,
    WITH,
) = range(35)

KEYWORDS = {
    ".": DOT,
    "block": BLOCK,
    "break": BREAK,
    "continue": CONTINUE,
    "define": DEFINE,
    "else": ELSE,
    "end": END,
    "if": IF,
    "range": RANGE,
    "nil": NIL,
    "template": TEMPLATE,
    "with": WITH,
}

SPACE_CHARS = " \t\r\n"
_TERMINATORS = frozenset(" \t\r\n.,|:)(")


class Item:
    __slots__ = ("typ", "pos", "val", "line")

    def __init__(self, typ: int, pos: int, val: str, line: int) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val
        self.line = line

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return "<%s>" % self.val
        if len(self.val.encode("utf-8", "surrogateescape")) > 10:
            return go_quote(self.val, 10) + "..."
        return go_quote(self.val)

    def __repr__(self) -> str:
        return "Item(%d, %d, %r, %d)" % (self.typ, self.pos, self.val, self.line)


def is_space(c: str) -> bool:
    return c in SPACE_CHARS and c != ""


def is_alnum(c: str) -> bool:
    if c == "_":
        return True
    if c == "":
        return False
    if c.isascii():
        return c.isalnum()
    return c.isalpha() or unicodedata.category(c) == "Nd"


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and s[i + 1] in SPACE_CHARS


def _has_right_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] in SPACE_CHARS and s[i + 1] == "-"


class StateFn(Protocol):
    """A lexer state: it scans some input and returns the next state (None once an item
    is ready), as Go's stateFn does."""

    def __call__(self) -> StateFn | None: ...


class Lexer:
    """Produces items on demand (`next_item`), like Go's pull lexer."""

    def __init__(
        self,
        name: str,
        text: str,
        left: str = "",
        right: str = "",
        *,
        break_ok: bool = True,
        continue_ok: bool = True,
    ) -> None:
        self.name = name
        self.input = text
        self.left = left or "{{"
        self.right = right or "}}"
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.item: Item | None = None
        self.inside_action = False
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    # -- primitives -------------------------------------------------------
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return ""
        c = self.input[self.pos]
        self.pos += 1
        if c == "\n":
            self.line += 1
        return c

    def peek(self) -> str:
        c = self.next()
        self.backup()
        return c

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, typ: int) -> Item:
        it = Item(typ, self.start, self.input[self.start : self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return it

    # emit, emit_item and errorf end the scan (no next state), so states `return` them.
    def emit(self, typ: int) -> StateFn | None:
        self.item = self.this_item(typ)
        return None

    def emit_item(self, it: Item) -> StateFn | None:
        self.item = it
        return None

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        c = self.next()
        if c and c in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            c = self.next()
            if not c or c not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> StateFn | None:
        self.item = Item(ERROR, self.start, msg, self.start_line)
        self.start = 0
        self.pos = 0
        self.input = ""
        return None

    def next_item(self) -> Item:
        self.item = Item(EOF, self.pos, "EOF", self.start_line)
        state: StateFn | None = self.lex_inside_action if self.inside_action else self.lex_text
        while state is not None:
            state = state()
        return self.item

    # -- states -------------------------------------------------------------
    def lex_text(self) -> StateFn | None:
        x = self.input.find(self.left, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                if _has_left_trim(self.input, self.pos + len(self.left)):
                    seg = self.input[self.start : self.pos]
                    trim = len(seg) - len(seg.rstrip(SPACE_CHARS))
                self.pos -= trim
                self.line += self.input.count("\n", self.start, self.pos)
                it = self.this_item(TEXT)
                self.pos += trim
                self.ignore()
                if it.val:
                    return self.emit_item(it)
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            return self.emit(TEXT)
        return self.emit(EOF)

    def at_right_delim(self) -> tuple[bool, bool]:
        s, p = self.input, self.pos
        if _has_right_trim(s, p) and s.startswith(self.right, p + 2):
            return True, True
        if s.startswith(self.right, p):
            return True, False
        return False, False

    def lex_left_delim(self) -> StateFn | None:
        self.pos += len(self.left)
        trim = _has_left_trim(self.input, self.pos)
        after = 2 if trim else 0
        if self.input.startswith("/*", self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        it = self.this_item(LEFT_DELIM)
        self.inside_action = True
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.emit_item(it)

    def lex_comment(self) -> StateFn | None:
        self.pos += 2
        x = self.input.find("*/", self.pos)
        if x < 0:
            return self.errorf("unclosed comment")
        self.pos = x + 2
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        self.line += self.input.count("\n", self.start, self.pos)
        self.this_item(COMMENT)
        if trim:
            self.pos += 2
        self.pos += len(self.right)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> StateFn | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(self.right)
        it = self.this_item(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.ignore()
        self.inside_action = False
        return self.emit_item(it)

    def lex_inside_action(self) -> StateFn | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        r = self.next()
        if r == "":
            return self.errorf("unclosed action")
        if r in SPACE_CHARS:
            self.backup()
            return self.lex_space
        if r == "=":
            return self.emit(ASSIGN)
        if r == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            return self.emit(DECLARE)
        if r == "|":
            return self.emit(PIPE)
        if r == '"':
            return self.lex_quote
        if r == "`":
            return self.lex_raw_quote
        if r == "$":
            return self.lex_variable
        if r == "'":
            return self.lex_char
        if r == ".":
            if self.pos < len(self.input):
                c = self.input[self.pos]
                if c < "0" or c > "9":
                    return self.lex_field
            self.backup()
            return self.lex_number
        if r == "+" or r == "-" or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        if is_alnum(r):
            self.backup()
            return self.lex_identifier
        if r == "(":
            self.paren_depth += 1
            return self.emit(LEFT_PAREN)
        if r == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf("unexpected right paren")
            return self.emit(RIGHT_PAREN)
        if " " <= r <= "~":
            return self.emit(CHAR)
        return self.errorf("unrecognized character in action: %s" % rune_u(r))

    def lex_space(self) -> StateFn | None:
        n = 0
        while True:
            r = self.peek()
            if not r or r not in SPACE_CHARS:
                break
            self.next()
            n += 1
        if _has_right_trim(self.input, self.pos - 1) and self.input.startswith(self.right, self.pos + 1):
            self.backup()
            if n == 1:
                return self.lex_right_delim
        return self.emit(SPACE)

    def lex_identifier(self) -> StateFn | None:
        while True:
            r = self.next()
            if is_alnum(r):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                return self.errorf("bad character %s" % rune_u(r))
            kw = KEYWORDS.get(word)
            if kw is not None and kw > KEYWORD:
                if (kw == BREAK and not self.break_ok) or (kw == CONTINUE and not self.continue_ok):
                    return self.emit(IDENTIFIER)
                return self.emit(kw)
            if word[0] == ".":
                return self.emit(FIELD)
            if word in ("true", "false"):
                return self.emit(BOOL)
            return self.emit(IDENTIFIER)

    def lex_field(self) -> StateFn | None:
        return self._field_or_variable(FIELD)

    def lex_variable(self) -> StateFn | None:
        if self.at_terminator():
            return self.emit(VARIABLE)
        return self._field_or_variable(VARIABLE)

    def _field_or_variable(self, typ: int) -> StateFn | None:
        if self.at_terminator():
            return self.emit(VARIABLE if typ == VARIABLE else DOT)
        while True:
            r = self.next()
            if not is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf("bad character %s" % rune_u(r))
        return self.emit(typ)

    def at_terminator(self) -> bool:
        r = self.peek()
        if r == "" or r in _TERMINATORS:
            return True
        return self.input.startswith(self.right, self.pos)

    def lex_char(self) -> StateFn | None:
        while True:
            c = self.next()
            if c == "\\":
                r = self.next()
                if r != "" and r != "\n":
                    continue
                return self.errorf("unterminated character constant")
            if c == "" or c == "\n":
                return self.errorf("unterminated character constant")
            if c == "'":
                break
        return self.emit(CHAR_CONSTANT)

    def lex_number(self) -> StateFn | None:
        if not self.scan_number():
            return self.errorf("bad number syntax: %s" % go_quote(self.input[self.start : self.pos]))
        sign = self.peek()
        if sign == "+" or sign == "-":
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf("bad number syntax: %s" % go_quote(self.input[self.start : self.pos]))
            return self.emit(COMPLEX)
        return self.emit(NUMBER)

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> StateFn | None:
        while True:
            c = self.next()
            if c == "\\":
                r = self.next()
                if r != "" and r != "\n":
                    continue
                return self.errorf("unterminated quoted string")
            if c == "" or c == "\n":
                return self.errorf("unterminated quoted string")
            if c == '"':
                break
        return self.emit(STRING)

    def lex_raw_quote(self) -> StateFn | None:
        while True:
            c = self.next()
            if c == "":
                return self.errorf("unterminated raw quoted string")
            if c == "`":
                break
        return self.emit(RAW_STRING)
