"""Execution: parse trees are compiled once into closures that mirror Go's
text/template exec.go step by step (including which node an error names).

Every closure takes the execution state `st` and the current dot. `st.at` tracks the
node being evaluated, as Go's state.at does, so that error messages name the same
node Go names. This module holds the runtime pieces the closures share; exprs.py and
compile.py build the closures and program.py runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from tykevents.gotemplate.values import GoStruct, go_methods

from . import gofmt
from .builtins import ANY, VALUE, Func, FuncError, describe
from .errors import ExecError, TemplateError, go_quote
from .govalues import MISSING, is_iface_field, type_name
from .nodes import Node, NumberNode

if TYPE_CHECKING:
    from .program import Program

MAX_EXEC_DEPTH = 100000
NO_FINAL: Any = object()  # Go's missingVal: nothing piped into a command
MK_DEFAULT, MK_ZERO, MK_ERROR = 0, 1, 2


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    __slots__ = ("out", "vars", "dot_iface", "name", "depth", "prog", "at")

    def __init__(self, prog: Program, name: str) -> None:
        self.out: list[str] = []
        self.vars: list[list[Any]] = []
        self.dot_iface = False  # does dot have Go static type interface{}?
        self.name = name
        self.depth = 0
        self.prog = prog
        self.at: Any = None


def fail(st: State, node: Node | None, msg: str) -> NoReturn:
    name = st.name
    if node is None:
        text = "template: %s: %s" % (name, msg)
    else:
        text = "template: %s: executing %s at <%s>: %s" % (node.location(), go_quote(name), str(node), msg)
    raise ExecError(text, name)


def format_value(v: Any) -> str:
    if type(v) is str:
        return v
    return gofmt.format_value(v)


# -- variables --------------------------------------------------------------


def var_entry(st: State, name: str) -> list[Any]:
    vs = st.vars
    for i in range(len(vs) - 1, -1, -1):
        if vs[i][0] == name:
            return vs[i]
    fail(st, st.at, "undefined variable: %s" % name)


def set_var(st: State, name: str, value: Any, iface: bool = False) -> None:
    e = var_entry(st, name)
    e[1] = value
    e[2] = iface


# -- fields -------------------------------------------------------------------


def field_step(
    st: State,
    dot: Any,
    name: str,
    node: Node,
    args: Sequence[Node] | None,
    final: Any,
    recv: Any,
    iface: bool,
) -> tuple[Any, bool]:
    """Go's evalField: one `.name` step on recv. Returns (value, value_is_interface)."""
    t = type(recv)
    if t is dict:  # map[string]interface{}: no methods, the common case
        if (args is not None and len(args) > 1) or final is not NO_FINAL:
            fail(st, st.at, "%s is not a method but has arguments" % name)
        v = recv.get(name, MISSING)
        if v is MISSING:
            mk = st.prog.missingkey
            if mk == MK_ZERO:
                return None, True
            if mk == MK_ERROR:
                fail(st, st.at, "map has no entry for key %s" % go_quote(name))
        return v, True
    if recv is MISSING:
        if st.prog.missingkey == MK_ERROR:
            fail(st, st.at, "nil data; no entry for key %s" % go_quote(name))
        return MISSING, False
    if recv is None:
        fail(st, st.at, "nil pointer evaluating interface {}.%s" % name)
    if t is GoStruct:
        fields = recv.fields
        if name in fields:
            if (args is not None and len(args) > 1) or final is not NO_FINAL:
                fail(st, st.at, "%s has arguments but cannot be invoked as function" % name)
            return fields[name], is_iface_field(recv, name)
    methods = go_methods(recv)
    if name in methods:
        return call_method(st, dot, methods[name], node, name, args, final), False
    if isinstance(recv, dict):  # a typed map (values.GoMap)
        if (args is not None and len(args) > 1) or final is not NO_FINAL:
            fail(st, st.at, "%s is not a method but has arguments" % name)
        v = recv.get(name, MISSING)
        if v is MISSING:
            mk = st.prog.missingkey
            if mk == MK_ZERO:
                return getattr(recv, "zero", None), False
            if mk == MK_ERROR:
                fail(st, st.at, "map has no entry for key %s" % go_quote(name))
        return v, False
    typ = "interface {}" if iface else type_name(recv)
    fail(st, st.at, "can't evaluate field %s in type %s" % (name, typ))


_SLOW: Any = object()


def fast_fields(recv: Any, idents: tuple[str, ...]) -> Any:
    """Follow plain field reads through structs and maps; _SLOW where anything else
    (a missing key, nil, a method, an error) needs Go's full rules."""
    for name in idents:
        t = type(recv)
        if t is GoStruct:
            try:  # one lookup; a struct's fields may answer more names than they hold (tykmeta)
                recv = recv.fields[name]
            except KeyError:
                return _SLOW
            continue
        if t is dict:
            recv = recv.get(name, _SLOW)
            if recv is _SLOW:
                return _SLOW
            continue
        return _SLOW
    return recv


def field_chain(
    st: State,
    dot: Any,
    recv: Any,
    iface: bool,
    node: Node,
    idents: Sequence[str],
    args: Sequence[Node] | None,
    final: Any,
) -> Any:
    for name in idents[:-1]:
        recv, iface = field_step(st, dot, name, node, None, NO_FINAL, recv, iface)
    return field_step(st, dot, idents[-1], node, args, final, recv, iface)[0]


def field_chain_iface(
    st: State,
    dot: Any,
    recv: Any,
    iface: bool,
    node: Node,
    idents: Sequence[str],
    args: Sequence[Node] | None,
    final: Any,
) -> tuple[Any, bool]:
    """field_chain, also telling whether the result has static type interface{}."""
    for name in idents[:-1]:
        recv, iface = field_step(st, dot, name, node, None, NO_FINAL, recv, iface)
    return field_step(st, dot, idents[-1], node, args, final, recv, iface)


# -- calls ----------------------------------------------------------------------

_method_cache: dict[tuple[type, str], Func] = {}


def call_method(
    st: State,
    dot: Any,
    fn: Callable[..., Any],
    node: Node,
    name: str,
    args: Sequence[Node] | None,
    final: Any,
) -> Any:
    key = (type(getattr(fn, "__self__", None)), name)
    f = _method_cache.get(key)
    if f is None:
        f = _method_cache[key] = describe(name, fn)
    else:
        f = Func(name, fn, f.params, f.variadic)
    argnodes = args[1:] if args is not None else []
    ev = st.prog.compiler
    return ev.generic_call(f, node, name, argnodes, final is not NO_FINAL)(st, dot, final)


def validate(st: State, value: Any, typ: str | None) -> Any:
    """Go's validateType: convert an evaluated value to a parameter type."""
    if value is MISSING:
        if typ is None or typ == VALUE:
            return MISSING
        if typ == ANY:
            return None
        fail(st, st.at, "invalid value; expected %s" % typ)
    if typ is None or typ == ANY or typ == VALUE:
        return value
    if _matches(value, typ):
        return value
    got = "interface {}" if value is None else type_name(value)
    fail(st, st.at, "wrong type for value; expected %s; got %s" % (typ, got))


def _matches(value: Any, typ: str) -> bool:
    t = type(value)
    if typ == "string":
        return t is str
    if typ == "int":
        return isinstance(value, int) and t is not bool
    if typ == "float64":
        return t is float
    if typ == "bool":
        return t is bool
    return value is not None and type_name(value) == typ


def invoke(st: State, f: Func, name: str, node: Node, argv: list[Any]) -> Any:
    try:
        return f.fn(*argv)
    except TemplateError:
        raise
    except FuncError as e:
        st.at = node
        fail(st, node, "error calling %s: %s" % (name, e))
    except Exception as e:  # a user function failed: Go reports its error the same way
        st.at = node
        fail(st, node, "error calling %s: %s" % (name, e))


def ideal_constant(n: NumberNode) -> Callable[[State], Any]:
    """The value of a number literal where no type is known (Go's idealConstant)."""
    t = n.text
    if n.is_complex:
        v = n.complex128
    elif (
        n.is_float
        and not (len(t) > 2 and t[0] == "0" and t[1] in "xX" and not any(c in t for c in "pP"))
        and not t.startswith("'")
        and any(c in t for c in ".eEpP")
    ):
        v = n.float64
    elif n.is_int:
        v = n.int64
    else:

        def over(st: State) -> NoReturn:
            st.at = n
            fail(st, n, "%s overflows int" % t)

        return over

    def const(st: State) -> Any:
        st.at = n
        return v

    return const
