"""The syntax tree of an .xpm file, and the Lark Transformer that builds it.

The grammar (grammar/xpm.lark) gives a parse tree; :class:`ToAst` turns it into the
small node classes below, each with its source position, in the same pass as the LALR
parse. Nothing here knows about types or values: that is check.py and evaluate.py.
"""
from __future__ import annotations

import math
import sys
import textwrap

from lark import Token, Transformer

from .errors import Pos

# ----------------------------------------------------------------------------- nodes


class Node:
    __slots__ = ("pos", "depth")


class Expr(Node):
    __slots__ = ()


class Const(Expr):
    __slots__ = ("value",)

    def __init__(self, value, pos):
        self.value, self.pos = value, pos


class Name(Expr):
    __slots__ = ("name",)

    def __init__(self, name, pos):
        self.name, self.pos = name, pos


class ListExpr(Expr):
    __slots__ = ("items",)

    def __init__(self, items, pos):
        self.items, self.pos = items, pos


class DictExpr(Expr):
    __slots__ = ("pairs",)

    def __init__(self, pairs, pos):
        self.pairs, self.pos = pairs, pos


class Call(Expr):
    """``func(args..., name=value...)``; kwargs keep their own positions for errors."""

    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func, args, kwargs, pos):
        self.func, self.args, self.kwargs, self.pos = func, args, kwargs, pos


class Keyword(Node):
    __slots__ = ("name", "value")

    def __init__(self, name, value, pos):
        self.name, self.value, self.pos = name, value, pos


class GetAttr(Expr):
    __slots__ = ("obj", "name")

    def __init__(self, obj, name, pos):
        self.obj, self.name, self.pos = obj, name, pos


class GetItem(Expr):
    __slots__ = ("obj", "index")

    def __init__(self, obj, index, pos):
        self.obj, self.index, self.pos = obj, index, pos


class BinOp(Expr):
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right, pos):
        self.op, self.left, self.right, self.pos = op, left, right, pos


class BoolOp(Expr):
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right, pos):
        self.op, self.left, self.right, self.pos = op, left, right, pos


class Unary(Expr):
    __slots__ = ("op", "operand")

    def __init__(self, op, operand, pos):
        self.op, self.operand, self.pos = op, operand, pos


class TagExpr(Expr):
    __slots__ = ("value",)

    def __init__(self, value, pos):
        self.value, self.pos = value, pos


# statements


class Assign(Node):
    __slots__ = ("name", "value")

    def __init__(self, name, value, pos):
        self.name, self.value, self.pos = name, value, pos


class For(Node):
    __slots__ = ("name", "iterable", "body")

    def __init__(self, name, iterable, body, pos):
        self.name, self.iterable, self.body, self.pos = name, iterable, body, pos


class If(Node):
    __slots__ = ("cond", "body", "orelse")

    def __init__(self, cond, body, orelse, pos):
        self.cond, self.body, self.orelse, self.pos = cond, body, orelse, pos


class ExprStmt(Node):
    __slots__ = ("expr",)

    def __init__(self, expr, pos):
        self.expr, self.pos = expr, pos


# declarations


class TypeExpr(Node):
    """``NAME``, ``NAME[T]``, ``choice(lit, ...)``, each optionally followed by ``?``."""

    __slots__ = ("name", "param", "choices", "optional")

    def __init__(self, name, param, choices, optional, pos):
        self.name, self.param, self.choices, self.optional, self.pos = (
            name, param, choices, optional, pos)


class Param(Node):
    __slots__ = ("name", "type", "default", "option")

    def __init__(self, name, type_, default, option, pos):
        self.name, self.type, self.default, self.option, self.pos = (
            name, type_, default, option, pos)


class Output(Node):
    __slots__ = ("name", "path")

    def __init__(self, name, path, pos):
        self.name, self.path, self.pos = name, path, pos


class Requirement(Node):
    __slots__ = ("name", "value")

    def __init__(self, name, value, pos):
        self.name, self.value, self.pos = name, value, pos


class Action(Node):
    """``shell "TEMPLATE"`` or ``python "module:function"``."""

    __slots__ = ("kind", "text", "text_pos", "raw")

    def __init__(self, kind, text, pos, text_pos):
        self.kind, self.text, self.pos, self.text_pos = kind, text, pos, text_pos
        self.raw = None     # the string token as written, quotes included

    def index_pos(self, index: int) -> Pos:
        """The position in the source of character ``index`` of ``text``."""
        p = self.text_pos
        if self.raw is None:
            return p
        try:
            _, offs = string_value(self.raw, offsets=True)
        except StringError:     # pragma: no cover - the parse accepted it
            return p
        raw_index = offs[index] if 0 <= index < len(offs) else len(self.raw) - 1
        return token_index_pos(p.file, _TokenAt(self.raw, p), raw_index)


class Import(Node):
    __slots__ = ("path",)

    def __init__(self, path, pos):
        self.path, self.pos = path, pos


class ArgDecl(Node):
    __slots__ = ("name", "type", "default")

    def __init__(self, name, type_, default, pos):
        self.name, self.type, self.default, self.pos = name, type_, default, pos


class ConfigDecl(Node):
    """A ``config`` or ``task`` declaration (a task is a config with outputs and an action)."""

    __slots__ = ("kind", "name", "doc", "params", "outputs", "requires", "action", "file",
                 "uses")

    def __init__(self, kind, name, doc, params, outputs, requires, action, pos, uses=()):
        self.kind, self.name, self.doc = kind, name, doc
        self.params, self.outputs, self.requires, self.action = params, outputs, requires, action
        self.pos = pos
        self.file = pos.file
        self.uses = list(uses)      # (path text, Pos of its string), from `uses` lines


class _TokenAt(str):
    """A string with a token's line and column (for :func:`token_index_pos`)."""

    def __new__(cls, text, pos):
        self = super().__new__(cls, text)
        self.line, self.column = pos.line, pos.column
        return self


class Module(Node):
    """One parsed file: its imports, declarations and plan statements, in source order."""

    __slots__ = ("file", "source", "imports", "args", "decls", "stmts")

    def __init__(self, file, source):
        self.file, self.source = file, source
        self.imports, self.args, self.decls, self.stmts = [], [], [], []


# ----------------------------------------------------------------------------- literals

# Bounds on the syntax (docs/language.md §10): deeper nesting is refused where it starts.
MAX_DEPTH = 100             # nested brackets/blocks, and levels of the syntax tree
MAX_INT_DIGITS = 4300       # decimal digits of an int (Python's own str-conversion bound)

_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\n": ""}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCT_DIGITS = frozenset("01234567")
_TRIPLE = ('"' * 3, "'" * 3)


class StringError(ValueError):
    """An invalid string literal; ``index`` is where in the token's text."""

    def __init__(self, message, index):
        super().__init__(message)
        self.message, self.index = message, index


def decode_string(raw: str, offsets: bool = False):
    """The value of a string token (its quotes included): Python's escapes, strictly.

    An unknown escape (a backslash before a letter Python gives no meaning), a bad
    x/u/U/N or octal escape, a NUL character (written or escaped) and a lone surrogate
    are errors (:class:`StringError`, with the index in ``raw``). Line breaks inside a
    triple-quoted string become a newline (CR LF and CR as Python reads them). With
    ``offsets``, also returns the index in ``raw`` of every character of the value.
    """
    q = 3 if raw.startswith(_TRIPLE) else 1
    start, end = q, len(raw) - q
    body = raw[start:end]
    if not offsets and "\\" not in body and "\r" not in body and "\x00" not in body:
        return body     # the common case: nothing to decode
    out: list = []
    offs: list = []
    i = start
    while i < end:
        c = raw[i]
        at = i
        if c == "\\":
            nxt = raw[i + 1] if i + 1 < end else ""
            if nxt == "\r":                                 # a backslash-newline, CR LF
                i += 3 if raw.startswith("\r\n", i + 1) else 2
                continue
            if nxt in _SIMPLE_ESCAPES and nxt:
                value, i = _SIMPLE_ESCAPES[nxt], i + 2
            elif nxt and nxt in _OCT_DIGITS:
                j = i + 1
                while j < end and j < i + 4 and raw[j] in _OCT_DIGITS:
                    j += 1
                code = int(raw[i + 1:j], 8)
                if code > 0o377:
                    raise StringError(f"invalid octal escape {raw[i:j]} (at most \\377)", i)
                value, i = chr(code), j
            elif nxt and nxt in "xuU":
                n = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = raw[i + 2:min(i + 2 + n, end)]
                if len(digits) < n or not all(d in _HEX_DIGITS for d in digits):
                    raise StringError(f"invalid \\{nxt} escape: expected {n} hex digits "
                                      f"after \\{nxt}", i)
                code = int(digits, 16)
                if code > 0x10FFFF:
                    raise StringError(f"invalid \\U escape: {raw[i:i + 10]} is beyond "
                                      "U+10FFFF", i)
                value, i = chr(code), i + 2 + n
            elif nxt == "N":
                close = raw.find("}", i + 2, end)
                name = raw[i + 3:close] if raw.startswith("{", i + 2) and close > 0 else None
                value = _unicode_name(name) if name else None
                if value is None:
                    shown = raw[i:close + 1] if name else "\\N"
                    raise StringError(f"invalid \\N escape {shown[:60]}: expected "
                                      "\\N{UNICODE CHARACTER NAME}", i)
                i = close + 1
            else:
                shown = "\\" + nxt if nxt else "\\"
                raise StringError(f"invalid escape sequence {shown} in a string (write "
                                  "\\\\ for a backslash)", i)
            if not value:
                continue
        elif c == "\r":
            if q == 1:
                raise StringError("a carriage return (\\r) inside a one-line string", i)
            value = "\n"
            i += 2 if raw.startswith("\r\n", i) else 1
        else:
            value, i = c, i + 1
        if value == "\x00":
            raise StringError("a NUL character in a string", at)
        if "\ud800" <= value <= "\udfff":
            raise StringError(f"a lone surrogate U+{ord(value):04X} in a string", at)
        out.append(value)
        if offsets:
            offs.append(at)
    value = "".join(out)
    return (value, offs) if offsets else value


def _unicode_name(name):
    import unicodedata
    try:
        value = unicodedata.lookup(name)
    except KeyError:
        return None
    return value if len(value) == 1 else None   # a named sequence is no \N{...}


def _dedent(value: str, offs):
    """textwrap.dedent, also carrying the source index of every character."""
    if offs is None:
        return textwrap.dedent(value), None
    lines, line_offs, k = value.split("\n"), [], 0
    newline_offs = []
    for line in lines:
        line_offs.append(offs[k:k + len(line)])
        k += len(line)
        if k < len(offs):
            newline_offs.append(offs[k])
        k += 1
    margin = None
    for n, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        if line and not stripped:               # blanks only: emptied, as textwrap does
            lines[n], line_offs[n] = "", []
            continue
        if not line:
            continue
        indent = line[:len(line) - len(stripped)]
        if margin is None:
            margin = indent
        elif indent.startswith(margin):
            pass
        elif margin.startswith(indent):
            margin = indent
        else:
            for i, (x, y) in enumerate(zip(margin, indent)):
                if x != y:
                    margin = margin[:i]
                    break
    out, out_offs = [], []
    for n, line in enumerate(lines):
        o = line_offs[n]
        if margin and line.startswith(margin):
            line, o = line[len(margin):], o[len(margin):]
        out.append(line)
        out_offs.extend(o)
        if n < len(newline_offs):
            out_offs.append(newline_offs[n])
    return "\n".join(out), out_offs


def string_value(token: Token, offsets: bool = False):
    """The value of a STRING token; with ``offsets``, (value, index in the token per char).

    Raises :class:`StringError` for an invalid literal.
    """
    text = str(token)
    if offsets:
        value, offs = decode_string(text, True)
    else:
        value, offs = decode_string(text), None
    if text.startswith(_TRIPLE):
        if value.startswith("\n"):
            value, offs = value[1:], offs and offs[1:]
        elif value.startswith("\r\n"):
            value, offs = value[2:], offs and offs[2:]
        value, offs = _dedent(value, offs)
        # a closing quote on its own line leaves trailing blanks: drop them
        if "\n" in value and not value.rsplit("\n", 1)[1].strip():
            head = value.rsplit("\n", 1)[0]
            value, offs = head + "\n", offs and offs[:len(head) + 1]
    return (value, offs) if offsets else value


def token_index_pos(file: str, token, index: int) -> Pos:
    """The position of character ``index`` of ``token``'s text (which may span lines)."""
    text = str(token)
    nl = text.rfind("\n", 0, index)
    if nl < 0:
        return Pos(file, token.line, token.column + index)
    return Pos(file, token.line + text.count("\n", 0, index), index - nl)


def number_value(token: Token):
    """The value of a NUMBER token; ValueError for an int or a float out of bounds."""
    text = str(token).replace("_", "")
    if any(c in text for c in ".eE"):
        value = float(text)
        if math.isinf(value):
            raise ValueError(f"float literal out of range: {shorten(str(token))} is beyond "
                             f"the largest float, {sys.float_info.max!r}")
        return value
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError(f"integer literal too large: {len(digits)} digits (at most "
                         f"{MAX_INT_DIGITS})")
    return int(digits)


def shorten(text: str, n: int = 40) -> str:
    """``text``, its middle elided beyond ``n`` characters (for messages)."""
    return text if len(text) <= n else text[:n // 2] + "..." + text[-(n // 2):]


# ----------------------------------------------------------------------------- transformer


def _depth(x) -> int:
    return getattr(x, "depth", 0)


def first_pos(e) -> Pos:
    """The position of the first token of expression ``e`` (its own pos may be later)."""
    while True:
        t = type(e)
        if t is BinOp or t is BoolOp:
            e = e.left
        elif t is GetAttr or t is GetItem:
            e = e.obj
        elif t is Call:
            e = e.func
        else:
            return e.pos


def _binop(op):
    def method(self, c):
        return self._nest(BinOp(op, c[0], c[1], c[0].pos), c[0], c[1])
    return method


class ToAst(Transformer):
    """Builds syntax nodes as the LALR parser reduces (Lark's inline transformer: no parse
    tree, no recursion); ``file`` is set by the parser before each parse.

    Every node gets a ``depth`` (1 + its deepest child); one deeper than
    :data:`MAX_DEPTH` is an error at that node, so that the recursive passes after the
    parse (check, compile, evaluate) stay far from Python's recursion limit.
    """

    file = "<input>"

    def _tpos(self, token: Token) -> Pos:
        return Pos(self.file, token.line, token.column)

    def _nest(self, node, *children):
        d = 0
        for ch in children:
            cd = getattr(ch, "depth", 0)
            if cd > d:
                d = cd
        node.depth = d + 1
        if d >= MAX_DEPTH:
            raise first_pos(node).error(
                f"too deeply nested: more than {MAX_DEPTH} levels of expressions, blocks or "
                "types here (each operator of a chain, call, bracket and block is a level)")
        return node

    def _string(self, token: Token) -> str:
        try:
            return string_value(token)
        except StringError as e:
            raise token_index_pos(self.file, token, e.index).error(e.message) from None

    def _number(self, token: Token, pos: Pos | None = None):
        try:
            return number_value(token)
        except ValueError as e:
            err = (pos or self._tpos(token)).error(str(e))
            err.limit = True
            raise err from None

    # ---- literals and atoms
    def number(self, c):
        return Const(self._number(c[0]), self._tpos(c[0]))

    def neg_number(self, c):
        return Const(-self._number(c[1]), self._tpos(c[0]))

    def string(self, c):
        return Const(self._string(c[0]), self._tpos(c[0]))

    def true(self, c):
        return Const(True, self._tpos(c[0]))

    def false(self, c):
        return Const(False, self._tpos(c[0]))

    def none(self, c):
        return Const(None, self._tpos(c[0]))

    def name(self, c):
        return Name(str(c[0]), self._tpos(c[0]))

    def list(self, c):
        items = [x for x in c[1:] if x is not None]
        return self._nest(ListExpr(items, self._tpos(c[0])), *items)

    def dict(self, c):
        pairs = [x for x in c[1:] if x is not None]
        return self._nest(DictExpr(pairs, self._tpos(c[0])), *[x for p in pairs for x in p])

    def pair(self, c):
        return (c[0], c[1])

    def tag(self, c):
        return self._nest(TagExpr(c[1], self._tpos(c[0])), c[1])

    # ---- operators
    eq, ne, lt, le, gt = _binop("=="), _binop("!="), _binop("<"), _binop("<="), _binop(">")
    ge, add, sub, mul, div = _binop(">="), _binop("+"), _binop("-"), _binop("*"), _binop("/")
    floordiv, mod = _binop("//"), _binop("%")

    def or_(self, c):
        return self._nest(BoolOp("or", c[0], c[1], first_pos(c[0])), c[0], c[1])

    def and_(self, c):
        return self._nest(BoolOp("and", c[0], c[1], first_pos(c[0])), c[0], c[1])

    def not_(self, c):
        return self._nest(Unary("not", c[1], self._tpos(c[0])), c[1])

    def neg(self, c):
        return self._nest(Unary("-", c[1], self._tpos(c[0])), c[1])

    def pos(self, c):
        return self._nest(Unary("+", c[1], self._tpos(c[0])), c[1])

    def call(self, c):
        args, kwargs = [], []
        if c[1] is not None:
            for a in c[1]:
                if isinstance(a, Keyword):
                    kwargs.append(a)
                elif kwargs:
                    raise a.pos.error("positional argument follows keyword argument")
                else:
                    args.append(a)
        return self._nest(Call(c[0], args, kwargs, c[0].pos), c[0], *args,
                          *[k.value for k in kwargs])

    def arguments(self, c):
        return c

    def posarg(self, c):
        return c[0]

    def kwarg(self, c):
        return Keyword(str(c[0]), c[1], self._tpos(c[0]))

    def getattr(self, c):
        return self._nest(GetAttr(c[0], str(c[1]), self._tpos(c[1])), c[0])

    def getitem(self, c):
        return self._nest(GetItem(c[0], c[1], c[1].pos), c[0], c[1])

    # ---- statements
    def assign(self, c):
        return self._nest(Assign(str(c[0]), c[1], self._tpos(c[0])), c[1])

    def expr_stmt(self, c):
        return self._nest(ExprStmt(c[0], c[0].pos), c[0])

    def for_stmt(self, c):
        return self._nest(For(str(c[1]), c[2], c[3], self._tpos(c[0])), c[2], *c[3])

    def if_stmt(self, c):
        orelse = c[3] if len(c) > 3 else None
        if isinstance(orelse, If):
            orelse = [orelse]
        return self._nest(If(c[1], c[2], orelse, self._tpos(c[0])), c[1], *c[2],
                          *(orelse or ()))

    def block(self, c):
        for item in c:
            if not isinstance(item, (Assign, For, If, ExprStmt)):
                raise item.pos.error("declarations (import, arg, config, task) are only "
                                     "allowed at the top level")
        return list(c)

    # ---- types
    def type(self, c):
        name = c[0]
        param = choices = None
        optional = False
        for x in c[1:]:
            if isinstance(x, Token) and x.type == "OPTIONAL":
                optional = True
            elif isinstance(x, tuple) and x[0] == "param":
                param = x[1]
            elif isinstance(x, tuple) and x[0] == "choices":
                choices = x[1]
        return self._nest(TypeExpr(str(name), param, choices, optional, self._tpos(name)),
                          param)

    def type_params(self, c):
        return ("param", c[0])

    def type_choices(self, c):
        return ("choices", [x.value for x in c])

    # ---- declarations
    def import_decl(self, c):
        return Import(self._string(c[1]), self._tpos(c[0]))

    def arg_decl(self, c):
        return ArgDecl(str(c[0]), c[1], c[2], self._tpos(c[0]))

    def docstring(self, c):
        return ("doc", self._string(c[0]), self._tpos(c[0]))

    def param(self, c):
        option = isinstance(c[0], Token) and c[0].type == "OPTION"
        if option:
            c = c[1:]
        default = c[2] if len(c) > 2 else None
        return ("param", Param(str(c[0]), c[1], default, option, self._tpos(c[0])))

    def output_decl(self, c):
        return ("output", Output(str(c[0]), self._string(c[1]), self._tpos(c[0])))

    def requirement(self, c):
        return Requirement(str(c[0]), c[1], self._tpos(c[0]))

    def requires_decl(self, c):
        return ("requires", list(c[1:]), self._tpos(c[0]))

    def uses_decl(self, c):
        word = str(c[0])
        if word != "uses":
            import difflib
            hint = " (did you mean `uses`?)" if difflib.get_close_matches(word, ["uses"]) \
                else ""
            raise self._tpos(c[0]).error(
                f"unexpected {word!r} before a string in a declaration body{hint}; expected "
                "a parameter (name: type), output, requires, uses, shell or python")
        return ("uses", [(self._string(t), self._tpos(t)) for t in c[1:]], self._tpos(c[0]))

    def _action(self, kind, c):
        action = Action(kind, self._string(c[1]), self._tpos(c[0]), self._tpos(c[1]))
        action.raw = str(c[1])
        return ("action", action)

    def shell_action(self, c):
        return self._action("shell", c)

    def python_action(self, c):
        return self._action("python", c)

    def _decl(self, kind, c):
        name_tok = c[0]
        pos = self._tpos(name_tok)
        doc, params, outputs, requires, action, uses = None, [], [], [], None, []
        for i, item in enumerate(c[1:]):
            tag = item[0]
            if tag == "doc":
                if i != 0:
                    raise item[2].error("a docstring may only come first in a declaration body")
                doc = item[1]
            elif tag == "param":
                params.append(item[1])
            elif tag == "output":
                if kind == "config":
                    raise item[1].pos.error("`output` is only allowed in a task, not a config")
                outputs.append(item[1])
            elif tag == "requires":
                if kind == "config":
                    raise item[2].error("`requires` is only allowed in a task, not a config")
                requires.extend(item[1])
            elif tag == "uses":
                if kind == "config":
                    raise item[2].error("`uses` is only allowed in a task, not a config")
                uses.extend(item[1])
            elif tag == "action":
                if kind == "config":
                    raise item[1].pos.error("an action is only allowed in a task, not a config")
                if action is not None:
                    raise item[1].pos.error(
                        f"task {name_tok} already has an action (line {action.pos.line}): "
                        "a task has exactly one `shell` or `python` action")
                action = item[1]
        if kind == "task" and action is None:
            raise pos.error(f"task {name_tok} has no action: expected a `shell \"...\"` or "
                            "`python \"module:function\"` line in its body")
        return ConfigDecl(kind, str(name_tok), doc, params, outputs, requires, action, pos,
                          uses)

    def config_decl(self, c):
        return self._decl("config", c)

    def task_decl(self, c):
        return self._decl("task", c)

    def start(self, c):
        return list(c)
