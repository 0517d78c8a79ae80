"""Routing: which launcher runs each job of a run.

In this order, the first that applies:

1. the task's own ``requires launcher="gpu"`` (the language);
2. the settings' ``[tasks.NAME] launcher = "gpu"``;
3. the first ``[[route]]`` whose ``when`` holds for the task's requirements::

       [[route]]
       when = "gpus >= 1"
       launcher = "gpu"

4. the run's launcher (``-l``, else the setting ``launcher``, else ``local``).

A ``when`` is comparisons ``KEY OP VALUE`` joined by ``and`` / ``or`` (``and`` binds
tighter; no parentheses). Keys: ``cpus`` (default 1), ``gpus`` (default 0), ``mem`` (bytes;
values such as ``16G``), ``time`` (seconds; values such as ``4h``), ``retries`` and ``task``
(the task's name, a quoted or bare word). OP: ``== != >= <= > <``. A key the task does not
require (``mem``, ``time``) makes its comparison false.
"""
from __future__ import annotations

import re

from .resources import parse_duration

KEYS = ("cpus", "gpus", "mem", "time", "retries", "task")
_TERM = re.compile(r"\s*([A-Za-z_]\w*)\s*(==|!=|>=|<=|>|<)\s*(\"[^\"]*\"|'[^']*'|[\w.:-]+)\s*")
_MEM = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", re.I)
_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def mem_bytes(text) -> int | None:
    """ "16G" → bytes (a bare number is MiB, as Slurm reads ``--mem``)."""
    m = _MEM.fullmatch(str(text).strip())
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()]) if m else None


def _value(key: str, raw: str, text: str):
    word = raw[1:-1] if raw[:1] in "\"'" else raw
    if key == "task":
        return word
    if key == "mem":
        v = mem_bytes(word)
        what = 'a size such as "16G"'
    elif key == "time":
        v = parse_duration(word)
        what = 'a duration such as "4h"'
    else:
        v = int(word) if re.fullmatch(r"\d+", word) else None
        what = "a whole number"
    if v is None:
        raise ValueError(f"{key} {raw!r}: expected {what} (in {text!r})")
    return v


class Condition:
    """A parsed ``when``: a disjunction of conjunctions of comparisons."""

    def __init__(self, text: str):
        self.text = text
        self.any_of = []
        for part in re.split(r"\s+or\s+", text.strip()):
            terms = []
            for term in re.split(r"\s+and\s+", part):
                m = _TERM.fullmatch(term)
                if not m:
                    raise ValueError(f"cannot read {term.strip()!r} in {text!r}: expected "
                                     "KEY OP VALUE joined by and/or, such as \"gpus >= 1\" "
                                     "(keys: " + ", ".join(KEYS) + ")")
                key, op, raw = m.groups()
                if key not in KEYS:
                    raise ValueError(f"unknown key {key!r} in {text!r}; keys: "
                                     + ", ".join(KEYS))
                if key == "task" and op not in ("==", "!="):
                    raise ValueError(f"task can only be compared with == or != (in {text!r})")
                terms.append((key, _OPS[op], _value(key, raw, text)))
            self.any_of.append(terms)

    def holds(self, task: str, requires: dict) -> bool:
        facts = {"task": task, "cpus": int(requires.get("cpus") or 1),
                 "gpus": int(requires.get("gpus") or 0),
                 "retries": int(requires.get("retries") or 0),
                 "mem": mem_bytes(requires["mem"]) if requires.get("mem") else None,
                 "time": parse_duration(str(requires["time"])) if requires.get("time")
                 else None}
        for terms in self.any_of:
            if all(facts[k] is not None and op(facts[k], v) for k, op, v in terms):
                return True
        return False


def check_settings(data: dict, file: str, error):
    """Check the ``route`` and ``tasks`` settings of one file (``error(msg)`` raises)."""
    routes = data.get("route")
    if routes is not None:
        for i, r in enumerate(routes):
            where = f"{file}: route[{i}]"
            if not isinstance(r, dict):
                error(f"{where}: expected a table ([[route]] with when and launcher)")
            for k in r:
                if k not in ("when", "launcher"):
                    error(f"{where}: unknown key {k!r}; a route takes when, launcher")
            for k in ("when", "launcher"):
                if not isinstance(r.get(k), str) or not r.get(k):
                    error(f"{where}.{k}: expected a string")
            try:
                Condition(r["when"])
            except ValueError as e:
                error(f"{where}.when: {e}")
    for name, t in (data.get("tasks") or {}).items():
        where = f"{file}: tasks.{name}"
        if not isinstance(t, dict):
            error(f"{where}: expected a table")
        for k, v in t.items():
            if k != "launcher":
                error(f"{where}: unknown key {k!r}; a task's table takes launcher")
            if not isinstance(v, str) or not v:
                error(f"{where}.launcher: expected a string")


class Router:
    """The launcher name of each task (cached: a task's requirements are the same for
    all its jobs); ``where(task)`` says which setting chose it."""

    def __init__(self, settings: dict, default: str):
        self.default = default
        self.tasks = {n: t["launcher"] for n, t in (settings.get("tasks") or {}).items()
                      if isinstance(t, dict) and t.get("launcher")}
        self.routes = [(Condition(r["when"]), r["launcher"], i)
                       for i, r in enumerate(settings.get("route") or [])]
        self._cache: dict = {}

    @property
    def active(self) -> bool:
        return bool(self.tasks or self.routes)

    def choose(self, task) -> tuple[str, str]:
        """(launcher name, the setting that chose it) for a task (model.Task)."""
        got = self._cache.get(task.name)
        if got is None:
            got = self._cache[task.name] = self._choose(task)
        return got

    def _choose(self, task):
        own = task.requires.get("launcher")
        if own:
            return own, f'requires launcher="{own}" of task {task.name} ({task.file})'
        if task.name in self.tasks:
            return self.tasks[task.name], f"the setting tasks.{task.name}.launcher"
        for cond, name, i in self.routes:
            if cond.holds(task.name, task.requires):
                return name, f"the setting route[{i}] (when = {cond.text!r})"
        return self.default, "the run's launcher"
