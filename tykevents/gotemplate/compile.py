"""Compiles parse trees into closures (see exec.py for the runtime pieces).

Each `node` method returns a closure taking (state, dot); control flow uses Python
loops and two private exceptions for break/continue. Specialised closures cover the
shapes the default webhook templates use (an `if eq .Type "..."` chain, escaped
field prints) without changing what Go would do; exprs.py compiles the expressions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import go_quote
from .exec import MAX_EXEC_DEPTH, State, _Break, _Continue, fail, fast_fields, format_value, set_var
from .exprs import ExprCompiler, Run
from .govalues import MISSING, is_true, type_name
from .nodes import (
    ActionNode,
    BranchNode,
    BreakNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    Node,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    WithNode,
)
from .values import GoString

if TYPE_CHECKING:
    from .program import Program


class Compiler(ExprCompiler):
    def __init__(self, prog: Program) -> None:
        self.prog = prog

    # -- structure --------------------------------------------------------------
    def template(self, tree: Tree) -> Run:
        return self.list(tree.root)

    def list(self, lst: ListNode | None) -> Run:
        if lst is None:
            return lambda st, dot: None
        parts: list[Run] = []
        nodes = lst.nodes
        i = 0
        while i < len(nodes):
            n = nodes[i]
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            if isinstance(n, TextNode) and isinstance(nxt, ActionNode) and not nxt.pipe.decl:
                parts.append(self.action(nxt, n.text))  # text and action in one step
                i += 2
                continue
            part = self.node(n)
            if part is not None:
                parts.append(part)
            i += 1
        if not parts:
            return lambda st, dot: None
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts

            def run2(st: State, dot: Any) -> None:
                a(st, dot)
                b(st, dot)

            return run2

        def run(st: State, dot: Any) -> None:
            for p in parts:
                p(st, dot)

        return run

    def node(self, n: Node) -> Run | None:
        if isinstance(n, TextNode):
            text = n.text

            def text_run(st: State, dot: Any) -> None:
                st.out.append(text)

            return text_run
        if isinstance(n, ActionNode):
            return self.action(n)
        if isinstance(n, CommentNode):
            return None
        if isinstance(n, IfNode):
            return self.if_with(n, False)
        if isinstance(n, WithNode):
            return self.if_with(n, True)
        if isinstance(n, RangeNode):
            return self.range(n)
        if isinstance(n, TemplateNode):
            return self.template_call(n)
        if isinstance(n, BreakNode):

            def brk(st: State, dot: Any) -> None:
                st.at = n
                raise _Break

            return brk
        if isinstance(n, ContinueNode):

            def cont(st: State, dot: Any) -> None:
                st.at = n
                raise _Continue

            return cont
        if isinstance(n, ListNode):
            return self.list(n)
        raise AssertionError("unknown node %r" % n)

    def action(self, n: ActionNode, prefix: str = "") -> Run:
        """An action; `prefix` is the text before it, written first as Go would."""
        pipe = self.pipe(n.pipe)
        if n.pipe.decl:
            return pipe
        cmds = n.pipe.cmds
        first = cmds[0].args[0]
        if self.prog.html and _is_escaper_cmd(cmds[-1]):
            escaper = cmds[-1].args[0]
            if (
                isinstance(first, FieldNode)
                and len(cmds[0].args) == 1
                and len(cmds) == 2
                and not cmds[1].args[1:]
                and isinstance(escaper, IdentifierNode)
                and escaper.ident == "_html_template_htmlescaper"
            ):
                idents = tuple(first.ident)
                from .escapers import html_escape_str as esc

                def run_field_escaped(st: State, dot: Any) -> None:  # {{.A.B}} as text in HTML
                    out = st.out
                    if prefix:
                        out.append(prefix)
                    v = fast_fields(dot, idents)
                    if type(v) is not str and not isinstance(v, GoString):
                        v = pipe(st, dot)  # Go's full rules; field reads have no side effects
                    else:
                        v = esc(v)
                    st.at = n
                    out.append(v)

                return run_field_escaped

            def run_escaped(st: State, dot: Any) -> None:  # the escaper always yields a string
                if prefix:
                    st.out.append(prefix)
                v = pipe(st, dot)
                st.at = n
                st.out.append(v)

            return run_escaped

        def run_print(st: State, dot: Any) -> None:
            if prefix:
                st.out.append(prefix)
            v = pipe(st, dot)
            st.at = n
            if type(v) is str:
                st.out.append(v)
            elif v is MISSING:
                st.out.append("<no value>")
            else:
                if callable(v) and not hasattr(type(v), "_go_methods"):
                    fail(st, n, "can't print %s of type %s" % (n, type_name(v)))
                st.out.append(format_value(v))

        return run_print

    def if_with(self, n: BranchNode, is_with: bool) -> Run:
        pipe = self.pipe(n.pipe)
        body = self.list(n.list)
        other = self.list(n.else_list) if n.else_list is not None else None
        if not is_with and not _declares(n):
            dispatch = self._eq_chain(n)
            if dispatch is not None:
                return dispatch

            def run_if(st: State, dot: Any) -> None:  # nothing to pop: no variable can be declared here
                val = pipe(st, dot)
                if val is True:
                    body(st, dot)
                    return
                if val is False:
                    if other is not None:
                        other(st, dot)
                    return
                truth, ok = is_true(val)
                if not ok:
                    fail(st, st.at, "if/with can't use %s" % format_value(val))
                if truth:
                    body(st, dot)
                elif other is not None:
                    other(st, dot)

            return run_if

        def run(st: State, dot: Any) -> None:
            mark = len(st.vars)
            val = pipe(st, dot)
            truth, ok = is_true(val)
            if not ok:
                fail(st, st.at, "if/with can't use %s" % format_value(val))
            if truth:
                if is_with:
                    saved = st.dot_iface
                    st.dot_iface = False
                    body(st, val)
                    st.dot_iface = saved
                else:
                    body(st, dot)
            elif other is not None:
                other(st, dot)
            del st.vars[mark:]

        return run

    def _eq_chain(self, n: BranchNode) -> Run | None:
        """`if eq .F "a"` / `else if eq .F "b" "c"` / ... on one field, as a dict lookup.

        The field is read once; when it is a string the first branch naming it runs,
        exactly as the chain of comparisons would choose. Anything else (not a string,
        not a plain field read) runs the ordinary chain, so errors stay Go's."""
        links: list[IfNode] = []
        idents = None
        node: Any = n
        while isinstance(node, IfNode) and not _declares(node):
            cmds = node.pipe.cmds
            if len(cmds) != 1:
                break
            args = cmds[0].args
            if not (
                len(args) >= 3
                and isinstance(args[0], IdentifierNode)
                and args[0].ident == "eq"
                and isinstance(args[1], FieldNode)
                and all(isinstance(a, StringNode) for a in args[2:])
            ):
                break
            if idents is None:
                idents = tuple(args[1].ident)
            elif tuple(args[1].ident) != idents:
                break
            links.append(node)
            el = node.else_list
            if el is None or len(el.nodes) != 1 or not isinstance(el.nodes[0], IfNode):
                node = None
                break
            node = el.nodes[0]
        f = self.prog.funcs.get("eq")
        if len(links) < 2 or f is None or not f.builtin:
            return None
        assert idents is not None  # set by the first link
        table: dict[str, tuple[Run, Any]] = {}
        for link in links:
            args = link.pipe.cmds[0].args
            body = self.list(link.list)
            for a in args[2:]:
                assert isinstance(a, StringNode)  # checked while collecting the links
                table.setdefault(a.text, (body, args[-1]))
        tail = links[-1].else_list
        rest = self.list(tail) if tail is not None else None
        slow = self._plain_if(links[0])

        def run_chain(st: State, dot: Any) -> None:
            x = fast_fields(dot, idents)
            if not isinstance(x, str):  # a named string type compares too
                return slow(st, dot)
            hit = table.get(x)
            if hit is not None:
                st.at = hit[1]
                hit[0](st, dot)
            elif rest is not None:
                rest(st, dot)

        return run_chain

    def _plain_if(self, n: IfNode) -> Run:
        pipe = self.pipe(n.pipe)
        body = self.list(n.list)
        other = self.list(n.else_list) if n.else_list is not None else None

        def run(st: State, dot: Any) -> None:
            val = pipe(st, dot)
            truth, ok = is_true(val)
            if truth:
                body(st, dot)
            elif other is not None:
                other(st, dot)

        return run

    def range(self, n: RangeNode) -> Run:
        pipe = self.pipe(n.pipe)
        body = self.list(n.list)
        other = self.list(n.else_list) if n.else_list is not None else None
        decl = [v.ident[0] for v in n.pipe.decl]
        is_assign = n.pipe.is_assign

        def iteration(st: State, mark: int, index: Any, elem: Any, elem_iface: bool) -> None:
            if decl:
                if is_assign:
                    if len(decl) > 1:
                        set_var(st, decl[0], index)
                    else:
                        set_var(st, decl[0], elem, elem_iface)
                else:
                    e = st.vars[-1]
                    e[1] = elem
                    e[2] = elem_iface
            if len(decl) > 1:
                if is_assign:
                    set_var(st, decl[1], elem, elem_iface)
                else:
                    e = st.vars[-2]
                    e[1] = index
                    e[2] = False
            saved = st.dot_iface
            st.dot_iface = elem_iface
            try:
                body(st, elem)
            except _Continue:
                pass
            finally:
                st.dot_iface = saved
                del st.vars[mark:]

        def run(st: State, dot: Any) -> None:
            st.at = n
            mark0 = len(st.vars)
            try:
                val = pipe(st, dot)
                mark = len(st.vars)
                ran = False
                t = type(val)
                if t is list or t is tuple:
                    for i, elem in enumerate(val):
                        ran = True
                        iteration(st, mark, i, elem, True)
                elif isinstance(val, dict):
                    iface = t is dict
                    for k in sorted(val):
                        ran = True
                        iteration(st, mark, k, val[k], iface)
                elif isinstance(val, int) and not isinstance(val, bool):
                    if len(decl) > 1:
                        fail(
                            st,
                            st.at,
                            "can't use %s to iterate over more than one variable" % format_value(val),
                        )
                    cls = type(val)
                    for i in range(int(val)):
                        ran = True
                        iteration(st, mark, MISSING, cls(i) if cls is not int else i, False)
                elif val is MISSING:
                    pass
                elif isinstance(val, (list, tuple)):
                    iface = not hasattr(val, "go_type")  # a GoSlice's elements have its element type
                    for i, elem in enumerate(val):
                        ran = True
                        iteration(st, mark, i, elem, iface)
                else:
                    fail(st, st.at, "range can't iterate over %s" % format_value(val))
                if not ran and other is not None:
                    other(st, dot)
            except _Break:
                pass
            finally:
                del st.vars[mark0:]

        return run

    def template_call(self, n: TemplateNode) -> Run:
        pipe = self.pipe(n.pipe) if n.pipe is not None else None
        name = n.name
        prog = self.prog

        def run(st: State, dot: Any) -> None:
            st.at = n
            runner = prog.runner(name)
            if runner is None:
                fail(st, n, "template %s not defined" % go_quote(name))
            if st.depth == MAX_EXEC_DEPTH:
                fail(st, n, "exceeded maximum template depth (%d)" % MAX_EXEC_DEPTH)
            new_dot = pipe(st, dot) if pipe is not None else MISSING
            saved = (st.vars, st.name, st.dot_iface, st.at)
            st.vars = [["$", new_dot, False]]
            st.name = name
            st.dot_iface = False
            st.depth += 1
            try:
                runner(st, new_dot)
            except RecursionError:
                # Python's stack ends long before Go's 100000 levels.
                st.vars, st.name, st.dot_iface, st.at = saved
                fail(st, n, "exceeded maximum template depth (%d)" % MAX_EXEC_DEPTH)
            st.depth -= 1
            st.vars, st.name, st.dot_iface, st.at = saved

        return run

    # -- pipelines ----------------------------------------------------------------


def _declares(n: BranchNode) -> bool:
    """Whether a branch's pipeline or its own lists can push variables."""
    if n.pipe.decl:
        return True
    for lst in (n.list, n.else_list):
        if lst is not None:
            for m in lst.nodes:
                if isinstance(m, ActionNode) and m.pipe.decl:
                    return True
    return False


def _is_escaper_cmd(cmd: CommandNode) -> bool:
    a = cmd.args[0]
    return (
        isinstance(a, IdentifierNode)
        and a.ident.startswith("_html_template_")
        and a.ident not in ("_html_template_urlfilter", "_html_template_cssvaluefilter")
    )
