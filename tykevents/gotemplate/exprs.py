"""Compiles pipelines, commands, arguments and function calls (exec.go's eval*
functions) into closures; compile.py builds the statements on top of these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import builtins as B
from .builtins import ANY, VALUE, Func, describe
from .errors import go_quote
from .exec import (
    _SLOW,
    NO_FINAL,
    State,
    fail,
    fast_fields,
    field_chain,
    field_chain_iface,
    format_value,
    ideal_constant,
    invoke,
    set_var,
    validate,
    var_entry,
)
from .govalues import MISSING, type_name
from .nodes import (
    BoolNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    VariableNode,
)

if TYPE_CHECKING:
    from .program import Program

Run = Callable[[State, Any], Any]  # (state, dot) -> value: a statement or an argument
Cmd = Callable[[State, Any, Any], Any]  # (state, dot, final) -> value: a command


def _not_a_function(st: State, args: list[Node], final: Any) -> None:
    if len(args) > 1 or final is not NO_FINAL:
        fail(st, st.at, "can't give argument to non-function %s" % args[0])


class ExprCompiler:
    """Expressions; subclassed by compile.Compiler (which provides self.prog)."""

    prog: Program

    def pipe(self, p: PipeNode) -> Run:
        cmds = [self.command(c, i > 0) for i, c in enumerate(p.cmds)]
        decl = [v.ident[0] for v in p.decl]
        is_assign = p.is_assign
        if len(cmds) == 1 and not decl:
            c0 = cmds[0]

            def pipe1(st: State, dot: Any) -> Any:
                st.at = p
                v = c0(st, dot, NO_FINAL)
                return MISSING if v is None else v

            return pipe1
        if len(cmds) == 2 and not decl:
            c0, c1 = cmds

            def pipe2(st: State, dot: Any) -> Any:
                st.at = p
                v = c0(st, dot, NO_FINAL)
                v = c1(st, dot, MISSING if v is None else v)
                return MISSING if v is None else v

            return pipe2

        def run(st: State, dot: Any) -> Any:
            st.at = p
            v = NO_FINAL
            for c in cmds:
                v = c(st, dot, v)
                if v is None:
                    v = MISSING  # a nil interface{} unwraps to an invalid value
            for name in decl:
                if is_assign:
                    set_var(st, name, v)
                else:
                    st.vars.append([name, v, False])
            return v

        return run

    def command(self, cmd: CommandNode, has_final: bool) -> Cmd:
        first = cmd.args[0]
        args = cmd.args
        if isinstance(first, FieldNode):
            idents = tuple(first.ident)
            plain = len(args) == 1

            def field_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                if plain and final is NO_FINAL:
                    v = fast_fields(dot, idents)
                    if v is not _SLOW:
                        return v
                return field_chain(st, dot, dot, st.dot_iface, first, idents, args, final)

            return field_cmd
        if isinstance(first, ChainNode):
            head = self.arg(first.node, None)
            fields = first.field

            def chain_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                if isinstance(first.node, NilNode):
                    fail(st, first, "indirection through explicit nil in %s" % first)
                recv = head(st, dot)
                return field_chain(st, dot, recv, False, first, fields, args, final)

            return chain_cmd
        if isinstance(first, IdentifierNode):
            return self.func_call(first, cmd, args[1:], has_final)
        if isinstance(first, PipeNode):
            inner = self.pipe(first)

            def pipe_cmd(st: State, dot: Any, final: Any) -> Any:
                _not_a_function(st, args, final)
                return inner(st, dot)

            return pipe_cmd
        if isinstance(first, VariableNode):
            vname = first.ident[0]
            rest = first.ident[1:]

            def var_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                e = var_entry(st, vname)
                if not rest:
                    _not_a_function(st, args, final)
                    return e[1]
                return field_chain(st, dot, e[1], e[2], first, rest, args, final)

            return var_cmd
        # literals, dot and nil
        if isinstance(first, NumberNode):
            const = ideal_constant(first)

            def num_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                _not_a_function(st, args, final)
                return const(st)

            return num_cmd
        if isinstance(first, (BoolNode, StringNode)):
            value = first.true if isinstance(first, BoolNode) else first.text

            def lit_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                _not_a_function(st, args, final)
                return value

            return lit_cmd
        if isinstance(first, DotNode):

            def dot_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                _not_a_function(st, args, final)
                return dot

            return dot_cmd
        if isinstance(first, NilNode):

            def nil_cmd(st: State, dot: Any, final: Any) -> Any:
                st.at = first
                _not_a_function(st, args, final)
                fail(st, first, "nil is not a command")

            return nil_cmd
        raise AssertionError("can't evaluate command %r" % first)

    # -- arguments ------------------------------------------------------------------
    def arg(self, n: Node, typ: str | None) -> Run:
        """Go's evalArg: evaluate node n for a parameter of Go type typ."""
        if isinstance(n, DotNode):

            def dot_arg(st: State, dot: Any) -> Any:
                st.at = n
                return validate(st, dot, typ)

            return dot_arg
        if isinstance(n, NilNode):

            def nil_arg(st: State, dot: Any) -> Any:
                st.at = n
                if typ == ANY:
                    return None
                if typ == VALUE:
                    return MISSING
                fail(st, n, "cannot assign nil to %s" % typ)

            return nil_arg
        if isinstance(n, FieldNode):
            idents = tuple(n.ident)
            single = [n]
            check = typ not in (None, ANY, VALUE)

            def field_arg(st: State, dot: Any) -> Any:
                st.at = n
                v = fast_fields(dot, idents)
                if v is _SLOW:
                    v = field_chain(st, dot, dot, st.dot_iface, n, idents, single, NO_FINAL)
                return validate(st, v, typ) if check or v is MISSING else v

            return field_arg
        if isinstance(n, VariableNode):
            cmd = self.command(_one_arg_cmd(n), False)
            return lambda st, dot: validate(st, cmd(st, dot, NO_FINAL), typ)
        if isinstance(n, PipeNode):
            inner = self.pipe(n)

            def pipe_arg(st: State, dot: Any) -> Any:
                st.at = n
                return validate(st, inner(st, dot), typ)

            return pipe_arg
        if isinstance(n, IdentifierNode):
            call = self.func_call(n, n, [], False)

            def ident_arg(st: State, dot: Any) -> Any:
                st.at = n
                return validate(st, call(st, dot, NO_FINAL), typ)

            return ident_arg
        if isinstance(n, ChainNode):
            cmd = self.command(_one_arg_cmd(n), False)

            def chain_arg(st: State, dot: Any) -> Any:
                st.at = n
                return validate(st, cmd(st, dot, NO_FINAL), typ)

            return chain_arg
        # literals
        if typ in (ANY, VALUE, None):
            if isinstance(n, NumberNode):
                const = ideal_constant(n)
                return lambda st, dot: const(st)
            if isinstance(n, (BoolNode, StringNode)):
                value = n.true if isinstance(n, BoolNode) else n.text

                def lit(st: State, dot: Any) -> Any:
                    st.at = n
                    return value

                return lit
        if typ == "string" and isinstance(n, StringNode):
            return _const(n, n.text)
        if typ == "bool" and isinstance(n, BoolNode):
            return _const(n, n.true)
        ptype = typ or ""  # no type (None) took the literal paths above
        kind = _INT_KINDS.get(ptype)
        if kind is not None and isinstance(n, NumberNode) and n.is_int:
            return _const(n, kind(n.int64))
        if typ == "float64" and isinstance(n, NumberNode) and n.is_float:
            return _const(n, n.float64)
        expected = (
            "integer"
            if kind is not None
            else {"string": "string", "bool": "bool", "float64": "float"}.get(ptype)
        )
        if expected is not None:
            msg = "expected %s; found %s" % (expected, n)
        else:
            msg = "can't handle %s for arg of type %s" % (n, typ)

        def bad(st: State, dot: Any) -> Any:
            st.at = n
            fail(st, n, msg)

        return bad

    # -- function calls -------------------------------------------------------------
    def func_call(self, ident: IdentifierNode, node: Node, argnodes: Sequence[Node], has_final: bool) -> Cmd:
        name = ident.ident
        f = self.prog.funcs.get(name)
        if f is None:

            def undefined(st: State, dot: Any, final: Any) -> Any:
                st.at = ident
                fail(st, ident, "%s is not a defined function" % go_quote(name))

            return undefined
        call = self.generic_call(f, node, name, argnodes, has_final)

        def run(st: State, dot: Any, final: Any) -> Any:
            st.at = ident
            return call(st, dot, final)

        return run

    def generic_call(self, f: Func, node: Node, name: str, argnodes: Sequence[Node], has_final: bool) -> Cmd:
        """Go's evalCall, specialised on the (static) argument count."""
        num_in = len(argnodes) + (1 if has_final else 0)
        nparams = len(f.params)
        if f.variadic:
            num_fixed = nparams - 1
            if num_in < num_fixed:
                msg = "wrong number of args for %s: want at least %d got %d" % (
                    name,
                    nparams - 1,
                    len(argnodes),
                )
                return _failing(msg)
        elif num_in != nparams:
            msg = "wrong number of args for %s: want %d got %d" % (name, nparams, num_in)
            return _failing(msg)
        else:
            num_fixed = nparams
        if f.builtin and name in ("and", "or"):
            return self._and_or(name == "or", [self.arg(a, VALUE) for a in argnodes])
        arg_fns = [self.arg(a, f.param_type(i, num_in)) for i, a in enumerate(argnodes)]
        final_type = None
        if has_final:
            if f.variadic:
                final_type = f.params[num_in - 1] if num_in - 1 < num_fixed else f.params[-1]
            else:
                final_type = f.params[-1]
        if f.builtin and name == "call":
            return self._call_builtin(node, argnodes, arg_fns, final_type)
        if f.builtin and name == "slice":
            # slice (unlike index) does not unwrap interface{} indexes: Go rejects them.
            arg_fns = arg_fns[:1] + [
                self._iface_marked_arg(a, fn) for a, fn in zip(argnodes[1:], arg_fns[1:], strict=True)
            ]
        if (
            f.builtin
            and name == "printf"
            and not has_final
            and len(argnodes) == 2
            and isinstance(argnodes[0], StringNode)
            and argnodes[0].text == "%T"
        ):
            from .gofmt import go_type_name  # printf "%T" x is the type's name

            a1 = arg_fns[1]
            fmt_node = argnodes[0]

            def printf_type(st: State, dot: Any, final: Any) -> Any:
                st.at = fmt_node
                return go_type_name(a1(st, dot))

            return printf_type
        if f.builtin and name.startswith("_html_template_") and not arg_fns and has_final:
            fn = f.fn

            def escape_final(st: State, dot: Any, final: Any) -> Any:  # html/template's escapers never fail
                return fn(None if final is MISSING else final)

            return escape_final
        str_args = [a for a in argnodes[1:] if isinstance(a, StringNode)]
        if (
            f.builtin
            and name == "eq"
            and len(arg_fns) >= 2
            and not has_final
            and len(str_args) == len(argnodes) - 1
        ):
            # {{eq .Type "A" "B"}}: strings compare without the general machinery.
            consts = frozenset(a.text for a in str_args)
            last = argnodes[-1]
            a0 = arg_fns[0]
            if isinstance(argnodes[0], FieldNode):
                idents = tuple(argnodes[0].ident)

                def eq_field_str(st: State, dot: Any, final: Any) -> Any:
                    x = fast_fields(dot, idents)
                    if isinstance(x, str):  # a named string type too
                        st.at = last
                        return x in consts
                    return invoke(st, f, name, node, [a(st, dot) for a in arg_fns])

                return eq_field_str

            def eq_str(st: State, dot: Any, final: Any) -> Any:
                x = a0(st, dot)  # evaluated once, as Go does
                if isinstance(x, str):
                    st.at = last
                    return x in consts
                return invoke(st, f, name, node, [x] + [a(st, dot) for a in arg_fns[1:]])

            return eq_str
        if f.builtin and name == "eq" and len(arg_fns) == 2 and not has_final:
            a1, a2 = arg_fns

            def eq2(st: State, dot: Any, final: Any) -> Any:
                x = a1(st, dot)
                y = a2(st, dot)
                if isinstance(x, str) and isinstance(y, str):
                    return x == y
                return invoke(st, f, name, node, [x, y])

            return eq2
        if has_final:

            def call_final(st: State, dot: Any, final: Any) -> Any:
                argv = [a(st, dot) for a in arg_fns]
                argv.append(validate(st, final, final_type))
                return invoke(st, f, name, node, argv)

            return call_final
        if len(arg_fns) == 1:
            a0 = arg_fns[0]
            return lambda st, dot, final: invoke(st, f, name, node, [a0(st, dot)])
        if len(arg_fns) == 2:
            a0, a1 = arg_fns
            return lambda st, dot, final: invoke(st, f, name, node, [a0(st, dot), a1(st, dot)])

        def call(st: State, dot: Any, final: Any) -> Any:
            return invoke(st, f, name, node, [a(st, dot) for a in arg_fns])

        return call

    def _iface_marked_arg(self, n: Node, plain: Run) -> Run:
        """An argument evaluator that wraps values of static type interface{}."""
        if isinstance(n, DotNode):

            def dot_arg(st: State, dot: Any) -> Any:
                st.at = n
                return B.IfaceArg(dot) if st.dot_iface and dot is not MISSING else dot

            return dot_arg
        if isinstance(n, FieldNode) or (isinstance(n, VariableNode) and len(n.ident) > 1):
            is_var = isinstance(n, VariableNode)
            idents = n.ident[1:] if is_var else n.ident
            single = [n]

            def field_arg(st: State, dot: Any) -> Any:
                st.at = n
                if is_var:
                    e = var_entry(st, n.ident[0])
                    recv, iface = e[1], e[2]
                else:
                    recv, iface = dot, st.dot_iface
                v, iface = field_chain_iface(st, dot, recv, iface, n, idents, single, NO_FINAL)
                return B.IfaceArg(v) if iface and v is not MISSING else v

            return field_arg
        if isinstance(n, VariableNode):

            def var_arg(st: State, dot: Any) -> Any:
                st.at = n
                e = var_entry(st, n.ident[0])
                return B.IfaceArg(e[1]) if e[2] and e[1] is not MISSING else e[1]

            return var_arg
        return plain

    def _and_or(self, is_or: bool, arg_fns: list[Run]) -> Cmd:
        def run(st: State, dot: Any, final: Any) -> Any:
            v = MISSING
            for a in arg_fns:
                v = a(st, dot)
                if B.truth(v) == is_or:
                    return v
            if final is not NO_FINAL:
                v = final
            return v

        return run

    def _call_builtin(
        self, node: Node, argnodes: Sequence[Node], arg_fns: list[Run], final_type: str | None
    ) -> Cmd:
        def run(st: State, dot: Any, final: Any) -> Any:
            argv = [a(st, dot) for a in arg_fns]
            if final is not NO_FINAL:
                argv.append(validate(st, final, final_type))
            callee = str(argnodes[0]) if argnodes else format_value(final)
            fn = B.indirect_interface(argv[0])
            if fn is MISSING:
                st.at = node
                fail(st, node, "error calling call: call of nil")
            if not callable(fn) or hasattr(type(fn), "_go_methods"):
                st.at = node
                fail(st, node, "error calling call: non-function %s of type %s" % (callee, type_name(fn)))
            g = describe(callee, fn)
            args = [B.indirect_interface(a) for a in argv[1:]]
            n = len(g.params)
            if g.variadic and len(args) < n - 1:
                fail(
                    st,
                    node,
                    "error calling call: wrong number of args for %s: got %d want at "
                    "least %d" % (callee, len(args), n - 1),
                )
            if not g.variadic and len(args) != n:
                fail(
                    st,
                    node,
                    "error calling call: wrong number of args for %s: got %d want %d"
                    % (callee, len(args), n),
                )
            args = [None if a is MISSING else a for a in args]
            return invoke(st, Func("call", fn, g.params, g.variadic), "call", node, args)

        return run


def _int_kinds() -> dict[str, Any]:
    from tykevents.golang.time import GoDuration

    return {"int": int, "int64": int, "time.Duration": GoDuration}


# Parameter types of integer kind: a number literal argument converts to them.
_INT_KINDS = _int_kinds()


def _failing(msg: str) -> Cmd:
    def run(st: State, dot: Any, final: Any) -> Any:
        fail(st, st.at, msg)

    return run


def _const(n: Node, value: Any) -> Run:
    def run(st: State, dot: Any) -> Any:
        st.at = n
        return value

    return run


def _one_arg_cmd(n: Node) -> CommandNode:
    c = CommandNode(n.pos, n.tree)
    c.args = [n]
    return c
