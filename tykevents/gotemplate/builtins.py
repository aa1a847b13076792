"""The builtin template functions (text/template/funcs.go semantics) and the
description of callables (`Func`) the executor uses to check and convert arguments.

Argument types are named as Go names them: "reflect.Value" (raw, nil and missing
kept apart), "interface {}", "string", "int", "float64", "bool", or any other Go type
name, matched against the value's type name.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from . import gofmt
from . import govalues as V
from .errors import _is_print
from .govalues import MISSING, Uint8, basic_kind, byte_len, type_name
from .values import GoSlice, GoString

VALUE = "reflect.Value"
ANY = "interface {}"


class FuncError(Exception):
    """A Go function's returned error: `error calling NAME: <message>`."""


class Func:
    """A callable with Go's calling convention: fixed params, optional variadic tail."""

    __slots__ = ("name", "fn", "params", "variadic", "builtin")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        params: tuple[str, ...],
        variadic: bool = False,
        builtin: bool = False,
    ) -> None:
        self.name = name
        self.fn = fn
        self.params = params
        self.variadic = variadic
        self.builtin = builtin

    def param_type(self, i: int, num_in: int) -> str:
        """Type of argument i when the call has num_in arguments."""
        n = len(self.params)
        if not self.variadic or i < n - 1:
            return self.params[i]
        return self.params[-1]


def describe(name: str, fn: Callable[..., Any]) -> Func:
    """A Func for a user function or method. `fn.go_params` (a tuple of Go type names,
    the last prefixed with "..." when variadic) declares its signature; otherwise it
    is read from the Python signature, every parameter taking interface{}."""
    declared = getattr(fn, "go_params", None)
    if declared is not None:
        params = list(declared)
        variadic = bool(params) and params[-1].startswith("...")
        if variadic:
            params[-1] = params[-1][3:]
        return Func(name, fn, tuple(params), variadic)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return Func(name, fn, (ANY,), True)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: treat every parameter as interface{}
        hints = {}
    params = []
    variadic = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL):
            params.append(_go_type_of(hints.get(p.name)))
            variadic = p.kind is p.VAR_POSITIONAL
    return Func(name, fn, tuple(params), variadic)


_PY_TO_GO = {str: "string", int: "int", float: "float64", bool: "bool"}


def _go_type_of(hint: Any) -> str:
    """The Go parameter type a Python annotation stands for (interface{} by default)."""
    if hint is None:
        return ANY
    if hint in _PY_TO_GO:
        return _PY_TO_GO[hint]
    go = getattr(hint, "_go_type", None)
    return go if isinstance(go, str) else ANY


# -- helpers --------------------------------------------------------------------


def indirect_interface(v: Any) -> Any:
    return MISSING if v is None else v


def truth(v: Any) -> bool:
    return V.is_true(v)[0]


class IfaceArg:
    """A slice index whose Go static type is interface{} (slice does not unwrap it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _index_arg(index: Any, cap: int) -> int:
    if type(index) is IfaceArg:
        raise FuncError("cannot index slice/array with type interface {}")
    k = basic_kind(index)
    if k == V.INT_KIND or k == V.UINT_KIND:
        x = int(index)
    elif index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    else:
        raise FuncError("cannot index slice/array with type %s" % type_name(index))
    if x < 0 or x > cap:
        raise FuncError("index out of range: %d" % x)
    return x


# -- builtins -------------------------------------------------------------------


def b_index(item: Any, *indexes: Any) -> Any:
    item = indirect_interface(item)
    if item is MISSING:
        raise FuncError("index of untyped nil")
    for index in indexes:
        index = indirect_interface(index)
        if item is None:
            raise FuncError("index of nil pointer")
        if isinstance(item, str):
            b = V.to_bytes(item) if not item.isascii() else None
            n = len(b) if b is not None else len(item)
            x = _index_arg(index, n)
            if x == n:
                raise FuncError("reflect: string index out of range")
            item = Uint8(b[x] if b is not None else ord(item[x]))
        elif isinstance(item, (list, tuple)):
            x = _index_arg(index, len(item))
            if x == len(item):
                raise FuncError("reflect: slice index out of range")
            item = item[x]
        elif isinstance(item, dict):
            if index is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FuncError("value has type %s; should be string" % type_name(index))
            if index in item:
                item = item[index]
            else:
                item = getattr(item, "zero", None)
        else:
            raise FuncError("can't index item of type %s" % type_name(item))
    return item


def b_slice(item: Any, *indexes: Any) -> Any:
    item = indirect_interface(item)
    if item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError("too many slice indexes: %d" % len(indexes))
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data: Any = item if item.isascii() else V.to_bytes(item)
        cap = length = len(data)
    elif isinstance(item, (list, tuple)):
        data = item
        cap = length = len(item)
    else:
        raise FuncError("can't slice item of type %s" % type_name(item))
    idx = [0, length, 0]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, cap)
    if idx[0] > idx[1]:
        raise FuncError("invalid slice index: %d > %d" % (idx[0], idx[1]))
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError("invalid slice index: %d > %d" % (idx[1], idx[2]))
    out = data[idx[0] : idx[1]]
    if isinstance(out, bytes):
        out = V.from_bytes(out)
    # Go's slice keeps the item's type: a named string (event.Event) or a typed slice
    if isinstance(item, GoString):
        return type(item)(out)
    if isinstance(item, GoSlice):
        return GoSlice(out, item.go_type)
    return list(out) if isinstance(out, tuple) else out


def b_len(item: Any) -> int:
    if item is None:
        raise FuncError("len of nil pointer")
    if item is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return byte_len(item)
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    raise FuncError("len of type %s" % type_name(item))


def b_not(arg: Any) -> bool:
    return not truth(arg)


def _is_nil(v: Any) -> bool:
    return v is MISSING or v is None


def b_eq(arg1: Any, *arg2: Any) -> bool:
    arg1 = indirect_interface(arg1)
    if not arg2:
        raise FuncError("missing argument for comparison")
    k1 = basic_kind(arg1)
    for arg in arg2:
        arg = indirect_interface(arg)
        k2 = basic_kind(arg)
        if k1 != k2:
            if (k1 == V.INT_KIND and k2 == V.UINT_KIND) or (k1 == V.UINT_KIND and k2 == V.INT_KIND):
                t = arg1 == arg
            elif arg1 is not MISSING and arg is not MISSING:
                raise FuncError(
                    "incompatible types for comparison: %s and %s" % (type_name(arg1), type_name(arg))
                )
            else:
                t = False
        elif k1 != V.INVALID_KIND:
            t = arg1 == arg
        else:
            if not _can_compare(arg1, arg):
                raise FuncError(
                    "non-comparable types %s: %s, %s: %s"
                    % (gofmt.sprintf("%s", arg1), type_name(arg1), type_name(arg), gofmt.sprintf("%v", arg))
                )
            if _is_nil(arg1) or _is_nil(arg):
                t = _is_nil(arg) == _is_nil(arg1)
            else:
                if isinstance(arg, (dict, list, tuple)) or callable(arg):
                    raise FuncError("non-comparable type %s: %s" % (gofmt.sprintf("%s", arg), type_name(arg)))
                t = arg1 == arg
        if t:
            return True
    return False


def _kind_family(v: Any) -> str:
    if v is MISSING:
        return "invalid"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, (list, tuple)):
        return "slice"
    if v is None:
        return "interface"
    return "struct:" + type_name(v)


def _can_compare(a: Any, b: Any) -> bool:
    ka, kb = _kind_family(a), _kind_family(b)
    if ka.startswith("struct:") and kb.startswith("struct:"):
        return True  # both reflect.Struct
    return ka == kb or ka == "invalid" or kb == "invalid"


def b_ne(arg1: Any, arg2: Any) -> bool:
    return not b_eq(arg1, arg2)


def b_lt(arg1: Any, arg2: Any) -> bool:
    arg1 = indirect_interface(arg1)
    k1 = basic_kind(arg1)
    if k1 == V.INVALID_KIND:
        raise FuncError("invalid type for comparison")
    arg2 = indirect_interface(arg2)
    k2 = basic_kind(arg2)
    if k2 == V.INVALID_KIND:
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if (k1 == V.INT_KIND and k2 == V.UINT_KIND) or (k1 == V.UINT_KIND and k2 == V.INT_KIND):
            return arg1 < arg2
        raise FuncError("incompatible types for comparison: %s and %s" % (type_name(arg1), type_name(arg2)))
    if k1 == V.BOOL_KIND or k1 == V.COMPLEX_KIND:
        raise FuncError("invalid type for comparison")
    if k1 == V.STRING_KIND:
        return V.to_bytes(arg1) < V.to_bytes(arg2)
    return arg1 < arg2


def b_le(arg1: Any, arg2: Any) -> bool:
    return b_lt(arg1, arg2) or b_eq(arg1, arg2)


def b_gt(arg1: Any, arg2: Any) -> bool:
    return not b_le(arg1, arg2)


def b_ge(arg1: Any, arg2: Any) -> bool:
    return not b_lt(arg1, arg2)


def _eval_args(args: tuple) -> str:
    # text/template evalArgs: a lone string as is, else fmt.Sprint with nil as <no value>.
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return gofmt.sprint(*["<no value>" if a is None else a for a in args])


_HTML_ESC = {
    ord('"'): "&#34;",
    ord("'"): "&#39;",
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    0: "\ufffd",
}


def html_escape_string(s: str) -> str:
    """template.HTMLEscapeString (note: `+` is not escaped here)."""
    return s.translate(_HTML_ESC)


def b_html(*args: Any) -> str:
    return html_escape_string(_eval_args(args))


_JS_ESC = {
    ord("\\"): "\\\\",
    ord("'"): "\\'",
    ord('"'): '\\"',
    ord("<"): "\\u003C",
    ord(">"): "\\u003E",
    ord("&"): "\\u0026",
    ord("="): "\\u003D",
}


def js_escape_string(s: str) -> str:
    """template.JSEscapeString."""
    out = []
    for ch in s:
        o = ord(ch)
        rep = _JS_ESC.get(o)
        if rep is not None:
            out.append(rep)
        elif o < 0x20:
            out.append("\\u00%02X" % o)
        elif o < 0x80:
            out.append(ch)
        elif 0xDC80 <= o <= 0xDCFF or _is_print(ch):
            out.append(ch)  # an invalid byte decodes as U+FFFD, printable: kept raw
        else:
            out.append("\\u%04X" % o)
    return "".join(out)


def b_js(*args: Any) -> str:
    return js_escape_string(_eval_args(args))


def url_query_escape(s: str) -> str:
    """url.QueryEscape."""
    return quote_plus(V.to_bytes(s), safe="")


def b_urlquery(*args: Any) -> str:
    return url_query_escape(_eval_args(args))


def b_print(*args: Any) -> str:
    return gofmt.sprint(*args)


def b_println(*args: Any) -> str:
    return gofmt.sprintln(*args)


def b_printf(format: str, *args: Any) -> str:
    return gofmt.sprintf(format, *args)


def _unreachable(*args: Any) -> Any:  # and/or/call are special-cased by the executor
    raise AssertionError("unreachable")


BUILTINS: dict[str, Func] = {
    f.name: f
    for f in (
        Func("and", _unreachable, (VALUE, VALUE), True, True),
        Func("or", _unreachable, (VALUE, VALUE), True, True),
        Func("call", _unreachable, (VALUE, VALUE), True, True),
        Func("html", b_html, (ANY,), True, True),
        Func("index", b_index, (VALUE, VALUE), True, True),
        Func("slice", b_slice, (VALUE, VALUE), True, True),
        Func("js", b_js, (ANY,), True, True),
        Func("len", b_len, (VALUE,), False, True),
        Func("not", b_not, (VALUE,), False, True),
        Func("print", b_print, (ANY,), True, True),
        Func("printf", b_printf, ("string", ANY), True, True),
        Func("println", b_println, (ANY,), True, True),
        Func("urlquery", b_urlquery, (ANY,), True, True),
        Func("eq", b_eq, (VALUE, VALUE), True, True),
        Func("ge", b_ge, (VALUE, VALUE), False, True),
        Func("gt", b_gt, (VALUE, VALUE), False, True),
        Func("le", b_le, (VALUE, VALUE), False, True),
        Func("lt", b_lt, (VALUE, VALUE), False, True),
        Func("ne", b_ne, (VALUE, VALUE), False, True),
    )
}
