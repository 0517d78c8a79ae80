"""The tree builder: the Lark Transformer that turns the grammar's reductions into the
syntax tree (:mod:`.syntax`).

The grammar (grammar/xpm.lark) is parsed by Lark's LALR parser, which calls
:class:`ToAst` as it reduces (no parse tree, no recursion). Literals are decoded here
(:mod:`.literals`), declaration bodies are sorted into their parts, and the nesting
bound (:data:`~.limits.MAX_DEPTH`) is enforced node by node.
"""
from __future__ import annotations

from lark import Token, Transformer

from .errors import Pos
from .limits import MAX_DEPTH, limit_error
from .literals import StringError, number_value, string_value, token_index_pos
from .syntax import (Action, ArgDecl, Assign, BinOp, BoolOp, Call, CompFor, ConfigDecl, Const,
                     DictExpr, ExprStmt, For, GetAttr, GetItem, If, Import, Keyword, ListComp, ListExpr,
                     Name, Output, Param, Requirement, TagExpr, TypeExpr, Unary, first_pos)


def _binop(op):
    def method(self, c):
        return self._nest(BinOp(op, c[0], c[1], c[0].pos), c[0], c[1])
    return method


class _Rules(Transformer):
    """What every rule uses: positions, depth, the literals' values."""

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
            raise limit_error(pos or self._tpos(token), str(e)) from None


class _DeclarationRules(_Rules):
    """The rules of types and declarations (import, arg, config, task and their bodies)."""

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
        if word == "url" and len(c) == 2:       # a service's `url "TEMPLATE"` line
            return ("url", self._string(c[1]), self._tpos(c[0]), self._tpos(c[1]), str(c[1]))
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
        url = None
        for i, item in enumerate(c[1:]):
            tag = item[0]
            if kind == "service":
                if tag in ("output", "requires", "uses") or (
                        tag == "action" and item[1].kind != "shell"):
                    where = item[1].pos if tag in ("output", "action") else item[2]
                    what = "a python action" if tag == "action" else f"`{tag}`"
                    raise where.error(f"{what} is not allowed in a service (a service has "
                                      "parameters, a `shell` action and a `url`)")
                if tag == "url":
                    if url is not None:
                        raise item[2].error(f"service {name_tok} already has a url")
                    url = Action("url", item[1], item[2], item[3])
                    url.raw = item[4]
                    continue
            elif tag == "url":
                raise item[2].error(f"unexpected 'url' in a {kind} body: `url` is only "
                                    "allowed in a service; expected a parameter (name: type), "
                                    "output, requires, uses, shell or python")
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
        if kind == "service" and (action is None or url is None):
            missing = "shell" if action is None else "url"
            raise pos.error(f"service {name_tok} has no {missing}: expected a "
                            f"`{missing} \"...\"` line in its body")
        decl = ConfigDecl(kind, str(name_tok), doc, params, outputs, requires, action, pos,
                          uses)
        decl.url = url
        return decl

    def config_decl(self, c):
        return self._decl("config", c)

    def task_decl(self, c):
        return self._decl("task", c)

    def service_decl(self, c):
        return self._decl("service", c)

    def start(self, c):
        return list(c)


class ToAst(_DeclarationRules):
    """Builds syntax nodes as the LALR parser reduces (Lark's inline transformer: no parse
    tree, no recursion); ``file`` is set by the parser before each parse.

    Every node gets a ``depth`` (1 + its deepest child); one deeper than
    :data:`MAX_DEPTH` is an error at that node, so that the recursive passes after the
    parse (check, compile, evaluate) stay far from Python's recursion limit.
    """

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

    def literal_list(self, c):
        """A long list of literals read by parser.literal_runs: a ListExpr of Consts, each
        at its exact position."""
        items = self.runs[int(str(c[1]).strip("\0"))]
        text = self.source
        first = c[0]
        line, line_start = first.line, first.start_pos - (first.column - 1)
        prev = first.start_pos
        out = []
        for item, offset in items:
            nl = text.count("\n", prev, offset)
            if nl:
                line += nl
                line_start = text.rindex("\n", prev, offset) + 1
            prev = offset
            col = offset - line_start + 1
            if len(item) < 18 and (item.isdigit() or item[0] == "-" and item[1:].isdigit()):
                out.append(Const(int(item), Pos(self.file, line, col)))     # the usual case
            elif item[0] in "\"'":
                tok = Token("STRING", item, offset, line, col)
                out.append(Const(self._string(tok), Pos(self.file, line, col)))
            elif item in ("True", "False", "None"):
                out.append(Const({"True": True, "False": False}.get(item),
                                 Pos(self.file, line, col)))
            else:
                neg = item.startswith("-")
                tok = Token("NUMBER", item[1:] if neg else item, offset, line, col)
                v = self._number(tok)
                out.append(Const(-v if neg else v, Pos(self.file, line, col)))
        return self._nest(ListExpr(out, self._tpos(first)))

    def list_comp(self, c):
        clauses = c[2:]
        return self._nest(ListComp(c[1], clauses, self._tpos(c[0])), c[1], *clauses)

    def comp_for(self, c):
        conds = [x for x in c[4::2]]        # FOR NAME iterable (IF cond)*
        node = CompFor(str(c[1]), c[2], conds, self._tpos(c[1]))
        return self._nest(node, c[2], *conds)

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

    def augassign(self, c):
        """``x += e`` is ``x = x + e`` (lists: amortized O(1), see accumulate.py)."""
        name = Name(str(c[0]), self._tpos(c[0]))
        value = self._nest(BinOp("+", name, c[2], name.pos), c[2])
        return self._nest(Assign(str(c[0]), value, self._tpos(c[0])), value)

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
                raise item.pos.error("declarations (import, arg, config, task, service) are only "
                                     "allowed at the top level")
        return list(c)
