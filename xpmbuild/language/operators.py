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
from .writing import written

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


# The written closure of an operator with a fast path: the operands, then the fast
# path inlined (the same tests as _arith's and _compare's), then binop_value.
_ARITH = """\
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if -_SMALL < a < _SMALL and -_SMALL < b < _SMALL:
            return a {op} b
    elif (ta is float or ta is int and -_SMALL < a < _SMALL) and \\
            (tb is float or tb is int and -_SMALL < b < _SMALL):
        r = a {op} b
        if r - r == 0.0:
            return r
    return _binop_value(OP, a, b, POS)
"""
_COMPARE = """\
    ta = type(a)
    if (ta is int or ta is float or ta is str) and type(b) is ta:
        return a {op} b
    return _binop_value(OP, a, b, POS)
"""


def _operand(node, f, side, ns):
    """The line that gives operand ``side`` (``a`` or ``b``): a constant, a variable read
    in place, or its closure's call."""
    upper = side.upper()
    if type(node) is S.Const:
        ns["C" + upper] = node.value
        return f"    {side} = C{upper}\n"
    name = getattr(f, "env_name", None)
    if name is not None:
        ns["NAME" + upper], ns["UNSET" + upper] = name, f.unset
        return (f"    try:\n        {side} = env[NAME{upper}]\n    except KeyError:\n"
                f"        raise UNSET{upper}() from None\n")
    ns["F" + upper] = f
    return f"    {side} = F{upper}(env)\n"


def compile_binop(e, fl, fr):
    """The closure of the binary operation ``e`` whose operands' closures are ``fl`` and
    ``fr``: evaluated left then right, then ``binop_value`` or its fast path."""
    op, pos = e.op, e.pos
    if op not in _FAST:
        return lambda env: binop_value(op, fl(env), fr(env), pos)
    ns = {"_SMALL": _SMALL, "_binop_value": binop_value, "OP": op, "POS": pos}
    body = (_COMPARE if op in _COMPARISONS else _ARITH).format(op=op)   # op: one of ours
    source = ("def run(env):\n" + _operand(e.left, fl, "a", ns) +
              _operand(e.right, fr, "b", ns) + body)
    return written(source, "run", ns)


_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">="))
