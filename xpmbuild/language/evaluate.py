"""Plan execution: checked declarations + plan statements → :class:`~xpmbuild.model.Plan`.

Statements and expressions are compiled once into Python closures (no tree walk per
evaluation), which keeps a 100k-job sweep fast. Compilation also checks every name
statically, so a misspelt name in a branch that does not run is still an error.
Calling a task makes a job; two calls with the same identity give the same job.
"""
from __future__ import annotations

import gc
import math
import operator
import os
import re

from .. import model as M
from . import syntax as S
from .check import BUILTINS, Declarations, check, suggest
from .errors import XpmError, display_path
from .inputs import InputChecker
from .parser import parse_text


class Ctx:
    """Where relative paths are resolved, and the experiment root identities use."""

    __slots__ = ("base_dir", "root")

    def __init__(self, base_dir, root):
        self.base_dir = base_dir
        self.root = root


_BINOPS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NUMERIC = (int, float)


# ----------------------------------------------------------------------------- bounds
# Values the plan builds are bounded (docs/language.md §10); a result beyond a bound is
# refused at its operator, before it is allocated.
MAX_LIST = 10_000_000           # items of a list
MAX_STR = 100_000_000           # characters of a string
MAX_INT = 10 ** S.MAX_INT_DIGITS - 1    # ints have at most 4300 decimal digits
_MAX_INT_BITS = MAX_INT.bit_length()
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\d*)(?:\.(\d*))?")


def _too_big(op, a, b):
    """Why ``a op b`` would exceed a bound (checked before computing it), or None."""
    ta, tb = type(a), type(b)
    if op == "*":
        if ta is int and tb is int:
            if a.bit_length() + b.bit_length() > _MAX_INT_BITS + 1:
                return f"the product has more than {S.MAX_INT_DIGITS} digits"
            return None
        if tb is int and ta in (str, list):
            seq, n = a, b
        elif ta is int and tb in (str, list):
            seq, n = b, a
        else:
            return None
        return _length_problem(type(seq), len(seq) * n) if n > 1 else None
    if op == "+" and ta is tb and (ta is str or ta is list):
        return _length_problem(ta, len(a) + len(b))
    if op == "%" and ta is str:
        # widths and precisions pad the result: count them, and the values' text
        pad = sum(int(w or 0) + int(p or 0) for w, p in _FORMAT_SPEC.findall(a))
        return _length_problem(str, len(a) + pad + _str_size(b, MAX_STR))
    return None


def _length_problem(t, n):
    if t is list and n > MAX_LIST:
        return f"the list would have {n:,} items (at most {MAX_LIST:,})"
    if t is str and n > MAX_STR:
        return f"the string would have {n:,} characters (at most {MAX_STR:,})"
    return None


def _result_problem(r):
    """Why the numeric result ``r`` is out of bounds, or None."""
    t = type(r)
    if t is int:
        if r > MAX_INT or r < -MAX_INT:
            return f"the result has more than {S.MAX_INT_DIGITS} digits"
    elif t is float:
        if r != r or r in (math.inf, -math.inf):
            return "float overflow: the result is beyond the largest float"
    elif t is str and "\x00" in r:
        return "the result contains a NUL character"
    return None


def _str_size(v, budget):
    """An upper bound of len(str(v)), counted only until it exceeds ``budget``."""
    t = type(v)
    if t is str:
        return len(v) if len(v) > budget else (len(v) + 2 + v.count("\\") + v.count("'")
                                                if v.isprintable() else 10 * len(v) + 2)
    if t is int:
        return v.bit_length() * 10 // 33 + 2
    if t is float or t is bool or v is None:
        return 25
    if t is list or t is dict:
        n = 2
        for x in (v if t is list else (y for kv in v.items() for y in kv)):
            n += _str_size(x, budget - n) + 2
            if n > budget:
                return n
        return n
    return 400      # a path, a job, a config: its text is small


def _resource_error(err, pos):
    """A RecursionError or MemoryError while evaluating, as an error at ``pos``."""
    if isinstance(err, RecursionError):
        return pos.error("too deeply nested: a value built here is nested deeper than "
                         "Python's recursion limit")
    return pos.error("out of memory while evaluating this statement")


def _check_operands(op, a, b):
    ta, tb = type(a), type(b)
    if op in ("==", "!="):
        return
    if ta in _NUMERIC and tb in _NUMERIC or (ta is bool or tb is bool) and \
            ta in (bool,) + _NUMERIC and tb in (bool,) + _NUMERIC:
        return
    if op == "+" and ta is tb and ta in (str, list):
        return
    if op == "*" and ((ta in (str, list) and tb is int) or (tb in (str, list) and ta is int)):
        return
    if op == "%" and ta is str:
        return
    if op in ("<", "<=", ">", ">=") and ta is tb and ta in (str, list):
        return
    raise TypeError(f"unsupported operand types for {op}: {M.describe(a)} and {M.describe(b)}")


def _truth(value):
    if type(value) is M.Tagged:
        value = value.value
    return bool(value)


def _tag_display(value):
    if value is None or type(value) in (int, float, str, bool):
        return value
    if type(value) is M.PathValue:
        return value.path
    return str(value)


class Compiler:
    """Compiles expressions and statements into closures over an environment dict."""

    def __init__(self, decls: Declarations, plan: M.Plan | None, ctx: Ctx, known: set[str]):
        self.decls = decls
        self.plan = plan            # None: no jobs may be made (defaults)
        self.ctx = ctx
        self.known = known          # names assigned somewhere in the plan
        self.on_config_call = None  # hook used while defaults are evaluated
        self.inputs = None          # an InputChecker: path values must be readable files

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

        def get(env):
            try:
                return env[name]
            except KeyError:
                raise pos.error(f"name {name!r} is used before it is assigned") from None
        return get

    def e_ListExpr(self, e):
        fs = [self.expr(x) for x in e.items]
        for x in e.items:
            if isinstance(x, S.TagExpr):
                raise x.pos.error("tag(...) marks a parameter: pass it directly as an argument")
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
        fl, fr = self.expr(e.left), self.expr(e.right)
        op, fn, pos = e.op, _BINOPS[e.op], e.pos

        sized = op in ("*", "+", "%")

        def run(env):
            a, b = fl(env), fr(env)
            if type(a) is M.Tagged or type(b) is M.Tagged:
                raise pos.error("tag(...) marks a parameter: pass it directly as an argument")
            try:
                _check_operands(op, a, b)
                problem = _too_big(op, a, b) if sized else None
                if problem is None:
                    r = fn(a, b)
                    problem = _result_problem(r)
                    if problem is None:
                        return r
            except ZeroDivisionError:
                raise pos.error("division by zero") from None
            except (TypeError, ValueError, OverflowError) as err:
                raise pos.error(str(err)) from None
            except MemoryError:
                raise pos.error(f"out of memory computing {op}") from None
            err = pos.error(f"{op}: {problem}")
            err.limit = True
            raise err
        return run

    def e_BoolOp(self, e):
        fl, fr = self.expr(e.left), self.expr(e.right)
        if e.op == "and":
            return lambda env: (lambda a: fr(env) if _truth(a) else a)(fl(env))
        return lambda env: (lambda a: a if _truth(a) else fr(env))(fl(env))

    def e_Unary(self, e):
        f, pos = self.expr(e.operand), e.pos
        if e.op == "not":
            return lambda env: not _truth(f(env))

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
        fo, fi, pos = self.expr(e.obj), self.expr(e.index), e.pos

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
            return self._compile_builtin(func.name, e)
        if isinstance(func, S.Name):
            if func.name not in self.known:
                self.expr(func)  # raises "unknown name"
            raise func.pos.error(f"{func.name!r} is not a config, a task or a built-in function")
        raise e.pos.error("only configs, tasks and built-in functions can be called")

    def _compile_builtin(self, name, e):
        if e.kwargs:
            raise e.kwargs[0].pos.error(f"{name}() takes no keyword arguments")
        fs = [self.expr(a) for a in e.args]
        pos = e.pos
        n = len(fs)
        if name == "range":
            if not 1 <= n <= 3:
                raise pos.error(f"range() takes 1 to 3 arguments, got {n}")

            def run(env):
                args = [f(env) for f in fs]
                for a in args:
                    if type(a) is not int:
                        raise pos.error(f"range() arguments must be int, got {M.describe(a)}")
                try:
                    r = range(*args)
                    n = len(r)
                except ValueError as err:
                    raise pos.error(str(err)) from None
                except OverflowError:
                    n = MAX_LIST + 1
                if n > MAX_LIST:
                    err = pos.error(f"range() would have more than {MAX_LIST:,} items")
                    err.limit = True
                    raise err
                return list(r)
            return run
        if n != 1:
            raise pos.error(f"{name}() takes exactly one argument, got {n}")
        f = fs[0]
        if name == "len":
            def run(env):
                v = f(env)
                if type(v) not in (list, dict, str):
                    raise pos.error(f"len() of {M.describe(v)}")
                return len(v)
            return run
        if name == "str":
            def run(env):
                v = f(env)
                if type(v) is M.PathValue:
                    return v.path
                if type(v) in (M.Job, M.ConfigValue, M.OutputRef):
                    raise pos.error(f"str() of {M.describe(v)}")
                if type(v) in (list, dict) and _str_size(v, MAX_STR) > MAX_STR:
                    err = pos.error(f"str() would have more than {MAX_STR:,} characters")
                    err.limit = True
                    raise err
                try:
                    return str(v)
                except (ValueError, RecursionError) as err:   # pragma: no cover - bounded
                    raise pos.error(f"str(): {err}") from None
            return run
        raise pos.error(f"unknown built-in {name}")  # pragma: no cover

    def _compile_instantiate(self, definition, e):
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
        make = self.make_job if definition.kind == "task" else self.make_config
        pos = e.pos
        return lambda env: make(definition, [(p, f(env), vpos) for p, f, vpos in kwargs], pos)

    # ------------------------------------------------------------------ instances
    def _bind(self, definition, kwargs, pos):
        """Check and complete the arguments of a call; compute its identity body.

        Only the arguments actually passed are encoded: a parameter left out takes its
        default, which is left out of the identity anyway (§3).
        """
        ctx = self.ctx
        values = {}
        tags = {}
        identity = []
        encode = M.encode
        for p, value, vpos in kwargs:
            tagged = type(value) is M.Tagged
            if tagged:
                value = value.value
            try:
                v = p.type.coerce(value, ctx)
            except M.TypeMismatch as err:
                raise vpos.error(f"{definition.name}({p.name}=...): {err}") from None
            if tagged:
                tags[p.name] = _tag_display(v)
            values[p.name] = v
            if not p.option:
                enc = encode(v)
                if enc != p.default_enc:
                    identity.append((p.name, p.key + enc))
        params = definition.params
        if len(values) != len(params):
            missing = []
            for p in params.values():
                if p.name not in values:
                    if p.has_default or p.type.optional:
                        # an optional parameter without a default defaults to None
                        values[p.name] = p.default
                    else:
                        missing.append(p.name)
            if missing:
                raise pos.error(f"{definition.kind} {definition.name}: missing argument"
                                f"{'s' if len(missing) > 1 else ''} " + ", ".join(missing))
            values = {name: values[name] for name in params}
        if len(identity) > 1:
            identity.sort()
        body = ",".join([kv for _, kv in identity])
        deps = {}
        config_tags = None
        for v in values.values():
            t = type(v)
            if t is M.Job:
                deps[v.id] = v
            elif t is M.OutputRef:
                deps[v.job.id] = v.job
            elif t is M.ConfigValue:
                for d in v.deps:
                    deps[d.id] = d
                if v.tags:
                    config_tags = (config_tags or []) + [v.tags]
            elif t is list or t is dict:
                M.collect_deps(v, deps)
        # tags: the dependencies', then the configs', then the call's own (which win)
        inherited = {}
        for d in deps.values():
            if d.tags:
                inherited.update(d.tags)
        if config_tags:
            for ct in config_tags:
                inherited.update(ct)
        if inherited:
            inherited.update(tags)
            tags = inherited
        if self.inputs is not None:
            self._check_inputs(definition, values, pos)
        return values, tags, deps, body

    def _check_inputs(self, definition, values, pos):
        """Every path value received by this call (defaults included, options not) must be
        a readable regular file or folder: an error at the call otherwise."""
        inputs = self.inputs
        params = definition.params
        for name, v in values.items():
            t = type(v)
            if (t is M.PathValue or t is list or t is dict or t is M.ConfigValue) \
                    and not params[name].option:
                self._check_value(v, inputs, definition, name, pos)

    def _check_value(self, v, inputs, definition, name, pos):
        t = type(v)
        if t is M.PathValue:
            problem = inputs.problem(v.path)
            if problem is not None:
                shown = display_path(v.path)
                where = f" ({v.path})" if shown != v.path else ""
                origin = inputs.origin.get(v.path)
                raise pos.error(f"{definition.name}({name}=...): input path {shown}{where} "
                                f"{problem}" + (f" (given by {origin})" if origin else ""))
        elif t is list:
            for x in v:
                self._check_value(x, inputs, definition, name, pos)
        elif t is dict:
            for x in v.values():
                self._check_value(x, inputs, definition, name, pos)
        elif t is M.ConfigValue and id(v) not in inputs.configs:
            # a config made by a default (not checked at a call of its own)
            self._check_inputs(v.definition, v.values, pos)
            inputs.configs[id(v)] = v

    def make_config(self, definition, kwargs, pos):
        values, tags, deps, body = self._bind(definition, kwargs, pos)
        enc = '{"config":' + M._json_str(definition.name) + ',"params":{' + body + "}}"
        value = M.ConfigValue(definition, values, tags, tuple(deps.values()), enc)
        if self.inputs is not None:     # its paths were checked at this call
            self.inputs.configs[id(value)] = value
        return value

    # '{"namespace":NS,' when the `namespace` setting is set (docs/language.md §6)
    id_prefix = "{"

    def make_job(self, definition, kwargs, pos):
        values, tags, deps, body = self._bind(definition, kwargs, pos)
        enc = self.id_prefix + '"task":' + M._json_str(definition.name) + ',"params":{' + \
            body + "}}"
        job_id = M.identity_hash(enc)
        jobs = self.plan.jobs
        job = jobs.get(job_id)
        if job is not None:
            for k, v in tags.items():
                job.tags.setdefault(k, v)
            return job
        job = M.Job(definition, job_id, values, tags, tuple(deps.values()),
                    '{"job":"' + job_id + '"}', pos)
        jobs[job_id] = job
        return job

    # ------------------------------------------------------------------ statements
    def stmts(self, stmts):
        fs = [(self.stmt(s), s.pos) for s in stmts]

        def run(env):
            pos = None
            try:
                for f, pos in fs:
                    f(env)
            except (RecursionError, MemoryError) as err:
                # a value nested too deep (x = [x] in a loop), or memory: at the statement
                raise _resource_error(err, pos) from None
        return run

    def stmt(self, s):
        t = type(s)
        if t is S.Assign:
            self._check_target(s.name, s.pos)
            f, name = self.expr(s.value), s.name
            pos = s.pos

            def assign(env):
                v = f(env)
                if type(v) is M.Tagged:
                    raise pos.error("tag(...) marks a parameter: pass it directly as an argument")
                env[name] = v
            return assign
        if t is S.ExprStmt:
            f = self.expr(s.expr)
            return f
        if t is S.For:
            self._check_target(s.name, s.pos)
            fi, body, name, pos = self.expr(s.iterable), self.stmts(s.body), s.name, s.iterable.pos

            def loop(env):
                items = fi(env)
                if type(items) is dict:
                    items = list(items)
                elif type(items) not in (list, str):
                    raise pos.error(f"cannot loop over {M.describe(items)}")
                for item in items:
                    env[name] = item
                    body(env)
            return loop
        if t is S.If:
            fc, body = self.expr(s.cond), self.stmts(s.body)
            orelse = self.stmts(s.orelse) if s.orelse else None

            def branch(env):
                if _truth(fc(env)):
                    body(env)
                elif orelse is not None:
                    orelse(env)
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


# ----------------------------------------------------------------------------- defaults


class DefaultEvaluator:
    """Evaluates parameter defaults, each once, configs' own defaults before their callers."""

    def __init__(self, decls: Declarations, syntax_of: dict):
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
        compiler = Compiler(self.decls, None, ctx, set())
        compiler.on_config_call = lambda target, p: self.ensure(target.name, p)
        for p in d.params:
            if p.default is None:
                continue
            pd = definition.params[p.name]
            try:
                value = compiler.expr(p.default)({})
            except (RecursionError, MemoryError) as err:
                raise _resource_error(err, p.default.pos) from None
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
                value = Compiler(Declarations(module, [module], ctx.root), None, ctx,
                                 set()).expr(stmt.value)({})
        except XpmError as err:
            if err.limit or err.message.startswith("too deeply nested"):
                # a literal beyond a bound of the language: not a bare word either
                message = f"-D {name}={S.shorten(text)}: {err.message}"
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
    compiler = Compiler(decls, plan, ctx, known)
    if namespace:       # enters identity only when set: ids without it are unchanged
        compiler.id_prefix = '{"namespace":' + M._json_str(namespace) + ","
    if check_inputs:
        compiler.inputs = InputChecker()
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
            if compiler.inputs is not None:
                _record_origin(value, f"-D {a.name}={text}", compiler.inputs.origin)
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
    from .check import resolve_type
    t = resolve_type(a.type, decls)
    inner = t.inner if isinstance(t, M.OptionalType) else t
    if isinstance(inner, (M.TaskType, M.ConfigType)):
        raise a.type.pos.error("an arg must have a literal type (int, float, str, bool, path, "
                               "list, dict, choice)")
    return t
