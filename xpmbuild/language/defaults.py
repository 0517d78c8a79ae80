"""Parameter defaults: evaluated once each, when the declarations are checked.

A default is an expression of its own (no job may be made in one): it may call configs,
whose own defaults are then evaluated first; a config whose defaults need itself is an
error. The value is coerced to the parameter's type, and its encoding kept (a default
is left out of identities).
"""
from __future__ import annotations

from .. import model as M
from . import syntax as S
from .calls import Ctx
from .declarations import Declarations
from .expressions import ExprCompiler
from .limits import resource_error


class DefaultEvaluator:
    """Evaluates parameter defaults, each once, configs' own defaults before their callers."""

    def __init__(self, decls: Declarations, syntax_of: dict[str, S.ConfigDecl]):
        self.decls = decls
        self.syntax_of = syntax_of
        self.state: dict[str, int] = {}

    def run(self):
        for name in self.syntax_of:
            self.ensure(name, None)

    def ensure(self, name, pos):
        st = self.state.get(name)
        if st == 2:
            return
        if st == 1:
            raise pos.error(f"the default values of config {name} need {name} itself")
        self.state[name] = 1
        d = self.syntax_of[name]
        definition = self.decls.defs[name]
        ctx = Ctx(definition.here, self.decls.root)
        compiler = ExprCompiler(self.decls, None, ctx, set())
        compiler.on_config_call = lambda target, p: self.ensure(target.name, p)
        for p in d.params:
            if p.default is None:
                continue
            pd = definition.params[p.name]
            try:
                value = compiler.expr(p.default)({})
            except (RecursionError, MemoryError) as err:
                raise resource_error(err, p.default.pos) from None
            if type(value) is M.Tagged:
                raise p.default.pos.error("tag(...) cannot be used in a default value")
            try:
                value = pd.type.coerce(value, ctx)
            except M.TypeMismatch as err:
                raise p.default.pos.error(f"default of {name}.{p.name}: {err}") from None
            pd.has_default = True
            pd.default = value
            pd.default_enc = M.encode(value)
        self.state[name] = 2
