"""The built-in functions: ``range``, ``len`` and ``str`` (``tag`` is syntax).

Each is compiled into a closure that checks its arguments' types when it runs; what
``range`` and ``str`` would build is bounded (:mod:`.limits`) before it is built.
"""
from __future__ import annotations

from .. import model as M
from .limits import MAX_LIST, MAX_STR, limit_error, str_size


def compile_builtin(name, e, expr):
    """The closure of a call of the built-in function ``name``; ``expr`` compiles its
    arguments."""
    if e.kwargs:
        raise e.kwargs[0].pos.error(f"{name}() takes no keyword arguments")
    fs = [expr(a) for a in e.args]
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
                raise limit_error(pos, f"range() would have more than {MAX_LIST:,} items")
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
            if type(v) in (list, dict) and str_size(v, MAX_STR) > MAX_STR:
                raise limit_error(pos, f"str() would have more than {MAX_STR:,} characters")
            try:
                return str(v)
            except (ValueError, RecursionError) as err:   # pragma: no cover - bounded
                raise pos.error(f"str(): {err}") from None
        return run
    raise pos.error(f"unknown built-in {name}")  # pragma: no cover
