"""The bounds of the language (docs/language.md §10), and the checks that apply them.

The syntax is bounded (nesting depth, digits of an int literal) where it is parsed; the
values the plan builds are bounded (items of a list, characters of a string, digits of
an int) at the operator that would build one too big, before it is allocated. An error
past a bound is marked ``limit`` (a ``-D`` value past one is no bare word either).
"""
from __future__ import annotations

import math
import re

MAX_DEPTH = 100                 # nested brackets/blocks, and levels of the syntax tree
MAX_INT_DIGITS = 4300           # decimal digits of an int (Python's own str-conversion bound)
MAX_LIST = 10_000_000           # items of a list
MAX_STR = 100_000_000           # characters of a string
MAX_INT = 10 ** MAX_INT_DIGITS - 1      # ints have at most 4300 decimal digits
_MAX_INT_BITS = MAX_INT.bit_length()
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\d*)(?:\.(\d*))?")


def limit_error(pos, message):
    """An error at ``pos`` for a value past a bound (marked ``limit``)."""
    err = pos.error(message)
    err.limit = True
    return err


def too_big(op, a, b):
    """Why ``a op b`` would exceed a bound (checked before computing it), or None."""
    ta, tb = type(a), type(b)
    if op == "*":
        if ta is int and tb is int:
            if a.bit_length() + b.bit_length() > _MAX_INT_BITS + 1:
                return f"the product has more than {MAX_INT_DIGITS} digits"
            return None
        if tb is int and ta in (str, list):
            seq, n = a, b
        elif ta is int and tb in (str, list):
            seq, n = b, a
        else:
            return None
        return length_problem(type(seq), len(seq) * n) if n > 1 else None
    if op == "+" and ta is tb and (ta is str or ta is list):
        return length_problem(ta, len(a) + len(b))
    if op == "%" and ta is str:
        # widths and precisions pad the result: count them, and the values' text
        pad = sum(int(w or 0) + int(p or 0) for w, p in _FORMAT_SPEC.findall(a))
        return length_problem(str, len(a) + pad + str_size(b, MAX_STR))
    return None


def length_problem(t, n):
    """Why a list or a string of length ``n`` would be too long, or None."""
    if t is list and n > MAX_LIST:
        return f"the list would have {n:,} items (at most {MAX_LIST:,})"
    if t is str and n > MAX_STR:
        return f"the string would have {n:,} characters (at most {MAX_STR:,})"
    return None


def result_problem(r):
    """Why the numeric result ``r`` is out of bounds, or None."""
    t = type(r)
    if t is int:
        if r > MAX_INT or r < -MAX_INT:
            return f"the result has more than {MAX_INT_DIGITS} digits"
    elif t is float:
        if r != r or r in (math.inf, -math.inf):
            return "float overflow: the result is beyond the largest float"
    elif t is str and "\x00" in r:
        return "the result contains a NUL character"
    return None


def str_size(v, budget):
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
            n += str_size(x, budget - n) + 2
            if n > budget:
                return n
        return n
    return 400      # a path, a job, a config: its text is small


def resource_error(err, pos):
    """A RecursionError or MemoryError while evaluating, as an error at ``pos``."""
    if isinstance(err, RecursionError):
        return pos.error("too deeply nested: a value built here is nested deeper than "
                         "Python's recursion limit")
    return pos.error("out of memory while evaluating this statement")
