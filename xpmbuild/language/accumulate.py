"""Linear accumulation: ``xs = xs + [e]`` and ``xs += [e]`` cost amortized O(1).

Values are immutable for the author of a plan: ``ys = xs; xs = xs + [1]`` leaves ``ys``
as it was. A list is extended in place only when nothing but the variable itself can
see it, which is tracked exactly:

- a variable *owns* its list when the list was made by that variable's own
  accumulation (``xs + [e]`` makes a fresh list, stored in ``xs`` and nowhere else);
- any read of the variable (``ys = xs``, ``f(a=xs)``, ``for x in xs``, ``[xs]``...) may
  let the list escape, so it ends the ownership: the next accumulation copies once and
  owns the copy. Reads that cannot keep the list (``len(xs)``, ``xs[i]``) do not;
- ownership is checked by identity (the variable must still hold that very list), so a
  reassignment, a loop or comprehension variable of the same name, ends it too.

A loop that only accumulates therefore copies nothing; one that reads the list each
time is as before (a copy per read), never wrong.
"""
from __future__ import annotations

from . import syntax as S
from .expressions import binop_value
from .limits import MAX_LIST, length_problem, limit_error


def is_accumulation(s) -> bool:
    """``NAME = NAME + EXPR`` (``NAME += EXPR`` is parsed as that)."""
    v = s.value
    return (type(s) is S.Assign and type(v) is S.BinOp and v.op == "+"
            and type(v.left) is S.Name and v.left.name == s.name)


def accumulator_names(stmts, out: set) -> set:
    """The variables that some statement of ``stmts`` accumulates into."""
    for s in stmts:
        if type(s) is S.Assign and is_accumulation(s):
            out.add(s.name)
        elif type(s) is S.For:
            accumulator_names(s.body, out)
        elif type(s) is S.If:
            accumulator_names(s.body, out)
            accumulator_names(s.orelse or (), out)
    return out


def compile_accumulation(compiler, s):
    """The closure of the accumulation ``s``: extends the variable's list in place when
    it owns it; else computes ``NAME + EXPR`` as any ``+`` does and owns the fresh list
    that makes. ``compiler.owned`` maps a variable to the list it owns."""
    name, pos, name_pos = s.name, s.value.pos, s.value.left.pos
    compiler.expr(s.value.left)              # the name's static check
    fr = compiler.expr(s.value.right)
    owned = compiler.owned

    def accumulate(env):
        try:
            cur = env[name]
        except KeyError:
            raise name_pos.error(f"name {name!r} is used before it is assigned") from None
        mine = owned.get(name) is cur
        r = fr(env)              # a read of `name` in here ends the ownership
        if mine and type(r) is list and type(cur) is list and owned.get(name) is cur:
            n = len(cur) + len(r)
            if n > MAX_LIST:
                raise limit_error(pos, f"+: {length_problem(list, n)}")
            cur.extend(r)
            return
        v = binop_value("+", cur, r, pos)
        env[name] = v
        if type(v) is list:      # list + list: a fresh list nothing else sees
            owned[name] = v
        else:
            owned.pop(name, None)
    return accumulate
