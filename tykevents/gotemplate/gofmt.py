"""Go's fmt package (Sprint, Sprintln, Sprintf) over the template value model.

This follows fmt/print.go and fmt/format.go step by step, because printf output lands in
webhook bodies byte for byte: the flag and width rules, %v of floats (strconv 'g' shortest),
Go quoting for %q, and the error forms (%!d(string=x), %!(EXTRA …), %!s(MISSING)).
Types: None is a nil interface, int is Go int, float is float64, complex is complex128,
str is string, list is []interface {}, dict is map[string]interface {}, GoStruct a struct;
objects with a `go_string` method are Stringers (GoTime, GoDuration, GoMonth, GoWeekday).
"""

from __future__ import annotations

from typing import Any

from tykevents.golang.strconv import can_backquote, format_float, go_quote, go_quote_rune, is_print
from tykevents.golang.time import GoTime
from tykevents.gotemplate.values import GoStruct, struct_layout

from .govalues import MISSING as _MISSING  # Go's invalid reflect.Value: fmt sees a nil interface

_MASK64 = (1 << 64) - 1
_MAX_RUNE = 0x10FFFF
_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"

# FormatFloat and Quote are part of this module's API too (escapers.py and tests use them).
__all__ = ["format_float", "format_value", "go_quote", "go_type_name", "sprint", "sprintf", "sprintln"]


# ---------------------------------------------------------------------------------------------
# type names


def go_type_name(v: Any) -> str:
    """reflect.TypeOf(v).String() for a value-model value."""
    t = getattr(type(v), "_go_type", None)
    if t is not None:
        return t
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return getattr(v, "go_type", "[]interface {}")  # GoSlice names its type
    if isinstance(v, dict):
        return getattr(v, "go_type", None) or "map[string]interface {}"
    if isinstance(v, GoStruct):
        return v.type_name
    return type(v).__name__


# ---------------------------------------------------------------------------------------------
# the printer


class _GoUint64(int):
    _go_type = "uint64"


class _GoInt64(int):
    _go_type = "int64"


class _Printer:
    __slots__ = (
        "buf",
        "plus",
        "minus",
        "sharp",
        "space",
        "zero",
        "plus_v",
        "sharp_v",
        "wid",
        "prec",
        "wid_present",
        "prec_present",
        "erroring",
    )

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.erroring = False
        self.clear_flags()

    def clear_flags(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False

    # padding (format.go) --------------------------------------------------------------------
    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero and not self.minus else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if not self.minus:
            self.write_padding(width)
            self.buf.append(s)
        else:
            self.buf.append(s)
            self.write_padding(width)

    def pad_nozero(self, s: str) -> None:
        old, self.zero = self.zero, False
        self.pad(s)
        self.zero = old

    def truncate(self, s: str) -> str:
        if self.prec_present and self.prec < len(s):
            return s[: self.prec]
        return s

    # leaf formatters ------------------------------------------------------------------------
    def fmt_integer(self, v: int, base: int, verb: str, digits: str) -> None:
        v &= _MASK64
        if v >= 1 << 63:
            v -= 1 << 64
        negative = v < 0
        u = -v if negative else v
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                self.pad_nozero_padding()
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            s = str(u)
        elif base == 16:
            s = format(u, "x")
            if digits is _UDIGITS:
                s = s.upper()
        elif base == 8:
            s = format(u, "o")
        else:
            s = format(u, "b")
        if len(s) < prec:
            s = "0" * (prec - len(s)) + s
        if self.sharp:
            if base == 2:
                s = "0b" + s
            elif base == 8:
                if s[0] != "0":
                    s = "0" + s
            elif base == 16:
                s = "0" + digits[16] + s
        if verb == "O":
            s = "0o" + s
        if negative:
            s = "-" + s
        elif self.plus:
            s = "+" + s
        elif self.space:
            s = " " + s
        self.pad_nozero(s)

    def pad_nozero_padding(self) -> None:
        old, self.zero = self.zero, False
        self.write_padding(self.wid)
        self.zero = old

    def fmt_c(self, v: int) -> None:
        v &= _MASK64
        if v > _MAX_RUNE or 0xD800 <= v <= 0xDFFF:
            v = 0xFFFD
        self.pad(chr(v))

    def fmt_qc(self, v: int) -> None:
        v &= _MASK64
        if v > _MAX_RUNE:
            v = 0xFFFD
        self.pad(go_quote_rune(v, self.plus))

    def fmt_unicode(self, v: int) -> None:
        u = v & _MASK64
        prec = 4
        if self.prec_present and self.prec > 4:
            prec = self.prec
        s = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and u <= _MAX_RUNE and is_print(u):
            s += " '" + chr(u) + "'"
        self.pad_nozero(s)

    def fmt_sx(self, s: str, digits: str) -> None:
        b = s.encode("utf-8", "surrogateescape")
        length = len(b)
        if self.prec_present and self.prec < length:
            length = self.prec
        width = 2 * length
        if width > 0:
            if self.space:
                if self.sharp:
                    width *= 2
                width += length - 1
            elif self.sharp:
                width += 2
        else:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        out = []
        if self.sharp:
            out.append("0" + digits[16])
        for i in range(length):
            if self.space and i > 0:
                out.append(" ")
                if self.sharp:
                    out.append("0" + digits[16])
            c = b[i]
            out.append(digits[c >> 4] + digits[c & 15])
        self.buf.append("".join(out))
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.pad(go_quote(s, self.plus))

    def fmt_float(self, v: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad_nozero(num)
            return
        if self.sharp and verb != "b":
            digits = 0
            if verb in "vgGx":
                digits = 6 if prec == -1 else prec
            tail = ""
            has_point = False
            saw_nonzero = False
            i = 1
            while i < len(num):
                c = num[i]
                if c == ".":
                    has_point = True
                elif c in "pP":
                    tail, num = num[i:], num[:i]
                    break
                elif c in "eE" and verb not in "xX":
                    tail, num = num[i:], num[:i]
                    break
                else:
                    if c != "0":
                        saw_nonzero = True
                    if saw_nonzero:
                        digits -= 1
                i += 1
            if not has_point:
                if len(num) == 2 and num[1] == "0":
                    digits -= 1
                num += "."
            if digits > 0:
                num += "0" * digits
            num += tail
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(self.wid - len(num))
                self.buf.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    # print.go -------------------------------------------------------------------------------
    def bad_verb(self, verb: str, v: Any) -> None:
        self.erroring = True
        self.buf.append("%!" + verb + "(")
        if v is not None:
            self.buf.append(go_type_name(v) + "=")
            self.print_value(v, "v", 0)
        else:
            self.buf.append("<nil>")
        self.buf.append(")")
        self.erroring = False

    def print_arg(self, arg: Any, verb: str) -> None:
        if arg is None or arg is _MISSING:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.pad(self.truncate(go_type_name(arg)))
            return
        if verb == "p":
            self.bad_verb(verb, arg)
            return
        self.print_value(arg, verb, 0)

    def handle_methods(self, v: Any, verb: str) -> bool:
        if self.erroring:
            return False
        if self.sharp_v:
            gs = getattr(v, "go_syntax", None)
            if gs is not None:
                self.pad(self.truncate(gs()))
                return True
            return False
        if verb in "vsxXq":
            stringer = getattr(v, "go_string", None)
            if stringer is not None:
                self.fmt_string(stringer(), verb)
                return True
        return False

    def fmt_string(self, s: str, verb: str) -> None:
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(s)
            else:
                self.pad(self.truncate(s))
        elif verb == "s":
            self.pad(self.truncate(s))
        elif verb == "x":
            self.fmt_sx(s, _LDIGITS)
        elif verb == "X":
            self.fmt_sx(s, _UDIGITS)
        elif verb == "q":
            self.fmt_q(s)
        else:
            self.bad_verb(verb, s)

    def fmt_int_verb(self, v: int, verb: str) -> None:
        if verb in "vd":
            self.fmt_integer(v, 10, verb, _LDIGITS)
        elif verb == "b":
            self.fmt_integer(v, 2, verb, _LDIGITS)
        elif verb in "oO":
            self.fmt_integer(v, 8, verb, _LDIGITS)
        elif verb == "x":
            self.fmt_integer(v, 16, verb, _LDIGITS)
        elif verb == "X":
            self.fmt_integer(v, 16, verb, _UDIGITS)
        elif verb == "c":
            self.fmt_c(v)
        elif verb == "q":
            self.fmt_qc(v)
        elif verb == "U":
            self.fmt_unicode(v)
        else:
            self.bad_verb(verb, v)

    def fmt_float_verb(self, v: float, verb: str) -> None:
        if verb == "v":
            self.fmt_float(v, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(v, verb, -1)
        elif verb in "feE":
            self.fmt_float(v, verb, 6)
        elif verb == "F":
            self.fmt_float(v, "f", 6)
        else:
            self.bad_verb(verb, v)

    def print_value(self, v: Any, verb: str, depth: int) -> None:
        if v is None or v is _MISSING:  # a nil interface inside a container or struct
            self.buf.append("interface {}(nil)" if self.sharp_v else "<nil>")
            return
        if self.handle_methods(v, verb):
            return
        if isinstance(v, bool):
            if verb in "tv":
                self.pad("true" if v else "false")
            else:
                self.bad_verb(verb, v)
        elif isinstance(v, int):
            if verb == "v" and self.sharp_v and go_type_name(v).startswith("uint"):
                old, self.sharp = self.sharp, True  # Go's fmt0x64: %#v of unsigned is 0x..
                self.fmt_integer(int(v), 16, verb, _LDIGITS)
                self.sharp = old
            else:
                self.fmt_int_verb(v, verb)
        elif isinstance(v, float):
            self.fmt_float_verb(v, verb)
        elif isinstance(v, complex):
            if verb in "vbgGxXfFeE":
                old_plus = self.plus
                self.buf.append("(")
                self.fmt_float_verb(v.real, verb)
                self.plus = True
                self.fmt_float_verb(v.imag, verb)
                self.buf.append("i)")
                self.plus = old_plus
            else:
                self.bad_verb(verb, v)
        elif isinstance(v, str):
            self.fmt_string(str(v), verb)
        elif isinstance(v, (list, tuple)):
            if self.sharp_v:
                self.buf.append(go_type_name(v) + "{")
                for i, e in enumerate(v):
                    if i:
                        self.buf.append(", ")
                    self.print_value(e, verb, depth + 1)
                self.buf.append("}")
            else:
                self.buf.append("[")
                for i, e in enumerate(v):
                    if i:
                        self.buf.append(" ")
                    self.print_value(e, verb, depth + 1)
                self.buf.append("]")
        elif isinstance(v, dict):
            self.buf.append(go_type_name(v) + "{" if self.sharp_v else "map[")
            # map[string]… keys sort byte-wise: code-point order is the same for UTF-8
            for i, k in enumerate(sorted(v)):
                if i:
                    self.buf.append(", " if self.sharp_v else " ")
                self.print_value(k, verb, depth + 1)
                self.buf.append(":")
                self.print_value(v[k], verb, depth + 1)
            self.buf.append("}" if self.sharp_v else "]")
        elif isinstance(v, GoStruct):
            if self.sharp_v:
                self.buf.append(v.type_name)
            self.print_struct(v.fields, struct_layout(v.type_name) or tuple(v.fields), verb, depth)
        elif isinstance(v, GoTime):  # printed through reflection (a non-string verb)
            self._print_time_struct(v, verb)
        else:
            self.fmt_string(str(v), verb)

    def print_struct(self, fields: dict, layout: tuple, verb: str, depth: int) -> None:
        self.buf.append("{")
        for i, item in enumerate(layout):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            if isinstance(item, tuple):  # an embedded struct: (field name, type name)
                name, type_name = item
                if self.plus_v or self.sharp_v:
                    self.buf.append(name + ":")
                if self.sharp_v:
                    self.buf.append(type_name)
                self.print_struct(fields, struct_layout(type_name) or (), verb, depth + 1)
            else:
                if self.plus_v or self.sharp_v:
                    self.buf.append(item + ":")
                self.print_value(fields.get(item), verb, depth + 1)
        self.buf.append("}")

    def _print_time_struct(self, t: Any, verb: str) -> None:
        # time.Time{wall uint64; ext int64; loc *time.Location}, loc nil (UTC) assumed:
        # a non-UTC loc is a pointer whose address Go prints, which nothing can match.
        wall, ext = _GoUint64(t.nsec), _GoInt64(t.sec + 62135596800)
        if self.sharp_v:
            self.buf.append("time.Time{wall:0x%x, ext:%d, loc:(*time.Location)(nil)}" % (wall, ext))
            return
        names = ("wall:", "ext:", "loc:") if self.plus_v else ("", "", "")
        self.buf.append("{" + names[0])
        self.print_value(wall, verb, 1)
        self.buf.append(" " + names[1])
        self.print_value(ext, verb, 1)
        self.buf.append(" " + names[2])
        if verb == "v":
            self.pad("<nil>")
        elif verb in "bodxX":
            self.fmt_int_verb(0, verb)
        else:
            self.erroring = True
            self.buf.append("%!" + verb + "(*time.Location=<nil>)")
            self.erroring = False
        self.buf.append("}")

    # doPrintf -------------------------------------------------------------------------------
    def do_printf(self, fmt: str, args: tuple) -> None:
        end = len(fmt)
        arg_num = 0
        after_index = False
        reordered = False
        i = 0
        while i < end:
            good_arg_num = True
            j = fmt.find("%", i)
            if j < 0:
                self.buf.append(fmt[i:])
                break
            if j > i:
                self.buf.append(fmt[i:j])
            i = j + 1
            self.clear_flags()
            while i < end:
                c = fmt[i]
                if c == "#":
                    self.sharp = True
                elif c == "0":
                    self.zero = True
                elif c == "+":
                    self.plus = True
                elif c == "-":
                    self.minus = True
                elif c == " ":
                    self.space = True
                else:
                    break
                i += 1
            # explicit argument index
            arg_num, i, after_index, ok, ro = _arg_number(arg_num, fmt, i, len(args))
            good_arg_num &= ok
            reordered |= ro
            # width
            if i < end and fmt[i] == "*":
                i += 1
                self.wid, self.wid_present, arg_num = _int_from_arg(args, arg_num)
                if not self.wid_present:
                    self.buf.append("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid = -self.wid
                    self.minus = True
                    self.zero = False
                after_index = False
            else:
                self.wid, self.wid_present, i = _parse_num(fmt, i, end)
                if after_index and self.wid_present:
                    good_arg_num = False
            # precision
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    good_arg_num = False
                arg_num, i, after_index, ok, ro = _arg_number(arg_num, fmt, i, len(args))
                good_arg_num &= ok
                reordered |= ro
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, self.prec_present, arg_num = _int_from_arg(args, arg_num)
                    if self.prec < 0:
                        self.prec, self.prec_present = 0, False
                    if not self.prec_present:
                        self.buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_present, i = _parse_num(fmt, i, end)
                    if not self.prec_present:
                        self.prec, self.prec_present = 0, True
            if not after_index:
                arg_num, i, after_index, ok, ro = _arg_number(arg_num, fmt, i, len(args))
                good_arg_num &= ok
                reordered |= ro
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                self.buf.append("%")
            elif not good_arg_num:
                self.buf.append("%!" + verb + "(BADINDEX)")
            elif arg_num >= len(args):
                self.buf.append("%!" + verb + "(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(args[arg_num], verb)
                arg_num += 1
        if not reordered and arg_num < len(args):
            self.clear_flags()
            self.buf.append("%!(EXTRA ")
            for k, arg in enumerate(args[arg_num:]):
                if k:
                    self.buf.append(", ")
                if arg is None:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(go_type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.buf.append(")")


def _parse_num(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _arg_number(arg_num: int, fmt: str, i: int, nargs: int) -> tuple[int, int, bool, bool, bool]:
    """Go's argNumber: returns (arg_num, i, found, good, reordered)."""
    if i >= len(fmt) or fmt[i] != "[":
        return arg_num, i, False, True, False
    rest = fmt[i:]
    if len(rest) < 3:
        return arg_num, i + 1, False, False, True
    close_at = rest.find("]", 1)
    if close_at < 0:
        return arg_num, i + 1, False, False, True
    width, ok, newi = _parse_num(rest, 1, close_at)
    if not ok or newi != close_at:
        return arg_num, i + close_at + 1, False, False, True
    index = width - 1
    if 0 <= index < nargs:
        return index, i + close_at + 1, True, True, True
    return arg_num, i + close_at + 1, True, False, True


def _int_from_arg(args: tuple, arg_num: int) -> tuple[int, bool, int]:
    num, is_int, new = 0, False, arg_num
    if arg_num < len(args):
        a = args[arg_num]
        if isinstance(a, int) and not isinstance(a, bool):
            num, is_int = int(a), True
        new = arg_num + 1
        if num > 1_000_000 or num < -1_000_000:
            num, is_int = 0, False
    return num, is_int, new


# ---------------------------------------------------------------------------------------------
# public API


def format_value(v: Any) -> str:
    """fmt.Sprint(v) of one value: what {{.x}} prints for a non-missing value."""
    t = type(v)
    if t is str:
        return v
    if t is int and -(1 << 63) <= v < (1 << 63):
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return format_float(v, "g", -1)
    p = _Printer()
    p.print_arg(v, "v")
    return "".join(p.buf)


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands only when neither side is a string."""
    if len(args) == 1:
        return format_value(args[0])
    p = _Printer()
    prev_string = False
    for n, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if n > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return "".join(p.buf)


def sprintln(*args: Any) -> str:
    """fmt.Sprintln: spaces between all operands, then a newline."""
    p = _Printer()
    for n, arg in enumerate(args):
        if n > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return "".join(p.buf)


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf with Go's verbs, flags, widths, precisions and argument indexes."""
    p = _Printer()
    p.do_printf(fmt, args)
    return "".join(p.buf)
