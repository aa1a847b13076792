"""Parse tree nodes (text/template/parse/node.go). `str(node)` gives Go's
String() form, which execution errors quote as context (`at <.a.b>`)."""

from __future__ import annotations

from typing import Any

from .errors import go_quote


class Tree:
    """One named template: its root list and the text it was parsed from."""

    __slots__ = ("name", "parse_name", "root", "text")

    def __init__(self, name: str, parse_name: str, text: str) -> None:
        self.name = name
        self.parse_name = parse_name
        self.root: ListNode | None = None
        self.text = text

    def location(self, pos: int) -> tuple[int, int]:
        """(line, byte column) of a character offset, as Go's ErrorContext counts."""
        before = self.text[:pos]
        nl = before.rfind("\n")
        line = 1 + before.count("\n")
        col = before[nl + 1 :] if nl >= 0 else before
        return line, len(col.encode("utf-8", "surrogateescape"))


class Node:
    __slots__ = ("pos", "tree")
    kind = "node"
    pos: int  # character offset of the node in its tree's text
    tree: Tree

    def location(self) -> str:
        line, col = self.tree.location(self.pos)
        return "%s:%d:%d" % (self.tree.parse_name, line, col)


class ListNode(Node):
    __slots__ = ("nodes",)
    kind = "list"

    def __init__(self, pos: int, tree: Tree) -> None:
        self.pos, self.tree = pos, tree
        self.nodes: list[Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class TextNode(Node):
    __slots__ = ("text",)
    kind = "text"

    def __init__(self, pos: int, tree: Tree, text: str) -> None:
        self.pos, self.tree, self.text = pos, tree, text

    def __str__(self) -> str:
        return self.text


class CommentNode(Node):
    __slots__ = ("text",)
    kind = "comment"

    def __init__(self, pos: int, tree: Tree, text: str) -> None:
        self.pos, self.tree, self.text = pos, tree, text

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


class PipeNode(Node):
    __slots__ = ("line", "is_assign", "decl", "cmds")
    kind = "pipe"

    def __init__(self, pos: int, tree: Tree, line: int) -> None:
        self.pos, self.tree, self.line = pos, tree, line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class ActionNode(Node):
    __slots__ = ("line", "pipe")
    kind = "action"

    def __init__(self, pos: int, tree: Tree, line: int, pipe: PipeNode) -> None:
        self.pos, self.tree, self.line, self.pipe = pos, tree, line, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class CommandNode(Node):
    __slots__ = ("args",)
    kind = "command"

    def __init__(self, pos: int, tree: Tree) -> None:
        self.pos, self.tree = pos, tree
        self.args: list[Node] = []

    def __str__(self) -> str:
        return " ".join("(" + str(a) + ")" if isinstance(a, PipeNode) else str(a) for a in self.args)


class IdentifierNode(Node):
    __slots__ = ("ident",)
    kind = "identifier"

    def __init__(self, pos: int, tree: Tree, ident: str) -> None:
        self.pos, self.tree, self.ident = pos, tree, ident

    def __str__(self) -> str:
        return self.ident


class VariableNode(Node):
    __slots__ = ("ident",)
    kind = "variable"

    def __init__(self, pos: int, tree: Tree, ident: str) -> None:
        self.pos, self.tree, self.ident = pos, tree, ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class DotNode(Node):
    __slots__ = ()
    kind = "dot"

    def __init__(self, pos: int, tree: Tree) -> None:
        self.pos, self.tree = pos, tree

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    __slots__ = ()
    kind = "nil"

    def __init__(self, pos: int, tree: Tree) -> None:
        self.pos, self.tree = pos, tree

    def __str__(self) -> str:
        return "nil"


class FieldNode(Node):
    __slots__ = ("ident",)
    kind = "field"

    def __init__(self, pos: int, tree: Tree, ident: str) -> None:
        self.pos, self.tree, self.ident = pos, tree, ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    __slots__ = ("node", "field")
    kind = "chain"

    def __init__(self, pos: int, tree: Tree, node: Node) -> None:
        self.pos, self.tree, self.node = pos, tree, node
        self.field: list[str] = []

    def add(self, field: str) -> None:
        # Go stores a field token like ".a.b" split on dots, without the leading dot.
        self.field.extend(field[1:].split("."))

    def __str__(self) -> str:
        head = "(" + str(self.node) + ")" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.field)


class BoolNode(Node):
    __slots__ = ("true",)
    kind = "bool"

    def __init__(self, pos: int, tree: Tree, true: bool) -> None:
        self.pos, self.tree, self.true = pos, tree, true

    def __str__(self) -> str:
        return "true" if self.true else "false"


class NumberNode(Node):
    __slots__ = (
        "text",
        "is_int",
        "is_uint",
        "is_float",
        "is_complex",
        "int64",
        "uint64",
        "float64",
        "complex128",
    )
    kind = "number"

    def __init__(self, pos: int, tree: Tree, text: str) -> None:
        self.pos, self.tree, self.text = pos, tree, text
        self.is_int = self.is_uint = self.is_float = self.is_complex = False
        self.int64 = self.uint64 = 0
        self.float64 = 0.0
        self.complex128 = 0j

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    __slots__ = ("quoted", "text")
    kind = "string"

    def __init__(self, pos: int, tree: Tree, quoted: str, text: str) -> None:
        self.pos, self.tree, self.quoted, self.text = pos, tree, quoted, text

    def __str__(self) -> str:
        return self.quoted


class EndNode(Node):
    __slots__ = ()
    kind = "end"

    def __init__(self, pos: int, tree: Tree) -> None:
        self.pos, self.tree = pos, tree

    def __str__(self) -> str:
        return "{{end}}"


class ElseNode(Node):
    __slots__ = ("line",)
    kind = "else"

    def __init__(self, pos: int, tree: Tree, line: int) -> None:
        self.pos, self.tree, self.line = pos, tree, line

    def __str__(self) -> str:
        return "{{else}}"


class BranchNode(Node):
    """if / range / with."""

    __slots__ = ("line", "pipe", "list", "else_list")
    kind = "branch"

    def __init__(
        self, pos: int, tree: Tree, line: int, pipe: PipeNode, lst: ListNode, else_list: ListNode | None
    ) -> None:
        self.pos, self.tree, self.line = pos, tree, line
        self.pipe, self.list, self.else_list = pipe, lst, else_list

    def __str__(self) -> str:
        s = "{{%s %s}}%s" % (self.kind, self.pipe, self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


class IfNode(BranchNode):
    __slots__ = ()
    kind = "if"


class RangeNode(BranchNode):
    __slots__ = ()
    kind = "range"


class WithNode(BranchNode):
    __slots__ = ()
    kind = "with"


class BreakNode(Node):
    __slots__ = ("line",)
    kind = "break"

    def __init__(self, pos: int, tree: Tree, line: int) -> None:
        self.pos, self.tree, self.line = pos, tree, line

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    __slots__ = ("line",)
    kind = "continue"

    def __init__(self, pos: int, tree: Tree, line: int) -> None:
        self.pos, self.tree, self.line = pos, tree, line

    def __str__(self) -> str:
        return "{{continue}}"


class TemplateNode(Node):
    __slots__ = ("line", "name", "pipe")
    kind = "template"

    def __init__(self, pos: int, tree: Tree, line: int, name: str, pipe: PipeNode | None) -> None:
        self.pos, self.tree, self.line, self.name, self.pipe = pos, tree, line, name, pipe

    def __str__(self) -> str:
        s = "{{template " + go_quote(self.name)
        if self.pipe is not None:
            s += " " + str(self.pipe)
        return s + "}}"


def is_empty_tree(n: Any) -> bool:
    """parse.IsEmptyTree: only whitespace text and comments."""
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(x) for x in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip(" \t\n\v\f\r\x85\xa0") == ""
    return False
