"""``requires`` of a task: its keys and the literal values each accepts.

Resources (``cpus``, ``gpus``, ``mem``, ``time``) are handed to the launchers; ``retries``,
``on_retry`` and ``retry_on_exit`` are the retry policy (retries.py); ``launcher`` names
the settings' launcher that runs the task's jobs (routing.py). Values are literals (a
number, a string, a list or a dict of them), checked here with their place in the file.
"""
from __future__ import annotations

import re

from ..resources import ESCALATED, parse_duration
from . import syntax as S

REQUIREMENTS = ("cpus", "gpus", "mem", "time", "retries", "on_retry", "retry_on_exit",
                "launcher")
_NOT_LITERAL = object()


def literal(e):
    """The value of a literal expression (``-1``, ``[3, 4]``, ``{"time": 2}``), or
    ``_NOT_LITERAL``."""
    if isinstance(e, S.Const):
        return e.value
    if isinstance(e, S.Unary) and e.op in "-+" and isinstance(e.operand, S.Const) and \
            type(e.operand.value) in (int, float):
        return -e.operand.value if e.op == "-" else e.operand.value
    if isinstance(e, S.ListExpr):
        items = [literal(x) for x in e.items]
        return _NOT_LITERAL if any(x is _NOT_LITERAL for x in items) else items
    if isinstance(e, S.DictExpr):
        out = {}
        for k, v in e.pairs:
            k, v = literal(k), literal(v)
            if k is _NOT_LITERAL or v is _NOT_LITERAL:
                return _NOT_LITERAL
            out[k] = v
        return out
    return _NOT_LITERAL


def _number(v) -> bool:
    return type(v) in (int, float)


def requirement_value(r):
    """The checked value of one requirement ``r`` (a syntax Requirement); raises the
    language error at its place."""
    name = r.name
    value = literal(r.value)
    err = r.value.pos.error
    if name in ("cpus", "gpus"):
        if type(value) is not int or value < (1 if name == "cpus" else 0):
            raise err(f"{name} must be a whole number{' >= 1' if name == 'cpus' else ' >= 0'}")
    elif name == "mem":
        if type(value) is not str or not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]?B?", value, re.I):
            raise err('mem must be a string such as "4G" or "512M"')
    elif name == "time":
        if type(value) is not str or parse_duration(value) is None:
            raise err('time must be a string such as "2h", "30m", "1h30m", "90s" or '
                      '"1-00:00:00"')
    elif name == "retries":
        if type(value) is not int or value < 0:
            raise err("retries must be a whole number >= 0 (how many times a job that "
                      "timed out, ran out of memory or lost its node is tried again)")
    elif name == "on_retry":
        if not isinstance(value, dict) or not value:
            raise err('on_retry must be a dict of factors, such as {"time": 2, "mem": 1.5}')
        for k, v in value.items():
            if k not in ESCALATED:
                raise err(f"on_retry: cannot escalate {k!r}; expected "
                          + " or ".join(repr(x) for x in ESCALATED))
            if not _number(v) or v < 1:
                raise err(f"on_retry: the factor of {k} must be a number >= 1, got {v!r}")
    elif name == "retry_on_exit":
        if not isinstance(value, list) or not all(type(c) is int and 0 < c < 256
                                                  for c in value):
            raise err("retry_on_exit must be a list of exit codes (1 to 255), such as [3, 75]")
    elif name == "launcher":
        if type(value) is not str or not value:
            raise err('launcher must be the name of a launcher of the settings, such as "gpu"')
    return value
