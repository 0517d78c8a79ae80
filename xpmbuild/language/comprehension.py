"""List comprehensions: ``[EXPR for NAME in EXPR if COND ... for NAME in EXPR ...]``.

Compiled like the rest (closures over the environment dict). Names are checked
statically: a comprehension's variables are known inside it only. As in Python 3 they
do not leak: a variable of the same name outside keeps its value. The iterable is what a
``for`` statement accepts (a list, a string, a dict's keys); the result is bounded
(:data:`~.limits.MAX_LIST` items) while it is built.
"""
from __future__ import annotations

from .. import model as M
from . import syntax as S
from .declarations import BUILTINS
from .limits import MAX_LIST, limit_error

_UNSET = object()


def iteration_items(items, pos):
    """What ``for`` and comprehensions loop over: a list, a string, a dict's keys."""
    t = type(items)
    if t is list or t is str:
        return items
    if t is dict:
        return list(items)
    raise pos.error(f"cannot loop over {M.describe(items)}")


def _truth(value):
    return bool(value.value if type(value) is M.Tagged else value)


def compile_list_comp(compiler, e: S.ListComp):
    """The closure of ``e``; ``compiler`` is the :class:`~.expressions.ExprCompiler`."""
    decls, known = compiler.decls, compiler.known
    added = []
    clauses = []
    try:
        for clause in e.clauses:
            if clause.name in decls.defs or clause.name in BUILTINS or clause.name == "here":
                raise clause.pos.error(f"cannot use {clause.name} as a comprehension variable:"
                                       " it is a built-in or declared name")
            fi = compiler.expr(clause.iterable)     # sees the variables of earlier clauses
            if clause.name not in known:
                known.add(clause.name)
                added.append(clause.name)
            conds = [compiler.expr(c) for c in clause.conds]
            clauses.append((clause.name, fi, conds, clause.iterable.pos))
        if isinstance(e.elt, S.TagExpr):
            raise e.elt.pos.error("tag(...) marks a parameter: pass it directly as an argument")
        felt = compiler.expr(e.elt)
    finally:
        for name in added:
            known.discard(name)
    names = [c[0] for c in clauses]
    pos = e.pos

    def build(env):
        saved = [env.get(n, _UNSET) for n in names]
        out = []
        append = out.append

        def level(i):
            name, fi, conds, ipos = clauses[i]
            last = i == len(clauses) - 1
            for item in iteration_items(fi(env), ipos):
                env[name] = item
                if conds and not all(_truth(c(env)) for c in conds):
                    continue
                if last:
                    v = felt(env)
                    if type(v) is M.Tagged:
                        raise pos.error("tag(...) marks a parameter: pass it directly as an "
                                        "argument")
                    append(v)
                    if len(out) > MAX_LIST:
                        raise limit_error(pos, f"the list would have more than {MAX_LIST:,} "
                                               "items")
                else:
                    level(i + 1)
        try:
            level(0)
        finally:
            for n, v in zip(names, saved):
                if v is _UNSET:
                    env.pop(n, None)
                else:
                    env[n] = v
        return out
    return build
