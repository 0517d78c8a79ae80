"""The language's binary operators: checked (:func:`binop_value`), and fast.

:func:`binop_value` computes ``a op b`` as the language defines it (Python's operators
on the language's types, within the bounds of :mod:`.limits`), errors at the operator's
position. The fast paths (``_FAST``) give the same for the operands a plan's loops use
(``0.001 * (l + 1)``, ``i == 0``) without the checks, or step aside (``_SLOW``).
:func:`compile_binop` writes an operator's closure for its operands: a constant operand
is a constant of the written code, a variable is read in place, and the fast path is
inlined, so ``l + 1`` costs one call rather than four.
"""
from __future__ import annotations

import operator

from .. import model as M
from . import syntax as S
from .limits import limit_error, result_problem, too_big
from .writing import warming

_BINOPS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NUMERIC = (int, float)


def check_operands(op, a, b):
    """TypeError unless the language defines ``a op b`` for these types."""
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


def binop_value(op, a, b, pos):
    """``a op b`` as the language defines it, within its bounds; errors at ``pos``."""
    if type(a) is M.Tagged or type(b) is M.Tagged:
        raise pos.error("tag(...) marks a parameter: pass it directly as an argument")
    try:
        check_operands(op, a, b)
        problem = too_big(op, a, b) if op in _SIZED else None
        if problem is None:
            r = _BINOPS[op](a, b)
            problem = result_problem(r)
            if problem is None:
                return r
    except ZeroDivisionError:
        raise pos.error("division by zero") from None
    except (TypeError, ValueError, OverflowError) as err:
        raise pos.error(str(err)) from None
    except MemoryError:
        raise pos.error(f"out of memory computing {op}") from None
    raise limit_error(pos, f"{op}: {problem}")


_SIZED = frozenset(("*", "+", "%"))

# The common cases of binop_value without its checks, for the operators of a plan's
# loops (``0.001 * (l + 1)``, ``i == 0``): ints of at most 62 bits (no bound can be
# reached), finite floats. Anything else (``_SLOW``) goes through binop_value.
_SLOW = object()
_SMALL = 1 << 62


def _arith(fn):
    def fast(a, b):
        ta, tb = type(a), type(b)
        if ta is int and tb is int:
            if -_SMALL < a < _SMALL and -_SMALL < b < _SMALL:
                return fn(a, b)
        elif (ta is float or ta is int and -_SMALL < a < _SMALL) and \
                (tb is float or tb is int and -_SMALL < b < _SMALL):
            r = fn(a, b)
            if r - r == 0.0:        # finite (inf - inf and nan are not 0)
                return r
        return _SLOW
    return fast


def _compare(fn):
    def fast(a, b):
        ta, tb = type(a), type(b)
        if (ta is int or ta is float or ta is str) and tb is ta:
            return fn(a, b)
        return _SLOW
    return fast


_FAST = {op: _arith(_BINOPS[op]) for op in ("+", "-", "*")}
_FAST.update({op: _compare(_BINOPS[op]) for op in ("==", "!=", "<", "<=", ">", ">=")})


# The written code of an operator with a fast path: its operands, then the fast path
# inlined (the same tests as _arith's and _compare's), else binop_value; into ``{r}``.
_ARITH = """\
ta = type({a})
tb = type({b})
if ta is int and tb is int and -_OPSMALL < {a} < _OPSMALL and -_OPSMALL < {b} < _OPSMALL:
    {r} = {a} {op} {b}
elif (ta is float or ta is int and -_OPSMALL < {a} < _OPSMALL) and \\
        (tb is float or tb is int and -_OPSMALL < {b} < _OPSMALL):
    {r} = {a} {op} {b}
    if {r} - {r} != 0.0:
        {r} = _binop_value({o}, {a}, {b}, {p})
else:
    {r} = _binop_value({o}, {a}, {b}, {p})
"""
_COMPARE = """\
ta = type({a})
if (ta is int or ta is float or ta is str) and type({b}) is ta:
    {r} = {a} {op} {b}
else:
    {r} = _binop_value({o}, {a}, {b}, {p})
"""
_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">="))
_NESTED = 4                     # operators written into one function, at most, in depth


class Inline:
    """Writes the code of values into a function being written (an operator's, a call
    site's): a constant is a constant of its namespace, a variable is read in place, an
    operator with a fast path is written out (its operands likewise, ``_NESTED`` deep),
    anything else is its closure's call. Names it gives start with ``B``."""

    def __init__(self, ns: dict):
        self.ns = ns
        ns.update(_OPSMALL=_SMALL, _binop_value=binop_value)
        self.n = 0

    def _name(self, prefix, value):
        self.n += 1
        name = f"B{prefix}{self.n}"
        self.ns[name] = value
        return name

    def value(self, node, f, depth=0):
        """(lines that compute the value of ``node``, whose closure is ``f``; the
        expression that then names it)."""
        if type(node) is S.Const:
            return "", self._name("C", node.value)
        name = getattr(f, "env_name", None)
        if name is not None:
            key, unset = self._name("N", name), self._name("U", f.unset)
            x = f"x{self.n}"
            return (f"try:\n    {x} = env[{key}]\nexcept KeyError:\n"
                    f"    raise {unset}() from None\n"), x
        spec = getattr(f, "written", None)
        if spec is not None and depth < _NESTED:
            return self.binop(*spec, depth=depth + 1)
        x = f"x{self.n + 1}"
        return f"{x} = {self._name('F', f)}(env)\n", x

    def binop(self, e, fl, fr, depth=0):
        la, a = self.value(e.left, fl, depth)
        lb, b = self.value(e.right, fr, depth)
        o, p = self._name("O", e.op), self._name("P", e.pos)
        r = f"r{self.n}"
        body = (_COMPARE if e.op in _COMPARISONS else _ARITH).format(
            a=a, b=b, r=r, o=o, p=p, op=e.op)                      # op: one of ours
        return la + lb + body, r


def compile_binop(e, fl, fr):
    """The closure of the binary operation ``e`` whose operands' closures are ``fl`` and
    ``fr``: evaluated left then right, then ``binop_value`` or its fast path. One with a
    fast path is written (``Inline``); its ``written`` attribute lets the function of an
    enclosing operator or call write it in its own."""
    op, pos = e.op, e.pos

    def general(env):
        return binop_value(op, fl(env), fr(env), pos)
    if op not in _FAST:
        return general

    def write():
        ns: dict = {}
        lines, r = Inline(ns).binop(e, fl, fr)
        return ("def run(env):\n" + "".join("    " + x + "\n" for x in lines.splitlines())
                + f"    return {r}\n"), ns
    run = warming(write, "run", general)
    run.written = (e, fl, fr)
    return run
