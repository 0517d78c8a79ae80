"""Plan execution: checked declarations + plan statements → :class:`~xpmbuild.model.Plan`.

:func:`evaluate` is the entry point: it checks the file (:mod:`.check`), gives the
experiment's args their values (``-D NAME=VALUE`` or the default), then compiles the
plan statements (assignments, ``for``, ``if``, calls) into closures, expressions by
:mod:`.expressions`, and runs them once. Jobs are made by the task calls (:mod:`.calls`).
"""
from __future__ import annotations

import gc
import os

from .. import model as M
from . import syntax as S
from .accumulate import accumulator_names, compile_accumulation, is_accumulation
from .calls import Ctx
from .check import check, resolve_type
from .declarations import BUILTINS, Declarations
from .errors import XpmError, suggest
from .expressions import ExprCompiler
from .inputs import InputChecker
from .limits import resource_error
from .literals import shorten
from .parser import parse_text


class Compiler(ExprCompiler):
    """Compiles plan statements (and their expressions) into closures over an environment."""

    def stmts(self, stmts):
        fs = [(self.stmt(s), s.pos) for s in stmts]
        if len(fs) == 1:            # a loop's usual body: one call, no list to walk
            (only, only_pos), = fs

            def run_one(env):
                try:
                    only(env)
                except (RecursionError, MemoryError) as err:
                    raise resource_error(err, only_pos) from None
            return run_one

        def run(env):
            pos = None
            try:
                for f, pos in fs:
                    f(env)
            except (RecursionError, MemoryError) as err:
                # a value nested too deep (x = [x] in a loop), or memory: at the statement
                raise resource_error(err, pos) from None
        return run

    def block(self, stmts):
        """(closure, position) of the body of a ``for`` or an ``if``. A body of one
        statement (a loop's usual body) is that statement's closure and its position: the
        caller reports a RecursionError or a MemoryError at it (a ``try`` costs nothing
        until something is raised; a wrapper would cost a call per iteration). A longer
        body is :meth:`stmts`' closure, which reports them itself (position None)."""
        if len(stmts) == 1:
            return self.stmt(stmts[0]), stmts[0].pos
        return self.stmts(stmts), None

    def stmt(self, s):
        t = type(s)
        if t is S.Assign:
            self._check_target(s.name, s.pos)
            if s.name in self.accumulators and is_accumulation(s):
                return compile_accumulation(self, s)
            f, name = self.expr(s.value), s.name
            pos = s.pos

            def assign(env):
                v = f(env)
                if type(v) is M.Tagged:
                    raise pos.error("tag(...) marks a parameter: pass it directly as an argument")
                env[name] = v
            return assign
        if t is S.ExprStmt:
            e = s.expr
            if type(e) is S.Call and type(e.func) is S.Name and \
                    getattr(self.decls.defs.get(e.func.name), "kind", None) == "service":
                return self._compile_instantiate(self.decls.defs[e.func.name], e, attach=True)
            f = self.expr(e)
            return f
        if t is S.For:
            self._check_target(s.name, s.pos)
            fi, name, pos = self.expr(s.iterable), s.name, s.iterable.pos
            body, body_pos = self.block(s.body)

            def loop(env):
                items = fi(env)
                if type(items) is dict:
                    items = list(items)
                elif type(items) not in (list, str):
                    raise pos.error(f"cannot loop over {M.describe(items)}")
                if body_pos is None:
                    for item in items:
                        env[name] = item
                        body(env)
                    return
                try:
                    for item in items:
                        env[name] = item
                        body(env)
                except (RecursionError, MemoryError) as err:
                    raise resource_error(err, body_pos) from None
            return loop
        if t is S.If:
            fc = self.expr(s.cond)
            body, body_pos = self.block(s.body)
            orelse, orelse_pos = self.block(s.orelse) if s.orelse else (None, None)
            tagged = M.Tagged

            def branch(env):
                c = fc(env)
                if type(c) is tagged:
                    c = c.value
                if c:
                    run, at = body, body_pos
                elif orelse is not None:
                    run, at = orelse, orelse_pos
                else:
                    return
                if at is None:
                    run(env)
                    return
                try:
                    run(env)
                except (RecursionError, MemoryError) as err:
                    raise resource_error(err, at) from None
            return branch
        raise s.pos.error("declarations are only allowed at the top level")  # pragma: no cover

    def _check_target(self, name, pos):
        if name in self.decls.defs:
            d = self.decls.defs[name]
            raise pos.error(f"cannot assign to {name}: it is the {d.kind} declared at "
                            f"{os.path.basename(d.file)}:{d.pos.line}")
        if name in BUILTINS or name == "here":
            raise pos.error(f"cannot assign to the built-in name {name}")


def _assigned_names(stmts, out: set):
    for s in stmts:
        if isinstance(s, (S.Assign, S.For)):
            out.add(s.name)
        if isinstance(s, S.For):
            _assigned_names(s.body, out)
        elif isinstance(s, S.If):
            _assigned_names(s.body, out)
            if s.orelse:
                _assigned_names(s.orelse, out)
    return out


# ----------------------------------------------------------------------------- -D values


def parse_define(text: str, type_: M.Type, ctx: Ctx, name: str, pos=None):
    """A ``-D NAME=VALUE`` value: a literal of the arg's type; a bare word is a string.

    A ``str`` or ``path`` arg (or ``str?``, ``path?``) takes the text exactly as given:
    ``-D name=123`` is ``"123"``, ``-D name="'q'"`` is ``"'q'"`` (quotes kept).
    """
    value = text
    inner = type_.inner if isinstance(type_, M.OptionalType) else type_
    as_text = isinstance(inner, M.PathType) or (isinstance(inner, M.Prim)
                                                 and inner.name == "str")
    if not as_text:
        try:
            module = parse_text(f"__v = {text}\n", "-D")
            stmt = module.stmts[0] if len(module.stmts) == 1 else None
            if isinstance(stmt, S.Assign) and _is_literal(stmt.value):
                value = ExprCompiler(Declarations(module, [module], ctx.root), None, ctx,
                                     set()).expr(stmt.value)({})
        except XpmError as err:
            if err.limit or err.message.startswith("too deeply nested"):
                # a literal beyond a bound of the language: not a bare word either
                message = f"-D {name}={shorten(text)}: {err.message}"
                raise (pos.error(message) if pos is not None else XpmError(message)) \
                    from None
            value = text
    try:
        return type_.coerce(value, ctx)
    except M.TypeMismatch as err:
        message = f"-D {name}={text}: {err} (arg {name}: {type_})"
        # reported at the arg's declaration: the value must fit the type declared there
        raise (pos.error(message) if pos is not None else XpmError(message)) from None


def _is_literal(e) -> bool:
    if isinstance(e, S.Const):
        return True
    if isinstance(e, S.Unary) and e.op in "-+":
        return isinstance(e.operand, S.Const)
    if isinstance(e, S.ListExpr):
        return all(_is_literal(x) for x in e.items)
    if isinstance(e, S.DictExpr):
        return all(_is_literal(k) and _is_literal(v) for k, v in e.pairs)
    return False


# ----------------------------------------------------------------------------- entry point


def evaluate(path: str, defines: dict[str, str] | None = None, name: str | None = None,
             decls: Declarations | None = None, check_inputs: bool = False,
             namespace: str | None = None) -> M.Plan:
    """Check ``path`` and run its plan statements; nothing is built.

    ``check_inputs``: every ``path`` value a call receives must be a readable regular
    file or folder (an error at the call otherwise); the command line's check, plan and
    run ask for it. Jobs' outputs are not checked.
    """
    path = os.path.abspath(path)
    decls = decls or _check(path)
    root = decls.root
    main = decls.main
    plan = M.Plan(file=path, name=name or os.path.splitext(os.path.basename(path))[0],
                  root=root, tasks=decls.tasks, configs=decls.configs,
                  sources=[m.file for m in decls.modules])
    ctx = Ctx(root, root)
    known = _assigned_names(main.stmts, {a.name for a in main.args})
    inputs = InputChecker() if check_inputs else None
    compiler = Compiler(decls, plan, ctx, known, inputs, namespace)
    compiler.accumulators = accumulator_names(main.stmts, set())
    defines = dict(defines or {})
    env: dict = {}
    arg_names = set()
    for a in main.args:
        if a.name in arg_names:
            raise a.pos.error(f"arg {a.name} is declared twice")
        arg_names.add(a.name)
        compiler._check_target(a.name, a.pos)
        t = _resolve_arg_type(a, decls)
        if a.name in defines:
            text = defines.pop(a.name)
            value = parse_define(text, t, Ctx(os.getcwd(), root), a.name, a.pos)
            if inputs is not None:
                _record_origin(value, f"-D {a.name}={text}", inputs.origin)
        else:
            value = compiler.expr(a.default)(env)
            try:
                value = t.coerce(value, ctx)
            except M.TypeMismatch as err:
                raise a.default.pos.error(f"arg {a.name}: {err}") from None
        env[a.name] = value
        plan.args[a.name] = value
    if defines:
        unknown = sorted(defines)[0]
        message = (f"-D {unknown}: the experiment has no arg {unknown!r}"
                   f"{suggest(unknown, arg_names)}; args: "
                   f"{', '.join(sorted(arg_names)) or '(none)'}")
        if main.args:   # shown at the first arg declaration: where the args are
            raise main.args[0].pos.error(message)
        raise XpmError(message + " (declare one with `arg NAME: TYPE = DEFAULT`)", path)
    program = compiler.stmts(main.stmts)
    # The plan makes many long-lived objects and no garbage cycles worth collecting: the
    # cyclic collector would only rescan the growing heap (~25% of a 100k-job plan's time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        program(env)
    finally:
        if gc_was_enabled:
            gc.enable()
    return plan


def _record_origin(value, origin, out):
    """Remember which -D gave each path value (named in a missing-input error)."""
    t = type(value)
    if t is M.PathValue:
        out.setdefault(value.path, origin)
    elif t is list:
        for v in value:
            _record_origin(v, origin, out)
    elif t is dict:
        for v in value.values():
            _record_origin(v, origin, out)


def _check(path):
    """check(), with a RecursionError (imports, config defaults or task types chained
    hundreds deep) reported at the main file rather than as a traceback."""
    try:
        return check(path)
    except RecursionError:
        raise XpmError("declarations nest too deeply (imports, config defaults or task "
                       "dependencies chained beyond Python's recursion limit)", path, 1, 1) \
            from None


def _resolve_arg_type(a, decls):
    t = resolve_type(a.type, decls)
    inner = t.inner if isinstance(t, M.OptionalType) else t
    if isinstance(inner, (M.TaskType, M.ConfigType)):
        raise a.type.pos.error("an arg must have a literal type (int, float, str, bool, path, "
                               "list, dict, choice)")
    return t
