"""Static field checking: which `.A.B` chains of a parsed template cannot resolve for a data
root of known Go type, found before any Execute does.

An abstract interpreter walks the executed trees (the top-level template and every
`{{template}}` it calls, after html/template's escaping) with an abstract dot: a Go type
name, or unknown. It follows dot through `with`, `range` and template calls and variables
through `:=` and `=`, and folds conditions it can decide (string constants, `eq`/`ne`/`not`/
`and`/`or`, `printf "%T"`, the truth of a struct), so that a branch that cannot run for this
root is not checked. A step on a type that has no such field or method is a Finding with
Go's own message (exec.go's evalField). Unknown stays unknown: interface values of unknown
dynamic type, function and method results, map elements of interface type. Nothing is
reported there, so a Finding is always an error Go would raise when that node runs.

A Finding is `sure` when the node runs on every execution with this root (not under a
condition we could not decide, in a range body or past a map key that may be absent).
The types are described by the caller (TypeEnv): the engine knows Go, not the data.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import go_quote
from .exec import MK_ZERO
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    Tree,
    VariableNode,
    WithNode,
)

if TYPE_CHECKING:
    from . import Template

IFACE = "interface {}"
_BASIC = frozenset(
    "bool string int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr "
    "float32 float64 complex64 complex128".split()
)
# Method sets of the Go library types templates meet, pointer receivers included (a
# pointer method is callable on an addressable value: listing it can only hide a report).
GO_METHODS: dict[str, frozenset[str]] = {
    "time.Time": frozenset(
        "Add AddDate After AppendBinary AppendFormat AppendText Before Clock Compare Date Day "
        "Equal Format GoString GobDecode GobEncode Hour ISOWeek In IsDST IsZero Local Location "
        "MarshalBinary MarshalJSON MarshalText Minute Month Nanosecond Round Second String Sub "
        "Truncate UTC Unix UnixMicro UnixMilli UnixNano UnmarshalBinary UnmarshalJSON "
        "UnmarshalText Weekday Year YearDay Zone ZoneBounds".split()
    ),
    "time.Duration": frozenset(
        "Abs Hours Microseconds Milliseconds Minutes Nanoseconds Round Seconds String Truncate".split()
    ),
}
_NO: Any = object()  # no known constant
_DEPTH = 32  # template calls followed; deeper ones are left unchecked


@dataclass(frozen=True)
class TypeEnv:
    """The Go types a root may contain. `structs`: struct name -> field -> Go type, with
    promoted fields and embedded struct names (Go resolves both); a field of type
    "interface {}" has an unknown dynamic type unless an AV's `fields` says it. `named`:
    named types -> their method sets (structs too, for their methods); a type found in
    neither, and not one of Go's basic, slice or map types, is treated as unknown."""

    structs: Mapping[str, Mapping[str, str]]
    named: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def methods(self, typ: str) -> frozenset[str] | None:
        """The method set of `typ`, or None when nothing is known of it."""
        if typ in self.named:
            return self.named[typ]
        if typ in GO_METHODS:
            return GO_METHODS[typ]
        if typ in self.structs or typ in _BASIC or typ.startswith(("[]", "map[")):
            return frozenset()
        return None


@dataclass(frozen=True)
class AV:
    """An abstract value: its Go dynamic type (None: unknown), whether its static type is
    interface{} (Go's messages then say "interface {}"), a known constant, per-field
    overrides (a root's interface fields with known contents), and `sure`: False when the
    value may be Go's invalid value (a missing map key), on which field steps never fail."""

    typ: str | None = None
    iface: bool = False
    const: Any = _NO
    fields: tuple[tuple[str, AV], ...] = ()
    sure: bool = True
    truth: bool | None = None  # Go's IsTrue, when known without a constant (and/or results)


UNKNOWN = AV()


@dataclass(frozen=True)
class Finding:
    node: Node  # the node Go's error names (`at <...>`) and locates
    template: str  # the template being executed (`executing "..."`)
    message: str  # Go's message, e.g. "can't evaluate field X in type string"
    sure: bool  # reached on every execution with this root
    suggestions: tuple[str, ...] = ()

    @property
    def line_col(self) -> tuple[int, int]:
        return self.node.tree.location(self.node.pos)

    def go_error(self) -> str:
        """The whole error Go's Execute returns."""
        line, col = self.line_col
        return "template: %s:%d:%d: executing %s at <%s>: %s" % (
            self.node.tree.parse_name,
            line,
            col,
            go_quote(self.template),
            self.node,
            self.message,
        )


def check_fields(tpl: Template, root: AV, env: TypeEnv, *, name: str | None = None) -> list[Finding]:
    """Findings for executing template `name` (default: the set's own) with data `root`."""
    trees = tpl._trees
    target = tpl.name if name is None else name
    if target not in trees:
        return []
    if tpl.escape_error(target) is not None:  # check what runs: the escaped trees
        return []  # every execute fails before any field is reached (Template.escape_error)
    walker = _Walker(trees, env, tpl._prog.missingkey == MK_ZERO)
    walker.run(trees[target], root, True, 0)
    out: dict[tuple[int, int, str], Finding] = {}
    for f in walker.found:
        key = (id(f.node.tree), f.node.pos, f.message)
        if key not in out or (f.sure and not out[key].sure):
            out[key] = f
    return sorted(out.values(), key=lambda f: (f.node.tree.parse_name, f.line_col))


class _Stop(Exception):
    """break/continue: the rest of the list does not run."""


class _Walker:
    def __init__(self, trees: Mapping[str, Tree], env: TypeEnv, zero_keys: bool) -> None:
        self.trees = trees
        self.env = env
        self.zero_keys = zero_keys  # missingkey=zero: a missing key is a zero value, not invalid
        self.found: list[Finding] = []
        self.vars: list[tuple[str, AV]] = []
        self.name = ""
        self.seen: set[tuple[str, AV, bool]] = set()

    # -- structure ---------------------------------------------------------------
    def run(self, tree: Tree, dot: AV, sure: bool, depth: int) -> None:
        key = (tree.name, dot, sure)
        if depth > _DEPTH or key in self.seen:
            return
        self.seen.add(key)
        saved = (self.vars, self.name)
        self.vars, self.name = [("$", dot)], tree.name
        try:
            self.body(tree.root, dot, sure, depth)
        except _Stop:
            pass
        finally:
            self.vars, self.name = saved

    def body(self, lst: ListNode | None, dot: AV, sure: bool, depth: int) -> None:
        for n in lst.nodes if lst is not None else ():
            if isinstance(n, ActionNode):
                self.pipe(n.pipe, dot, sure)
            elif isinstance(n, (IfNode, WithNode)):
                self.if_with(n, dot, sure, depth)
            elif isinstance(n, RangeNode):
                self.range(n, dot, sure, depth)
            elif isinstance(n, TemplateNode):
                new = self.pipe(n.pipe, dot, sure) if n.pipe is not None else UNKNOWN
                tree = self.trees.get(n.name)
                if tree is not None:
                    self.run(tree, new if new.sure else UNKNOWN, sure, depth + 1)
            elif isinstance(n, (BreakNode, ContinueNode)):
                raise _Stop

    def scoped(self, lst: ListNode | None, dot: AV, sure: bool, depth: int) -> None:
        """Walk a branch body: its own variables end with it; an outer variable it assigns
        keeps the new value only if the body surely ran, else it becomes unknown."""
        mark = len(self.vars)
        before = self.vars[:]
        try:
            self.body(lst, dot, sure, depth)
        except _Stop:
            pass
        del self.vars[mark:]
        if not sure:
            self.vars = [b if b == a else (b[0], UNKNOWN) for b, a in zip(before, self.vars, strict=True)]

    def if_with(self, n: IfNode | WithNode, dot: AV, sure: bool, depth: int) -> None:
        mark = len(self.vars)
        val = self.pipe(n.pipe, dot, sure)
        truth = _truth(val, self.env)
        # `with` runs its body only on a valid, non-empty value: there dot is that value, sure.
        body_dot = replace(val, iface=False, sure=True) if isinstance(n, WithNode) else dot
        if truth is not False:
            self.scoped(n.list, body_dot, sure and truth is True, depth)
        if truth is not True and n.else_list is not None:
            self.scoped(n.else_list, dot, sure and truth is False, depth)
        del self.vars[mark:]

    def range(self, n: RangeNode, dot: AV, sure: bool, depth: int) -> None:
        mark = len(self.vars)
        val = self.pipe(n.pipe, dot, sure)
        elem = UNKNOWN
        t = val.typ or ""
        if t.startswith("[]"):
            elem = self.typed(t[2:])
        elif t.startswith("map["):
            elem = self.typed(t[t.index("]") + 1 :])
        elif t in _BASIC and t.startswith(("int", "uint")):
            elem = AV(t)
        # `range $e := ...` names the element, `range $i, $e := ...` the index and element;
        # the pipe gave them the collection: each iteration gives them these instead.
        names = [v.ident[0] for v in n.pipe.decl]
        if n.pipe.is_assign:
            for name in names:
                self.assign(name, UNKNOWN)
        elif names:
            typed = [elem] if len(names) == 1 else [UNKNOWN, elem]
            self.vars[len(self.vars) - len(names) :] = list(zip(names, typed, strict=True))
        self.scoped(n.list, elem, False, depth)
        if n.else_list is not None:
            self.scoped(n.else_list, dot, False, depth)
        del self.vars[mark:]

    # -- expressions -------------------------------------------------------------
    def pipe(self, p: PipeNode, dot: AV, sure: bool) -> AV:
        val: AV | None = None
        for cmd in p.cmds:
            val = self.command(cmd, dot, sure, val)
        result = replace(val, iface=False) if val is not None else UNKNOWN  # Go unwraps interface{}
        for v in p.decl:
            if p.is_assign:
                self.assign(v.ident[0], result)
            else:
                self.vars.append((v.ident[0], result))
        return result

    def assign(self, name: str, val: AV) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, val)
                return

    def var(self, name: str) -> AV:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        return UNKNOWN

    def command(self, cmd: CommandNode, dot: AV, sure: bool, final: AV | None) -> AV:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, IdentifierNode):
            return self.call(first.ident, rest, dot, sure, final)
        for a in rest:
            self.arg(a, dot, sure)
        return self.arg(first, dot, sure, bool(rest) or final is not None)

    def chain_node(self, n: ChainNode, dot: AV, sure: bool, has_args: bool) -> AV:
        if not isinstance(n.node, PipeNode):
            self.arg(n.node, dot, sure)
            return UNKNOWN
        head = self.pipe(n.node, dot, sure)
        return self.chain(head, n.field, _last_at(n.node) or n, sure, has_args)

    def arg(self, n: Node, dot: AV, sure: bool, has_args: bool = False) -> AV:
        """`n`'s value; `has_args`: `n` is a command's first word given arguments."""
        if isinstance(n, DotNode):
            return dot
        if isinstance(n, StringNode):
            return AV("string", const=n.text)
        if isinstance(n, BoolNode):
            return AV("bool", const=n.true)
        if isinstance(n, FieldNode):
            return self.chain(dot, n.ident, n, sure, has_args)
        if isinstance(n, VariableNode):
            return self.chain(self.var(n.ident[0]), n.ident[1:], n, sure, has_args)
        if isinstance(n, ChainNode):
            return self.chain_node(n, dot, sure, has_args)
        if isinstance(n, PipeNode):
            return self.pipe(n, dot, sure)
        return UNKNOWN  # numbers, nil, a niladic function

    def call(self, fn: str, args: list[Node], dot: AV, sure: bool, final: AV | None) -> AV:
        if fn in ("and", "or"):
            return self.and_or(fn == "or", args, dot, sure, final)
        vals = [self.arg(a, dot, sure) for a in args]
        if final is not None:
            vals.append(final)
        consts = [v.const for v in vals]
        if fn == "not" and len(vals) == 1:
            t = _truth(vals[0], self.env)
            return AV("bool", const=not t) if t is not None else UNKNOWN
        if fn in ("eq", "ne") and len(vals) >= 2 and _NO not in consts:
            if len({type(c) for c in consts}) > 1 or not isinstance(consts[0], (str, bool)):
                return UNKNOWN  # only the comparisons we are sure of (Go errors on mixed kinds)
            hit = any(consts[0] == c for c in consts[1:])
            return AV("bool", const=hit if fn == "eq" else not hit)
        if fn == "printf" and len(vals) == 2 and consts[0] == "%T":
            dyn = vals[1].typ if vals[1].sure else None
            return AV("string", const=dyn) if dyn is not None else UNKNOWN
        return UNKNOWN

    def and_or(self, is_or: bool, args: list[Node], dot: AV, sure: bool, final: AV | None) -> AV:
        """Go's and/or: the first argument that decides is the result, and the ones after it
        never run; we follow them as reached only while every earlier truth is known."""
        known = True
        v = UNKNOWN
        items: list[Node | AV] = [*args, final] if final is not None else list(args)
        for item in items:
            v = item if isinstance(item, AV) else self.arg(item, dot, sure)
            t = _truth(v, self.env)
            if t is is_or:  # decides; if an earlier truth was unknown, the value is unsure
                return v if known else AV(truth=t)
            if t is None:
                known, sure = False, False
        return v if known else UNKNOWN

    def typed(self, typ: str) -> AV:
        """A value of static type `typ` (its dynamic type is unknown for interfaces)."""
        if typ == IFACE:
            return AV(None, iface=True)
        return AV(typ)

    def chain(self, recv: AV, idents: list[str], at: Node, sure: bool, has_args: bool) -> AV:
        """Go's evalFieldChain over an abstract receiver."""
        for i, name in enumerate(idents):
            t = recv.typ
            if t is None:
                return UNKNOWN
            methods = self.env.methods(t)
            if methods is None or name in methods:
                return UNKNOWN  # a method: its result is not followed
            struct = self.env.structs.get(t)
            if struct is not None and name in struct:
                if i == len(idents) - 1 and has_args:
                    return UNKNOWN  # a field given arguments: another error, not ours
                over = dict(recv.fields).get(name) if recv.fields else None
                nxt = over if over is not None else self.typed(struct[name])
                recv = replace(nxt, sure=nxt.sure and recv.sure)
                continue
            if t.startswith("map["):
                elem = self.typed(t[t.index("]") + 1 :])
                recv = replace(elem, sure=recv.sure and self.zero_keys)
                continue
            where = IFACE if recv.iface else t
            hints = tuple(difflib.get_close_matches(name, list(struct or ()) + sorted(methods), n=3))
            msg = "can't evaluate field %s in type %s" % (name, where)
            self.found.append(Finding(at, self.name, msg, sure and recv.sure, hints))
            return UNKNOWN
        return recv


def _truth(v: AV, env: TypeEnv) -> bool | None:
    """Go's IsTrue when it is known: constants, and struct values (always true)."""
    if v.truth is not None:
        return v.truth
    if v.const is not _NO:
        c = v.const
        return bool(c) if isinstance(c, (str, bool)) else None
    if v.sure and v.typ is not None and (v.typ in env.structs or v.typ == "time.Time"):
        return True
    return None


def _last_at(p: PipeNode) -> Node | None:
    """The node Go's state.at names after evaluating a parenthesised pipe: the first word of
    its last command (recursively through nested parentheses), as exec.go leaves it."""
    if not p.cmds:
        return None
    first = p.cmds[-1].args[0]
    if isinstance(first, PipeNode):
        return _last_at(first)
    if isinstance(first, ChainNode) and isinstance(first.node, PipeNode):
        return _last_at(first.node)
    return first
