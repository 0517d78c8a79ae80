"""The syntax tree of an .xpm file: small node classes, each with its source position.

:mod:`.transform` builds them as the parser reduces (each node also has a ``depth``,
1 + its deepest child's); nothing here knows about types or values: that is
:mod:`.check` and :mod:`.evaluate`.
"""
from __future__ import annotations

from .errors import Pos
from .literals import value_index_pos

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


class ListComp(Expr):
    """``[elt for NAME in EXPR if EXPR ... for ...]``: ``clauses`` are :class:`CompFor`."""

    __slots__ = ("elt", "clauses")

    def __init__(self, elt, clauses, pos):
        self.elt, self.clauses, self.pos = elt, clauses, pos


class CompFor(Node):
    """One ``for NAME in EXPR`` of a comprehension, with its ``if`` conditions."""

    __slots__ = ("name", "iterable", "conds")

    def __init__(self, name, iterable, conds, pos):
        self.name, self.iterable, self.conds, self.pos = name, iterable, conds, pos


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
        if self.raw is None:
            return self.text_pos
        return value_index_pos(self.raw, self.text_pos, index)


class Import(Node):
    __slots__ = ("path",)

    def __init__(self, path, pos):
        self.path, self.pos = path, pos


class ArgDecl(Node):
    __slots__ = ("name", "type", "default")

    def __init__(self, name, type_, default, pos):
        self.name, self.type, self.default, self.pos = name, type_, default, pos


class ConfigDecl(Node):
    """A ``config``, ``task`` or ``service`` declaration (a task is a config with outputs and
    an action; a service has parameters, a shell action and a url)."""

    __slots__ = ("kind", "name", "doc", "params", "outputs", "requires", "action", "file",
                 "uses", "url")

    def __init__(self, kind, name, doc, params, outputs, requires, action, pos, uses=()):
        self.kind, self.name, self.doc = kind, name, doc
        self.params, self.outputs, self.requires, self.action = params, outputs, requires, action
        self.pos = pos
        self.file = pos.file
        self.uses = list(uses)      # (path text, Pos of its string), from `uses` lines
        self.url = None             # a service's `url` line (an Action of kind "url")


class Module(Node):
    """One parsed file: its imports, declarations and plan statements, in source order."""

    __slots__ = ("file", "source", "imports", "args", "decls", "stmts")

    def __init__(self, file, source):
        self.file, self.source = file, source
        self.imports, self.args, self.decls, self.stmts = [], [], [], []


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
