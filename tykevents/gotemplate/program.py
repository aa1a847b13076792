"""A compiled template set: its trees, their runners (compiled on first use) and the
execution options. It sits above compile.py, which builds the runners, and exec.py,
which holds the state they share, so neither of those needs to import the other's user.
"""

from __future__ import annotations

from typing import Any

from .builtins import Func
from .compile import Compiler
from .errors import ExecError
from .exec import MAX_EXEC_DEPTH, State
from .exprs import Run
from .govalues import MISSING
from .nodes import Tree


class Program:
    """A compiled template set: name -> runner, plus execution options."""

    def __init__(self, funcs: dict[str, Func], missingkey: int, html: bool) -> None:
        self.funcs = funcs
        self.missingkey = missingkey
        self.html = html
        self.templates: dict[str, Run] = {}
        self.trees: dict[str, Tree] = {}
        self.compiler = Compiler(self)

    def runner(self, name: str) -> Run | None:
        r = self.templates.get(name)
        if r is None:
            tree = self.trees.get(name)
            if tree is None:
                return None
            r = self.templates[name] = self.compiler.template(tree)
        return r

    def execute(self, name: str, data: Any) -> str:
        run = self.runner(name)
        assert run is not None, "callers execute only the set's own templates"
        st = State(self, name)
        dot = MISSING if data is None else data
        st.vars.append(["$", dot, False])
        try:
            run(st, dot)
        except ExecError as e:
            e.partial = "".join(st.out)
            raise
        except RecursionError:
            err = ExecError(
                "template: %s: exceeded maximum template depth (%d)" % (name, MAX_EXEC_DEPTH),
                name,
                "".join(st.out),
            )
            raise err from None
        return "".join(st.out)
