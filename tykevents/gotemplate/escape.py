"""html/template's contextual auto-escaping (escape.go semantics).

Before a template set runs as HTML, `escape_template` walks the named template and
everything it calls, tracking the HTML/JS/CSS context through text and control flow,
and then edits the trees: actions get escaper commands, text nodes lose comments and
stray `<`, and template calls made from a non-text context go to a copy of the
callee escaped for that context. Failures raise EscapeError with Go's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .context import (
    A_NONE,
    D_NONE,
    D_SPACE,
    J_DIV_OP,
    J_UNKNOWN,
    S_AFTER_NAME,
    S_ATTR,
    S_ATTR_NAME,
    S_BEFORE_VALUE,
    S_CSS,
    S_CSS_BLOCK_CMT,
    S_CSS_DQ_STR,
    S_CSS_DQ_URL,
    S_CSS_SQ_STR,
    S_CSS_SQ_URL,
    S_CSS_URL,
    S_DEAD,
    S_ERROR,
    S_HTML_CMT,
    S_JS,
    S_JS_BLOCK_CMT,
    S_JS_DQ_STR,
    S_JS_HTML_CLOSE_CMT,
    S_JS_HTML_OPEN_CMT,
    S_JS_REGEXP,
    S_JS_SQ_STR,
    S_JS_TMPL_LIT,
    S_META_CONTENT,
    S_META_CONTENT_URL,
    S_RCDATA,
    S_SRCSET,
    S_TAG,
    S_TEXT,
    S_URL,
    U_NONE,
    U_PRE_QUERY,
    U_QUERY_OR_FRAG,
    U_UNKNOWN,
    Ctx,
    EscErr,
    error_ctx,
    is_comment,
    is_in_script_literal,
)
from .errors import EscapeError, go_quote
from .nodes import (
    ActionNode,
    BranchNode,
    BreakNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    IdentifierNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    Tree,
    WithNode,
)
from .transition import ATTR_START, context_after_text

if TYPE_CHECKING:
    from .program import Program

_PREDEFINED = ("html", "urlquery")
_EQUIV = {
    "_html_template_attrescaper": "html",
    "_html_template_htmlescaper": "html",
    "_html_template_rcdataescaper": "html",
    "_html_template_urlescaper": "urlquery",
    "_html_template_urlnormalizer": "urlquery",
}
_REDUNDANT = {
    "_html_template_commentescaper": {"_html_template_attrescaper", "_html_template_htmlescaper"},
    "_html_template_cssescaper": {"_html_template_attrescaper"},
    "_html_template_jsregexpescaper": {"_html_template_attrescaper"},
    "_html_template_jsstrescaper": {"_html_template_attrescaper"},
    "_html_template_jstmpllitescaper": {"_html_template_attrescaper"},
    "_html_template_urlescaper": {"_html_template_urlnormalizer"},
}


def _norm(e: str) -> str:
    return _EQUIV.get(e, e)


def copy_node(n: Any) -> Any:
    """Node.Copy: a deep copy of the nodes that keeps each node's tree."""
    if isinstance(n, list):
        return [copy_node(x) for x in n]
    if not isinstance(n, Node):
        return n
    new = object.__new__(type(n))
    for cls in type(n).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(n, slot):
                v = getattr(n, slot)
                setattr(new, slot, v if slot == "tree" else copy_node(v))
    return new


class _RangeCtx:
    __slots__ = ("outer", "breaks", "continues")

    def __init__(self, outer: _RangeCtx | None) -> None:
        self.outer = outer
        self.breaks: list[Ctx] = []
        self.continues: list[Ctx] = []


class Escaper:
    def __init__(self, trees: dict[str, Tree]) -> None:
        self.trees = trees
        self.output: dict[str, Ctx] = {}
        self.derived: dict[str, Tree] = {}
        self.called: set[str] = set()
        self.action_edits: dict[ActionNode, list[str]] = {}
        self.template_edits: dict[TemplateNode, str] = {}
        self.text_edits: dict[TextNode, str] = {}
        self.range_ctx: _RangeCtx | None = None

    def _range(self) -> _RangeCtx:
        assert self.range_ctx is not None, "the parser allows break and continue only in a range"
        return self.range_ctx

    def template(self, name: str) -> Tree | None:
        t = self.trees.get(name)
        return t if t is not None else self.derived.get(name)

    # -- dispatch -------------------------------------------------------------------
    def escape(self, c: Ctx, n: Any) -> Ctx:
        if isinstance(n, ActionNode):
            return self.escape_action(c, n)
        if isinstance(n, BreakNode):
            c = c.copy()
            c.n = n
            self._range().breaks.append(c)
            return Ctx(state=S_DEAD)
        if isinstance(n, CommentNode):
            return c
        if isinstance(n, ContinueNode):
            c = c.copy()
            c.n = n
            self._range().continues.append(c)
            return Ctx(state=S_DEAD)
        if isinstance(n, IfNode):
            return self.escape_branch(c, n, "if")
        if isinstance(n, ListNode):
            return self.escape_list(c, n)
        if isinstance(n, RangeNode):
            return self.escape_branch(c, n, "range")
        if isinstance(n, TemplateNode):
            c2, name = self.escape_tree(c, n, n.name, n.line)
            if name != n.name:
                self._edit(self.template_edits, n, name)
            return c2
        if isinstance(n, TextNode):
            return self.escape_text(c, n)
        if isinstance(n, WithNode):
            return self.escape_branch(c, n, "with")
        raise AssertionError("escaping %s is unimplemented" % n)

    def _edit(self, table: dict, n: Any, value: Any) -> None:
        if n in table:
            raise AssertionError("node %s shared between templates" % n)
        table[n] = value

    # -- actions --------------------------------------------------------------------
    def escape_action(self, c: Ctx, n: ActionNode) -> Ctx:
        if n.pipe.decl:
            return c
        c = nudge(c)
        cmds = n.pipe.cmds
        for pos, cmd in enumerate(cmds):
            a = cmd.args[0]
            if not isinstance(a, IdentifierNode):
                continue
            if a.ident in _PREDEFINED:
                if pos < len(cmds) - 1 or (c.state == S_ATTR and c.delim == D_SPACE and a.ident == "html"):
                    return error_ctx(
                        n, n.line, "predefined escaper %s disallowed in template" % go_quote(a.ident)
                    )
        s: list[str] = []
        st = c.state
        if st == S_ERROR:
            return c
        if st in (S_URL, S_CSS_DQ_STR, S_CSS_SQ_STR, S_CSS_DQ_URL, S_CSS_SQ_URL, S_CSS_URL):
            if c.url_part == U_NONE:
                s.append("_html_template_urlfilter")
            if c.url_part in (U_NONE, U_PRE_QUERY):
                if st in (S_CSS_DQ_STR, S_CSS_SQ_STR):
                    s.append("_html_template_cssescaper")
                else:
                    s.append("_html_template_urlnormalizer")
            elif c.url_part == U_QUERY_OR_FRAG:
                s.append("_html_template_urlescaper")
            else:
                return error_ctx(n, n.line, "%s appears in an ambiguous context within a URL" % n)
        elif st == S_META_CONTENT:
            pass
        elif st == S_META_CONTENT_URL:
            s.append("_html_template_urlfilter")
        elif st == S_JS:
            s.append("_html_template_jsvalescaper")
            c = c.copy(js_ctx=J_DIV_OP)
        elif st in (S_JS_DQ_STR, S_JS_SQ_STR):
            s.append("_html_template_jsstrescaper")
        elif st == S_JS_TMPL_LIT:
            s.append("_html_template_jstmpllitescaper")
        elif st == S_JS_REGEXP:
            s.append("_html_template_jsregexpescaper")
        elif st == S_CSS:
            s.append("_html_template_cssvaluefilter")
        elif st == S_TEXT:
            s.append("_html_template_htmlescaper")
        elif st == S_RCDATA:
            s.append("_html_template_rcdataescaper")
        elif st == S_ATTR:
            pass
        elif st in (S_ATTR_NAME, S_TAG):
            c = c.copy(state=S_ATTR_NAME)
            s.append("_html_template_htmlnamefilter")
        elif st == S_SRCSET:
            s.append("_html_template_srcsetescaper")
        elif is_comment(st):
            s.append("_html_template_commentescaper")
        else:
            raise AssertionError("unexpected state %d" % st)
        if c.delim == D_SPACE:
            s.append("_html_template_nospaceescaper")
        elif c.delim != D_NONE:
            s.append("_html_template_attrescaper")
        self._edit(self.action_edits, n, s)
        return c

    # -- control flow -----------------------------------------------------------------
    def escape_branch(self, c: Ctx, n: BranchNode, node_name: str) -> Ctx:
        if node_name == "range":
            self.range_ctx = _RangeCtx(self.range_ctx)
        c0 = self.escape_list(c.copy(), n.list)
        if node_name == "range":
            if c0.state != S_ERROR:
                c0 = join_range(c0, self._range())
            self.range_ctx = self._range().outer
            if c0.state == S_ERROR:
                return c0
            # The body may run again: check that it ends where it starts.
            self.range_ctx = _RangeCtx(self.range_ctx)
            c1, _ = self.escape_list_conditionally(c0, n.list, None)
            c0 = join(c0, c1, n, node_name)
            if c0.state == S_ERROR:
                self.range_ctx = self._range().outer
                _locate_err(c0, n.line, "on range loop re-entry: ")
                return c0
            c0 = join_range(c0, self._range())
            self.range_ctx = self._range().outer
            if c0.state == S_ERROR:
                return c0
        c1 = self.escape_list(c.copy(), n.else_list)
        return join(c0, c1, n, node_name)

    def escape_list(self, c: Ctx, n: ListNode | None) -> Ctx:
        if n is None:
            return c
        for m in n.nodes:
            c = self.escape(c, m)
            if c.state == S_DEAD:
                break
        return c

    def escape_list_conditionally(
        self, c: Ctx, n: ListNode | None, flt: Callable[[Escaper, Ctx], bool] | None
    ) -> tuple[Ctx, bool]:
        e1 = Escaper(self.trees)
        e1.range_ctx = self.range_ctx
        e1.output.update(self.output)
        c = e1.escape_list(c, n)
        ok = flt is not None and flt(e1, c)
        if ok:
            self.output.update(e1.output)
            self.derived.update(e1.derived)
            self.called.update(e1.called)
            for action, escapers in e1.action_edits.items():
                self._edit(self.action_edits, action, escapers)
            for call, name in e1.template_edits.items():
                self._edit(self.template_edits, call, name)
            for text_node, text in e1.text_edits.items():
                self._edit(self.text_edits, text_node, text)
        return c, ok

    # -- template calls ---------------------------------------------------------------
    def escape_tree(self, c: Ctx, node: Any, name: str, line: int) -> tuple[Ctx, str]:
        dname = c.mangle(name)
        self.called.add(dname)
        out = self.output.get(dname)
        if out is not None:
            return out, dname
        t = self.template(name)
        if t is None:
            return error_ctx(node, line, "no such template %s" % go_quote(name)), dname
        if dname != name:
            dt = self.template(dname)
            if dt is None:
                dt = Tree(dname, "", t.text)
                dt.root = copy_node(t.root)
                self.derived[dname] = dt
            t = dt
        return self.compute_out_ctx(c, t), dname

    def compute_out_ctx(self, c: Ctx, t: Tree) -> Ctx:
        c1, ok = self.escape_template_body(c, t)
        if not ok:
            c2, ok2 = self.escape_template_body(c1, t)
            if ok2:
                c1, ok = c2, True
        if not ok and c1.state != S_ERROR:
            return error_ctx(t.root, 0, "cannot compute output context for template %s" % t.name)
        return c1

    def escape_template_body(self, c: Ctx, t: Tree) -> tuple[Ctx, bool]:
        def flt(e1: Escaper, c1: Ctx) -> bool:
            if c1.state == S_ERROR:
                return False
            if t.name not in e1.called:
                return True
            return c.eq(c1)

        self.output[t.name] = c
        return self.escape_list_conditionally(c, t.root, flt)

    # -- text -------------------------------------------------------------------------
    def escape_text(self, c: Ctx, n: TextNode) -> Ctx:
        s = n.text
        written, i = 0, 0
        b: list[str] = []
        while i != len(s):
            c1, nread = context_after_text(c, s[i:])
            i1 = i + nread
            if c1.err is not None and c1.err.node is None and c1.err.at is None:
                c1.err.at = (n.tree, n.pos + i)
            if c.state in (S_TEXT, S_RCDATA):
                end = i1
                if c1.state != c.state:
                    j = s.rfind("<", i, end)
                    if j >= 0:
                        end = j
                j = s.find("<", i, end)
                while j >= 0:
                    if not s[j : j + 9].upper().startswith("<!DOCTYPE"):
                        b.append(s[written:j])
                        b.append("&lt;")
                        written = j + 1
                    j = s.find("<", j + 1, end)
            elif is_comment(c.state) and c.delim == D_NONE:
                if c.state == S_JS_BLOCK_CMT:
                    seg = s[written:i1]
                    b.append("\n" if any(ch in seg for ch in "\n\r\u2028\u2029") else " ")
                elif c.state == S_CSS_BLOCK_CMT:
                    b.append(" ")
                written = i1
            if c.state != c1.state and is_comment(c1.state) and c1.delim == D_NONE:
                cs = i1 - 2
                if c1.state in (S_HTML_CMT, S_JS_HTML_OPEN_CMT):
                    cs -= 2
                elif c1.state == S_JS_HTML_CLOSE_CMT:
                    cs -= 1
                b.append(s[written:cs])
                written = i1
            if is_in_script_literal(c.state) and _SPECIAL_SCRIPT.search(s, i, i1):
                b.append(s[written:i])
                b.append(_SPECIAL_SCRIPT.sub(r"\\x3C\1", s[i:i1]))
                written = i1
            if i == i1 and c.state == c1.state:
                raise AssertionError("infinite loop from %s to %s" % (c, c1))
            c, i = c1, i1
        if written != 0 and c.state != S_ERROR:
            if not is_comment(c.state) or c.delim != D_NONE:
                b.append(s[written:])
            self._edit(self.text_edits, n, "".join(b))
        return c

    # -- commit -----------------------------------------------------------------------
    def commit(self) -> None:
        self.trees.update(self.derived)
        for action, s in self.action_edits.items():
            ensure_pipeline_contains(action.pipe, s)
        for call, name in self.template_edits.items():
            call.name = name
        for text_node, text in self.text_edits.items():
            text_node.text = text
        self.called = set()
        self.action_edits = {}
        self.template_edits = {}
        self.text_edits = {}


_SPECIAL_SCRIPT = re.compile(r"<(script|/script|!--)", re.I)


def nudge(c: Ctx) -> Ctx:
    if c.state == S_TAG:
        return c.copy(state=S_ATTR_NAME)
    if c.state == S_BEFORE_VALUE:
        return c.copy(state=ATTR_START[c.attr], delim=D_SPACE, attr=A_NONE)
    if c.state == S_AFTER_NAME:
        return c.copy(state=S_ATTR_NAME, attr=A_NONE)
    return c


def join(a: Ctx, b: Ctx, node: Any, node_name: str) -> Ctx:
    if a.state == S_ERROR:
        return a
    if b.state == S_ERROR:
        return b
    if a.state == S_DEAD:
        return b
    if b.state == S_DEAD:
        return a
    if a.eq(b):
        return a
    c = a.copy(url_part=b.url_part)
    if c.eq(b):
        c.url_part = U_UNKNOWN
        return c
    c = a.copy(js_ctx=b.js_ctx)
    if c.eq(b):
        c.js_ctx = J_UNKNOWN
        return c
    c, d = nudge(a), nudge(b)
    if not (c.eq(a) and d.eq(b)):
        e = join(c, d, node, node_name)
        if e.state != S_ERROR:
            return e
    return error_ctx(node, 0, "{{%s}} branches end in different contexts: %s, %s" % (node_name, a, b))


def join_range(c0: Ctx, rc: _RangeCtx) -> Ctx:
    for c in rc.breaks:
        c0 = join(c0, c, c.n, "range")
        if c0.state == S_ERROR:
            _locate_err(c0, c.n.line, "at range loop break: ")
            return c0
    for c in rc.continues:
        c0 = join(c0, c, c.n, "range")
        if c0.state == S_ERROR:
            _locate_err(c0, c.n.line, "at range loop continue: ")
            return c0
    return c0


def _locate_err(c: Ctx, line: int, prefix: str) -> None:
    """Point an error context's error at a range's `line`, saying where it arose."""
    err = c.err
    assert err is not None  # an error context always carries its error
    err.line = line
    err.description = prefix + err.description


def _ident_cmd(name: str, pipe: PipeNode) -> CommandNode:
    cmd = CommandNode(pipe.pos, pipe.tree)
    cmd.args = [IdentifierNode(pipe.pos, pipe.tree, name)]
    return cmd


def _append_cmd(cmds: list[CommandNode], cmd: CommandNode) -> list[CommandNode]:
    if cmds:
        last, nxt = cmds[-1].args[0], cmd.args[0]
        if (
            isinstance(last, IdentifierNode)
            and isinstance(nxt, IdentifierNode)
            and nxt.ident in _REDUNDANT.get(last.ident, ())
        ):
            return cmds
    return cmds + [cmd]


def ensure_pipeline_contains(p: PipeNode, s: list[str]) -> None:
    """Append the escapers in s to pipeline p, reusing a trailing `html`/`urlquery`."""
    if not s:
        return
    s = list(s)
    plen = len(p.cmds)
    if plen > 0:
        last = p.cmds[-1]
        first = last.args[0]
        if isinstance(first, IdentifierNode) and first.ident in _PREDEFINED:
            esc = first.ident
            if len(p.cmds) == 1 and len(last.args) > 1:
                # {{html .x}} becomes {{_eval_args_ .x | html}}
                last.args[0] = IdentifierNode(first.pos, first.tree, "_eval_args_")
                p.cmds = _append_cmd(p.cmds, _ident_cmd(esc, p))
                plen += 1
            dup = False
            for i, e in enumerate(s):
                if _norm(esc) == _norm(e):
                    s[i] = esc
                    dup = True
            if dup:
                plen -= 1
    new = list(p.cmds[:plen])
    inserted = {_norm(c.args[0].ident) for c in new if isinstance(c.args[0], IdentifierNode)}
    for name in s:
        if _norm(name) not in inserted:
            new = _append_cmd(new, _ident_cmd(name, p))
    p.cmds = new


def escape_template(prog: Program, trees: dict[str, Tree], name: str) -> None:
    """Escape template `name` of the set (html/template's escapeTemplate); raise
    EscapeError when Go would refuse to execute it."""
    tree = trees[name]
    e = Escaper(trees)
    c, _ = e.escape_tree(Ctx(), tree.root, name, 0)
    err = None
    if c.err is not None:
        err = c.err
        err.name = name
    elif c.state != S_TEXT:
        err = EscErr(None, 0, "ends in a non-text context: %s" % c)
        err.name = name
    if err is not None:
        if err.node is not None:
            line, col = err.node.tree.location(err.node.pos)
        elif err.line:
            line, col = err.line, 0
        elif err.at is not None:
            line, col = err.at[0].location(err.at[1])
        else:  # Go names no place: the template's end is where it is left in that context
            line, col = tree.location(_end(tree))
        raise EscapeError(str(err), name, line, col + 1)
    e.commit()
    prog.templates.clear()  # trees changed: recompile on next use


def _end(tree: Tree) -> int:
    """Where template `tree` ends: its file's end for the top-level template, else (a
    define, whose {{end}} the tree does not keep) the start of its last node."""
    if tree.name == tree.parse_name:
        return len(tree.text)
    nodes = tree.root.nodes if tree.root is not None else []
    return nodes[-1].pos if nodes else (tree.root.pos if tree.root is not None else 0)
