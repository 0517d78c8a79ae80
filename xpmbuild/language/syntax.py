"""The syntax tree of an .xpm file, and the Lark Transformer that builds it.

The grammar (grammar/xpm.lark) gives a parse tree; :class:`ToAst` turns it into the
small node classes below, each with its source position, in the same pass as the LALR
parse. Nothing here knows about types or values: that is check.py and evaluate.py.
"""
from __future__ import annotations

import ast as _pyast
import textwrap

from lark import Token, Transformer, v_args

from .errors import Pos

# ----------------------------------------------------------------------------- nodes


class Node:
    __slots__ = ("pos",)


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

    __slots__ = ("kind", "text", "text_pos")

    def __init__(self, kind, text, pos, text_pos):
        self.kind, self.text, self.pos, self.text_pos = kind, text, pos, text_pos


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

    __slots__ = ("kind", "name", "doc", "params", "outputs", "requires", "action", "file")

    def __init__(self, kind, name, doc, params, outputs, requires, action, pos):
        self.kind, self.name, self.doc = kind, name, doc
        self.params, self.outputs, self.requires, self.action = params, outputs, requires, action
        self.pos = pos
        self.file = pos.file


class Module(Node):
    """One parsed file: its imports, declarations and plan statements, in source order."""

    __slots__ = ("file", "source", "imports", "args", "decls", "stmts")

    def __init__(self, file, source):
        self.file, self.source = file, source
        self.imports, self.args, self.decls, self.stmts = [], [], [], []


# ----------------------------------------------------------------------------- literals


def string_value(token: Token) -> str:
    text = str(token)
    value = _pyast.literal_eval(text)
    if text.startswith(('"""', "'''")):
        if value.startswith("\n"):
            value = value[1:]
        elif value.startswith("\r\n"):
            value = value[2:]
        value = textwrap.dedent(value)
        # a closing quote on its own line leaves trailing blanks: drop them
        if "\n" in value and not value.rsplit("\n", 1)[1].strip():
            value = value.rsplit("\n", 1)[0] + "\n"
    return value


def number_value(token: Token):
    text = str(token).replace("_", "")
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


# ----------------------------------------------------------------------------- transformer


def _binop(op):
    def method(self, meta, c):
        return BinOp(op, c[0], c[1], c[0].pos)
    return method


@v_args(meta=True)
class ToAst(Transformer):
    """Builds syntax nodes; ``file`` is set by the parser before each parse."""

    file = "<input>"

    def _pos(self, meta) -> Pos:
        return Pos(self.file, getattr(meta, "line", 0), getattr(meta, "column", 0))

    def _tpos(self, token: Token) -> Pos:
        return Pos(self.file, token.line, token.column)

    # ---- literals and atoms
    def number(self, meta, c):
        return Const(number_value(c[0]), self._tpos(c[0]))

    def neg_number(self, meta, c):
        return Const(-number_value(c[0]), self._pos(meta))

    def string(self, meta, c):
        try:
            return Const(string_value(c[0]), self._tpos(c[0]))
        except (ValueError, SyntaxError) as e:
            raise self._tpos(c[0]).error(f"invalid string literal: {e}") from None

    def true(self, meta, c):
        return Const(True, self._pos(meta))

    def false(self, meta, c):
        return Const(False, self._pos(meta))

    def none(self, meta, c):
        return Const(None, self._pos(meta))

    def name(self, meta, c):
        return Name(str(c[0]), self._tpos(c[0]))

    def list(self, meta, c):
        return ListExpr([x for x in c if x is not None], self._pos(meta))

    def dict(self, meta, c):
        return DictExpr([x for x in c if x is not None], self._pos(meta))

    def pair(self, meta, c):
        return (c[0], c[1])

    def tag(self, meta, c):
        return TagExpr(c[0], self._pos(meta))

    # ---- operators
    eq, ne, lt, le, gt = _binop("=="), _binop("!="), _binop("<"), _binop("<="), _binop(">")
    ge, add, sub, mul, div = _binop(">="), _binop("+"), _binop("-"), _binop("*"), _binop("/")
    floordiv, mod = _binop("//"), _binop("%")

    def or_(self, meta, c):
        return BoolOp("or", c[0], c[1], self._pos(meta))

    def and_(self, meta, c):
        return BoolOp("and", c[0], c[1], self._pos(meta))

    def not_(self, meta, c):
        return Unary("not", c[0], self._pos(meta))

    def neg(self, meta, c):
        return Unary("-", c[0], self._pos(meta))

    def pos(self, meta, c):
        return Unary("+", c[0], self._pos(meta))

    def call(self, meta, c):
        args, kwargs = [], []
        if c[1] is not None:
            for a in c[1]:
                if isinstance(a, Keyword):
                    kwargs.append(a)
                elif kwargs:
                    raise a.pos.error("positional argument follows keyword argument")
                else:
                    args.append(a)
        return Call(c[0], args, kwargs, c[0].pos)

    def arguments(self, meta, c):
        return c

    def posarg(self, meta, c):
        return c[0]

    def kwarg(self, meta, c):
        return Keyword(str(c[0]), c[1], self._tpos(c[0]))

    def getattr(self, meta, c):
        return GetAttr(c[0], str(c[1]), self._tpos(c[1]))

    def getitem(self, meta, c):
        return GetItem(c[0], c[1], c[1].pos)

    # ---- statements
    def assign(self, meta, c):
        return Assign(str(c[0]), c[1], self._tpos(c[0]))

    def expr_stmt(self, meta, c):
        return ExprStmt(c[0], c[0].pos)

    def for_stmt(self, meta, c):
        return For(str(c[0]), c[1], c[2], self._pos(meta))

    def if_stmt(self, meta, c):
        orelse = c[2] if len(c) > 2 else None
        if isinstance(orelse, If):
            orelse = [orelse]
        return If(c[0], c[1], orelse, self._pos(meta))

    def block(self, meta, c):
        for item in c:
            if not isinstance(item, (Assign, For, If, ExprStmt)):
                raise item.pos.error("declarations (import, arg, config, task) are only "
                                     "allowed at the top level")
        return list(c)

    # ---- types
    def type(self, meta, c):
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
        return TypeExpr(str(name), param, choices, optional, self._tpos(name))

    def type_params(self, meta, c):
        return ("param", c[0])

    def type_choices(self, meta, c):
        return ("choices", [x.value for x in c])

    # ---- declarations
    def import_decl(self, meta, c):
        return Import(string_value(c[0]), self._pos(meta))

    def arg_decl(self, meta, c):
        return ArgDecl(str(c[0]), c[1], c[2], self._tpos(c[0]))

    def docstring(self, meta, c):
        return ("doc", string_value(c[0]), self._tpos(c[0]))

    def param(self, meta, c):
        option = isinstance(c[0], Token) and c[0].type == "OPTION"
        if option:
            c = c[1:]
        default = c[2] if len(c) > 2 else None
        return ("param", Param(str(c[0]), c[1], default, option, self._tpos(c[0])))

    def output_decl(self, meta, c):
        return ("output", Output(str(c[0]), string_value(c[1]), self._tpos(c[0])))

    def requirement(self, meta, c):
        return Requirement(str(c[0]), c[1], self._tpos(c[0]))

    def requires_decl(self, meta, c):
        return ("requires", list(c), self._pos(meta))

    def shell_action(self, meta, c):
        return ("action", Action("shell", string_value(c[0]), self._pos(meta), self._tpos(c[0])))

    def python_action(self, meta, c):
        return ("action", Action("python", string_value(c[0]), self._pos(meta), self._tpos(c[0])))

    def _decl(self, kind, meta, c):
        name_tok = c[0]
        pos = self._tpos(name_tok)
        doc, params, outputs, requires, action = None, [], [], [], None
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
        return ConfigDecl(kind, str(name_tok), doc, params, outputs, requires, action, pos)

    def config_decl(self, meta, c):
        return self._decl("config", meta, c)

    def task_decl(self, meta, c):
        return self._decl("task", meta, c)

    def start(self, meta, c):
        return list(c)
