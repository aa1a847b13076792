"""Parser for Go's template language (text/template/parse/parse.go semantics).

`parse_trees` turns one template text into its set of named trees (the top-level
template plus every `define` and `block`), raising ParseError with Go's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from . import lexer as L
from .errors import ParseError, go_quote
from .literals import parse_number, unquote, unquote_char
from .nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
    is_empty_tree,
)

MAX_STACK_DEPTH = 10000


class _Parser:
    def __init__(
        self, tree: Tree, lex: L.Lexer, funcs: Mapping[str, object], tree_set: dict[str, Tree]
    ) -> None:
        self.t = tree
        self.lex = lex
        self.funcs = funcs
        self.tree_set = tree_set
        self.token = [L.Item(L.EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.stack_depth = 0

    # -- token stream (three-token lookahead, as in Go) ---------------------
    def next(self) -> L.Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: L.Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: L.Item, t1: L.Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> L.Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> L.Item:
        while True:
            tok = self.next()
            if tok.typ != L.SPACE:
                return tok

    def peek_non_space(self) -> L.Item:
        tok = self.next_non_space()
        self.backup()
        return tok

    # -- errors ---------------------------------------------------------------
    def errorf(self, msg: str) -> NoReturn:
        tok = self.token[0]
        line = tok.line
        col = self._col(tok.pos)
        raise ParseError("template: %s:%d: %s" % (self.t.parse_name, line, msg), self.t.parse_name, line, col)

    def _col(self, pos: int) -> int:
        text = self.t.text
        pos = min(pos, len(text))
        return pos - (text.rfind("\n", 0, pos) + 1) + 1

    def expect(self, typ: int, context: str) -> L.Item:
        tok = self.next_non_space()
        if tok.typ != typ:
            self.unexpected(tok, context)
        return tok

    def expect_one_of(self, t1: int, t2: int, context: str) -> L.Item:
        tok = self.next_non_space()
        if tok.typ != t1 and tok.typ != t2:
            self.unexpected(tok, context)
        return tok

    def unexpected(self, tok: L.Item, context: str) -> NoReturn:
        if tok.typ == L.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != tok.line:
                extra = " in action started at %s:%d" % (self.t.parse_name, self.action_line)
                if tok.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf("%s%s" % (tok, extra))
        self.errorf("unexpected %s in %s" % (tok, context))

    def has_function(self, name: str) -> bool:
        return name in self.funcs

    # -- structure ------------------------------------------------------------
    def sub(self, tree: Tree) -> _Parser:
        """A parser for a nested define/block body, sharing this lexer."""
        # Go gives the nested tree its own (empty) lookahead; the parent's stays
        # as it was, which is why some of Go's error lines point at the parent.
        return _Parser(tree, self.lex, self.funcs, self.tree_set)

    def add(self) -> None:
        old = self.tree_set.get(self.t.name)
        if old is None or is_empty_tree(old.root):
            self.tree_set[self.t.name] = self.t
            return
        if not is_empty_tree(self.t.root):
            self.errorf("template: multiple definition of template %s" % go_quote(self.t.name))

    def parse(self) -> None:
        t = self.t
        t.root = ListNode(self.peek().pos, t)
        while self.peek().typ != L.EOF:
            if self.peek().typ == L.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == L.DEFINE:
                    new = Tree("definition", t.parse_name, t.text)
                    p = self.sub(new)
                    p.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                self.errorf("unexpected %s" % n)
            t.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.expect_one_of(L.STRING, L.RAW_STRING, context)
        try:
            self.t.name = unquote(name.val)
        except ValueError as e:
            self.errorf(str(e))
        self.expect(L.RIGHT_DELIM, context)
        self.t.root, end = self.item_list()
        if not isinstance(end, EndNode):
            self.errorf("unexpected %s in %s" % (end, context))
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos, self.t)
        while self.peek_non_space().typ != L.EOF:
            n = self.text_or_action()
            if isinstance(n, (EndNode, ElseNode)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ == L.TEXT:
            return TextNode(tok.pos, self.t, tok.val)
        if tok.typ == L.LEFT_DELIM:
            self.action_line = tok.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if tok.typ == L.COMMENT:
            return CommentNode(tok.pos, self.t, tok.val)
        self.unexpected(tok, "input")

    def action(self) -> Node:
        tok = self.next_non_space()
        typ = tok.typ
        if typ == L.BLOCK:
            return self.block_control()
        if typ == L.BREAK:
            return self.break_control(tok.pos, tok.line, BreakNode, "break")
        if typ == L.CONTINUE:
            return self.break_control(tok.pos, tok.line, ContinueNode, "continue")
        if typ == L.ELSE:
            return self.else_control()
        if typ == L.END:
            return EndNode(self.expect(L.RIGHT_DELIM, "end").pos, self.t)
        if typ == L.IF:
            return self.control(IfNode, "if")
        if typ == L.RANGE:
            return self.control(RangeNode, "range")
        if typ == L.TEMPLATE:
            return self.template_control()
        if typ == L.WITH:
            return self.control(WithNode, "with")
        self.backup()
        tok = self.peek()
        return ActionNode(tok.pos, self.t, tok.line, self.pipeline("command", L.RIGHT_DELIM))

    def break_control(self, pos: int, line: int, cls: type[BreakNode | ContinueNode], word: str) -> Node:
        tok = self.next_non_space()
        if tok.typ != L.RIGHT_DELIM:
            self.unexpected(tok, "{{%s}}" % word)
        if self.range_depth == 0:
            self.errorf("{{%s}} outside {{range}}" % word)
        return cls(pos, self.t, line)

    def pipeline(self, context: str, end: int) -> PipeNode:
        tok = self.peek_non_space()
        pipe = PipeNode(tok.pos, self.t, tok.line)
        while True:  # declarations ("decls:" loop in Go)
            v = self.peek_non_space()
            if v.typ != L.VARIABLE:
                break
            self.next()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (L.ASSIGN, L.DECLARE):
                pipe.is_assign = nxt.typ == L.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, self.t, v.val))
                self.vars.append(v.val)
                break
            if nxt.typ == L.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, self.t, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (L.VARIABLE, L.RIGHT_DELIM, L.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf("too many declarations in %s" % context)
            if after.typ == L.SPACE:
                self.backup3(v, after)
            else:
                self.backup2(v)
            break
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if tok.typ in (
                L.BOOL,
                L.CHAR_CONSTANT,
                L.COMPLEX,
                L.DOT,
                L.FIELD,
                L.IDENTIFIER,
                L.NUMBER,
                L.NIL,
                L.RAW_STRING,
                L.STRING,
                L.VARIABLE,
                L.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf("missing value for %s" % context)
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.errorf("non executable command in pipeline stage %d" % (i + 2))

    def control(self, cls: type[BranchNode], context: str) -> BranchNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, L.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, ElseNode):
                if context == "if" and self.peek().typ == L.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, self.t)
                    else_list.nodes.append(self.control(IfNode, "if"))
                elif context == "with" and self.peek().typ == L.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, self.t)
                    else_list.nodes.append(self.control(WithNode, "with"))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        self.errorf("expected end; found %s" % nxt)
            return cls(pipe.pos, self.t, pipe.line, pipe, lst, else_list)
        finally:
            del self.vars[mark:]

    def else_control(self) -> ElseNode:
        peek = self.peek_non_space()
        if peek.typ in (L.IF, L.WITH):
            return ElseNode(peek.pos, self.t, peek.line)
        tok = self.expect(L.RIGHT_DELIM, "else")
        return ElseNode(tok.pos, self.t, tok.line)

    def block_control(self) -> TemplateNode:
        context = "block clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe = self.pipeline(context, L.RIGHT_DELIM)
        block = Tree(name, self.t.parse_name, self.t.text)
        p = self.sub(block)
        block.root, end = p.item_list()
        if not isinstance(end, EndNode):
            self.errorf("unexpected %s in %s" % (end, context))
        p.add()
        return TemplateNode(tok.pos, self.t, tok.line, name, pipe)

    def template_control(self) -> TemplateNode:
        context = "template clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe = None
        if self.next_non_space().typ != L.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, L.RIGHT_DELIM)
        return TemplateNode(tok.pos, self.t, tok.line, name, pipe)

    def parse_template_name(self, tok: L.Item, context: str) -> str:
        if tok.typ in (L.STRING, L.RAW_STRING):
            try:
                return unquote(tok.val)
            except ValueError as e:
                self.errorf(str(e))
        self.unexpected(tok, context)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos, self.t)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == L.SPACE:
                continue
            if tok.typ in (L.RIGHT_DELIM, L.RIGHT_PAREN):
                self.backup()
            elif tok.typ == L.PIPE:
                pass
            else:
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == L.FIELD:
            chain = ChainNode(self.peek().pos, self.t, node)
            while self.peek().typ == L.FIELD:
                chain.add(self.next().val)
            if isinstance(node, FieldNode):
                node = FieldNode(chain.pos, self.t, str(chain))
            elif isinstance(node, VariableNode):
                node = VariableNode(chain.pos, self.t, str(chain))
            elif isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.errorf("unexpected . after term %s" % go_quote(str(node)))
            else:
                node = chain
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ == L.IDENTIFIER:
            if not self.has_function(tok.val):
                self.errorf("function %s not defined" % go_quote(tok.val))
            return IdentifierNode(tok.pos, self.t, tok.val)
        if typ == L.DOT:
            return DotNode(tok.pos, self.t)
        if typ == L.NIL:
            return NilNode(tok.pos, self.t)
        if typ == L.VARIABLE:
            return self.use_var(tok.pos, tok.val)
        if typ == L.FIELD:
            return FieldNode(tok.pos, self.t, tok.val)
        if typ == L.BOOL:
            return BoolNode(tok.pos, self.t, tok.val == "true")
        if typ in (L.CHAR_CONSTANT, L.COMPLEX, L.NUMBER):
            n = NumberNode(tok.pos, self.t, tok.val)
            try:
                if typ == L.CHAR_CONSTANT:
                    _char_number(n, tok.val)
                else:
                    parse_number(n, tok.val, typ == L.COMPLEX)
            except ValueError as e:
                self.errorf(str(e))
            return n
        if typ == L.LEFT_PAREN:
            if self.stack_depth >= MAX_STACK_DEPTH:
                self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", L.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if typ in (L.STRING, L.RAW_STRING):
            try:
                s = unquote(tok.val)
            except ValueError as e:
                self.errorf(str(e))
            return StringNode(tok.pos, self.t, tok.val, s)
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> VariableNode:
        v = VariableNode(pos, self.t, name)
        if v.ident[0] in self.vars:
            return v
        self.errorf("undefined variable %s" % go_quote(v.ident[0]))


def _char_number(n: NumberNode, text: str) -> None:
    r, tail = unquote_char(text[1:], "'")
    if tail != "'":
        raise ValueError("malformed character constant: %s" % text)
    n.int64 = n.uint64 = r
    n.float64 = float(r)
    n.is_int = n.is_uint = n.is_float = True


def parse_trees(
    name: str, text: str, funcs: Mapping[str, object], left: str = "", right: str = ""
) -> dict[str, Tree]:
    """Parse `text` as template `name`; return every tree it defines, by name."""
    tree_set: dict[str, Tree] = {}
    top = Tree(name, name, text)
    lex = L.Lexer(name, text, left, right, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
    p = _Parser(top, lex, funcs, tree_set)
    p.parse()
    p.add()
    return tree_set
