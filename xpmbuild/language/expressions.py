"""Compiling expressions: names, literals, operators, attributes, indexing and calls.

Each expression is compiled once into a Python closure over an environment dict (no tree
walk per evaluation), which keeps a 100k-job sweep fast. Compilation also checks every
name statically, so a misspelt name in a branch that does not run is still an error.
Operators follow Python on the language's types, within the bounds of :mod:`.limits`;
a call of a config or a task is checked here (its keywords) and bound by :mod:`.calls`.
"""
from __future__ import annotations

from .. import model as M
from . import syntax as S
from .binding import compile_call
from .calls import Calls, Ctx
from .comprehension import compile_list_comp
from .declarations import BUILTINS, Declarations
from .errors import suggest
from .functions import compile_builtin
from .operators import (_FAST, _NUMERIC, _SLOW, binop_value,  # noqa: F401 (re-exported)
                        check_operands, compile_binop)


def truth(value):
    """The truth of a condition (a tagged value is its value's)."""
    if type(value) is M.Tagged:
        value = value.value
    return bool(value)


class ExprCompiler:
    """Compiles expressions into closures over an environment dict.

    ``plan`` None: no job may be made (a default value, a ``-D`` literal); ``known``: the
    names assigned somewhere in the plan; ``inputs`` and ``namespace`` go to the
    :class:`~.calls.Calls` that makes the calls' values.
    """

    def __init__(self, decls: Declarations, plan: M.Plan | None, ctx: Ctx, known: set[str],
                 inputs=None, namespace: str | None = None):
        self.decls = decls
        self.plan = plan            # None: no jobs may be made (defaults)
        self.ctx = ctx
        self.known = known          # names assigned somewhere in the plan
        self.on_config_call = None  # hook used while defaults are evaluated
        self.accumulators = ()      # variables that accumulate lists (accumulate.py)
        self.owned: dict = {}       # variable -> the list it owns (accumulate.py)
        self.calls = Calls(plan, ctx, inputs, namespace)

    # ------------------------------------------------------------------ expressions
    def expr(self, e):
        method = getattr(self, "e_" + type(e).__name__)
        return method(e)

    def e_Const(self, e):
        v = e.value
        return lambda env: v

    def e_Name(self, e):
        name = e.name
        if name in self.decls.defs:
            d = self.decls.defs[name]
            return lambda env: d
        if name not in self.known:
            if name in BUILTINS:
                raise e.pos.error(f"{name} is a built-in function: call it, {name}(...)")
            known = list(self.known) + list(self.decls.defs) + list(BUILTINS)
            raise e.pos.error(f"unknown name {name!r}{suggest(name, known)}")
        pos = e.pos
        if name in self.accumulators:
            owned = self.owned

            def get_shared(env):        # the list may escape: its owner copies next time
                owned.pop(name, None)
                try:
                    return env[name]
                except KeyError:
                    raise pos.error(f"name {name!r} is used before it is assigned") from None
            return get_shared

        def unset():
            return pos.error(f"name {name!r} is used before it is assigned")

        def get(env):
            try:
                return env[name]
            except KeyError:
                raise unset() from None
        get.env_name, get.unset = name, unset     # a call site reads the variable in place
        return get

    def e_ListExpr(self, e):
        fs = [self.expr(x) for x in e.items]
        for x in e.items:
            if isinstance(x, S.TagExpr):
                raise x.pos.error("tag(...) marks a parameter: pass it directly as an argument")
        if len(fs) == 1:            # [job(...)]: an accumulation's usual item
            f0, = fs
            return lambda env: [f0(env)]
        return lambda env: [f(env) for f in fs]

    def e_DictExpr(self, e):
        pairs = [(self.expr(k), self.expr(v), k.pos) for k, v in e.pairs]

        def build(env):
            out = {}
            for fk, fv, pos in pairs:
                k = fk(env)
                if type(k) is not str:
                    raise pos.error(f"dict keys must be strings, got {M.describe(k)}")
                out[k] = fv(env)
            return out
        return build

    def e_TagExpr(self, e):
        f = self.expr(e.value)
        return lambda env: M.Tagged(f(env))

    def e_BinOp(self, e):
        return compile_binop(e, self.expr(e.left), self.expr(e.right))

    def e_ListComp(self, e):
        return compile_list_comp(self, e)

    def peek(self, e):
        """Compile ``e`` for a read that cannot keep the value it reads (``len(xs)``,
        ``xs[i]``): a variable's ownership of its list (accumulate.py) survives it."""
        if type(e) is S.Name and e.name in self.accumulators:
            accumulators = self.accumulators
            self.accumulators = ()
            try:
                return self.expr(e)
            finally:
                self.accumulators = accumulators
        return self.expr(e)

    def e_BoolOp(self, e):
        fl, fr = self.expr(e.left), self.expr(e.right)
        if e.op == "and":
            return lambda env: (lambda a: fr(env) if truth(a) else a)(fl(env))
        return lambda env: (lambda a: a if truth(a) else fr(env))(fl(env))

    def e_Unary(self, e):
        f, pos = self.expr(e.operand), e.pos
        if e.op == "not":
            return lambda env: not truth(f(env))

        def run(env):
            v = f(env)
            if type(v) not in _NUMERIC:
                raise pos.error(f"bad operand type for unary {e.op}: {M.describe(v)}")
            return -v if e.op == "-" else v
        return run

    def e_GetAttr(self, e):
        fo, attr, pos = self.expr(e.obj), e.name, e.pos

        def run(env):
            obj = fo(env)
            t = type(obj)
            if t is M.Job:
                if attr in obj.task.outputs:
                    return M.OutputRef(obj, attr)
                if attr in obj.values:
                    return obj.values[attr]
                known = list(obj.task.outputs) + list(obj.values)
                raise pos.error(f"a job of task {obj.task.name} has no output or parameter "
                                f"{attr!r}{suggest(attr, known)}")
            if t is M.ConfigValue:
                if attr in obj.values:
                    return obj.values[attr]
                raise pos.error(f"config {obj.definition.name} has no field {attr!r}"
                                f"{suggest(attr, obj.values)}")
            raise pos.error(f"{M.describe(obj)} has no attribute {attr!r}")
        return run

    def e_GetItem(self, e):
        fo, fi, pos = self.peek(e.obj), self.expr(e.index), e.pos

        def run(env):
            obj, idx = fo(env), fi(env)
            t = type(obj)
            try:
                if t is list or t is str:
                    if type(idx) is not int:
                        raise pos.error(f"list index must be an int, got {M.describe(idx)}")
                    return obj[idx]
                if t is dict:
                    return obj[idx]
            except IndexError:
                raise pos.error(f"index {idx} out of range (length {len(obj)})") from None
            except KeyError:
                raise pos.error(f"key {idx!r} not found; keys: {', '.join(map(repr, obj))}") \
                    from None
            raise pos.error(f"{M.describe(obj)} cannot be indexed")
        return run

    def e_Call(self, e):
        func = e.func
        if isinstance(func, S.Name) and func.name in self.decls.defs:
            return self._compile_instantiate(self.decls.defs[func.name], e)
        if isinstance(func, S.Name) and func.name in BUILTINS and func.name not in self.known:
            return compile_builtin(func.name, e, self.peek if func.name == "len" else self.expr)
        if isinstance(func, S.Name):
            if func.name not in self.known:
                self.expr(func)  # raises "unknown name"
            raise func.pos.error(f"{func.name!r} is not a config, a task or a built-in function")
        raise e.pos.error("only configs, tasks and built-in functions can be called")

    def _compile_instantiate(self, definition, e, attach=False):
        if definition.kind == "service" and not attach:
            raise e.pos.error(
                f"service {definition.name}(...) has no value: a call of a service attaches "
                "it to the experiment, alone on its line (`" + definition.name + "(...)`)")
        if e.args:
            raise e.args[0].pos.error(
                f"{definition.kind} {definition.name} takes keyword arguments only: "
                f"{definition.name}(name=value, ...)")
        if definition.kind == "task" and self.plan is None:
            raise e.pos.error(f"a default value cannot make a job (task {definition.name})")
        seen = set()
        kwargs = []
        for kw in e.kwargs:
            if kw.name in seen:
                raise kw.pos.error(f"argument {kw.name} given twice")
            seen.add(kw.name)
            p = definition.params.get(kw.name)
            if p is None:
                what = "parameter" if definition.kind == "config" else "parameter or option"
                raise kw.pos.error(f"{definition.kind} {definition.name} has no {what} "
                                   f"{kw.name!r}{suggest(kw.name, definition.params)}")
            kwargs.append((p, self.expr(kw.value), kw.value.pos))
        if self.on_config_call is not None:
            self.on_config_call(definition, e.pos)
        return compile_call(self.calls, definition, kwargs, e.pos)
