"""html/template's escaping contexts (context.go semantics): where in an HTML
document an action sits, and the names Go prints for each part of a context."""

from __future__ import annotations

from typing import Any

# states
(
    S_TEXT,
    S_TAG,
    S_ATTR_NAME,
    S_AFTER_NAME,
    S_BEFORE_VALUE,
    S_HTML_CMT,
    S_RCDATA,
    S_ATTR,
    S_URL,
    S_SRCSET,
    S_JS,
    S_JS_DQ_STR,
    S_JS_SQ_STR,
    S_JS_TMPL_LIT,
    S_JS_REGEXP,
    S_JS_BLOCK_CMT,
    S_JS_LINE_CMT,
    S_JS_HTML_OPEN_CMT,
    S_JS_HTML_CLOSE_CMT,
    S_CSS,
    S_CSS_DQ_STR,
    S_CSS_SQ_STR,
    S_CSS_DQ_URL,
    S_CSS_SQ_URL,
    S_CSS_URL,
    S_CSS_BLOCK_CMT,
    S_CSS_LINE_CMT,
    S_ERROR,
    S_META_CONTENT,
    S_META_CONTENT_URL,
    S_DEAD,
) = range(31)
STATE_NAMES = (
    "stateText stateTag stateAttrName stateAfterName stateBeforeValue stateHTMLCmt "
    "stateRCDATA stateAttr stateURL stateSrcset stateJS stateJSDqStr stateJSSqStr "
    "stateJSTmplLit stateJSRegexp stateJSBlockCmt stateJSLineCmt stateJSHTMLOpenCmt "
    "stateJSHTMLCloseCmt stateCSS stateCSSDqStr stateCSSSqStr stateCSSDqURL "
    "stateCSSSqURL stateCSSURL stateCSSBlockCmt stateCSSLineCmt stateError "
    "stateMetaContent stateMetaContentURL stateDead"
).split()
D_NONE, D_DOUBLE, D_SINGLE, D_SPACE = range(4)
DELIM_NAMES = ("delimNone", "delimDoubleQuote", "delimSingleQuote", "delimSpaceOrTagEnd")
U_NONE, U_PRE_QUERY, U_QUERY_OR_FRAG, U_UNKNOWN = range(4)
URL_NAMES = ("urlPartNone", "urlPartPreQuery", "urlPartQueryOrFrag", "urlPartUnknown")
J_REGEXP, J_DIV_OP, J_UNKNOWN = range(3)
JS_NAMES = ("jsCtxRegexp", "jsCtxDivOp", "jsCtxUnknown")
E_NONE, E_SCRIPT, E_STYLE, E_TEXTAREA, E_TITLE, E_META = range(6)
ELEMENT_NAMES = (
    "elementNone",
    "elementScript",
    "elementStyle",
    "elementTextarea",
    "elementTitle",
    "elementMeta",
)
A_NONE, A_SCRIPT, A_SCRIPT_TYPE, A_STYLE, A_URL, A_SRCSET, A_META_CONTENT = range(7)
ATTR_NAMES = (
    "attrNone",
    "attrScript",
    "attrScriptType",
    "attrStyle",
    "attrURL",
    "attrSrcset",
    "attrMetaContent",
)


class EscErr:
    """html/template's Error: a code-less description with a node or a line."""

    __slots__ = ("node", "name", "line", "description", "at")

    def __init__(self, node: Any, line: int, description: str) -> None:
        self.node = node
        self.name = ""
        self.line = line
        self.description = description
        # (tree, offset) of the text where an error Go places nowhere arose: our location only
        self.at: tuple[Any, int] | None = None

    def __str__(self) -> str:
        if self.node is not None:
            return "html/template:%s: %s" % (self.node.location(), self.description)
        if self.line:
            return "html/template:%s:%d: %s" % (self.name, self.line, self.description)
        if self.name:
            return "html/template:%s: %s" % (self.name, self.description)
        return "html/template: " + self.description


class Ctx:
    __slots__ = ("state", "delim", "url_part", "js_ctx", "js_brace", "attr", "element", "n", "err")

    def __init__(
        self,
        state: int = S_TEXT,
        delim: int = D_NONE,
        url_part: int = U_NONE,
        js_ctx: int = J_REGEXP,
        js_brace: list[int] | None = None,
        attr: int = A_NONE,
        element: int = E_NONE,
        err: EscErr | None = None,
    ) -> None:
        self.state = state
        self.delim = delim
        self.url_part = url_part
        self.js_ctx = js_ctx
        self.js_brace = js_brace
        self.attr = attr
        self.element = element
        self.n: Any = None  # the {{break}} or {{continue}} node that left a range body here
        self.err = err

    def copy(self, **kw: Any) -> Ctx:
        c = Ctx(
            self.state,
            self.delim,
            self.url_part,
            self.js_ctx,
            list(self.js_brace) if self.js_brace is not None else None,
            self.attr,
            self.element,
            self.err,
        )
        c.n = self.n
        for k, v in kw.items():
            setattr(c, k, v)
        return c

    def eq(self, d: Ctx) -> bool:
        return (
            self.state == d.state
            and self.delim == d.delim
            and self.url_part == d.url_part
            and self.js_ctx == d.js_ctx
            and (self.js_brace or []) == (d.js_brace or [])
            and self.attr == d.attr
            and self.element == d.element
            and self.err is d.err
        )

    def __str__(self) -> str:
        brace = "[" + " ".join(str(x) for x in (self.js_brace or [])) + "]"
        return "{%s %s %s %s %s %s %s %s}" % (
            STATE_NAMES[self.state],
            DELIM_NAMES[self.delim],
            URL_NAMES[self.url_part],
            JS_NAMES[self.js_ctx],
            brace,
            ATTR_NAMES[self.attr],
            ELEMENT_NAMES[self.element],
            self.err if self.err is not None else "<nil>",
        )

    def mangle(self, name: str) -> str:
        if self.state == S_TEXT:
            return name
        s = name + "$htmltemplate_" + STATE_NAMES[self.state]
        if self.delim != D_NONE:
            s += "_" + DELIM_NAMES[self.delim]
        if self.url_part != U_NONE:
            s += "_" + URL_NAMES[self.url_part]
        if self.js_ctx != J_REGEXP:
            s += "_" + JS_NAMES[self.js_ctx]
        if self.js_brace is not None:
            s += "_jsBraceDepth([%s])" % " ".join(str(x) for x in self.js_brace)
        if self.attr != A_NONE:
            s += "_" + ATTR_NAMES[self.attr]
        if self.element != E_NONE:
            s += "_" + ELEMENT_NAMES[self.element]
        return s


def error_ctx(node: Any, line: int, msg: str) -> Ctx:
    return Ctx(state=S_ERROR, err=EscErr(node, line, msg))


def is_comment(s: int) -> bool:
    return s in (
        S_HTML_CMT,
        S_JS_BLOCK_CMT,
        S_JS_LINE_CMT,
        S_JS_HTML_OPEN_CMT,
        S_JS_HTML_CLOSE_CMT,
        S_CSS_BLOCK_CMT,
        S_CSS_LINE_CMT,
    )


def is_in_tag(s: int) -> bool:
    return s in (S_TAG, S_ATTR_NAME, S_AFTER_NAME, S_BEFORE_VALUE, S_ATTR)


def is_in_script_literal(s: int) -> bool:
    return s in (S_JS_DQ_STR, S_JS_SQ_STR, S_JS_TMPL_LIT, S_JS_REGEXP)


def goq(s: str, limit: int | None = None) -> str:
    from .errors import go_quote

    return go_quote(s, limit)
