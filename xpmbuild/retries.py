"""Retries: which ends of a job are tried again, with what resources, and what each
attempt leaves (launchers.md, v1 "Retries and resumable jobs").

A job is resubmitted, in the same folder (its checkpoints survive), when it ended by
TIMEOUT, NODE_FAIL, OUT_OF_MEMORY or a launcher error — or by an exit code listed in
``retry_on_exit`` — and it has attempts left (``requires retries=N``, else the launcher's
``retries`` setting; default 0). ``requires on_retry={"time": 2, "mem": 1.5}`` multiplies
those requirements by the factor at each new attempt (attempt k: base × factor^(k−1)).

Before attempt k (k ≥ 2) starts, the previous attempt's ``stdout.log``/``stderr.log``
become ``stdout.(k-1).log``/``stderr.(k-1).log``; ``state.json`` keeps ``attempts``, one
entry per finished attempt (why it ended, its exit code, resources, launcher id), and
``attempt``, the number of the current one. The job sees ``XPM_ATTEMPT`` and
``XPM_DEADLINE`` (written to ``.xpm-attempt``, read by the wrapper, launchers/base.py).
"""
from __future__ import annotations

import os
import re

from .launchers.base import ATTEMPT_FILE
from .resources import ESCALATED as ESCALATED_KEYS
from .resources import parse_duration

TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, LAUNCHER_ERROR = ("TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                                                      "LAUNCHER_ERROR")
RETRIED_CAUSES = (TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, LAUNCHER_ERROR)
# the words launchers use for these ends (slurm.py FAILED_REASONS, oar.py, local.py)
_CAUSE_WORDS = ((TIMEOUT, re.compile(r"\bTIMEOUT\b|time limit reached")),
                (NODE_FAIL, re.compile(r"\bNODE_FAIL\b|node failure")),
                (OUT_OF_MEMORY, re.compile(r"\bOUT_OF_MEMORY\b|out of memory")),
                (LAUNCHER_ERROR, re.compile(r"^launcher error")))
_MEM = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", re.I)
_MEM_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def cause(reason: str | None, explicit: str | None = None) -> str | None:
    """The cause word (TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, LAUNCHER_ERROR) of a failure's
    reason; ``explicit``: one a launcher stated itself (``Ended.cause``)."""
    if explicit:
        return explicit
    for word, pattern in _CAUSE_WORDS:
        if reason and pattern.search(reason):
            return word
    return None


class RetryPolicy:
    """The retry rules of one job: its ``requires`` over its launcher's settings."""

    __slots__ = ("retries", "on_exit", "factors")

    def __init__(self, requires: dict, settings: dict | None = None):
        settings = settings or {}
        r = requires.get("retries", settings.get("retries", 0))
        self.retries = int(r or 0)
        codes = requires.get("retry_on_exit", settings.get("retry_on_exit")) or ()
        self.on_exit = frozenset(int(c) for c in codes)
        self.factors = dict(requires.get("on_retry") or {})

    def should_retry(self, attempt: int, why: str | None, exit_code, explicit=None) -> bool:
        """Whether attempt ``attempt`` (1, 2, ...), which failed so, is tried again."""
        if attempt > self.retries:
            return False
        if cause(why, explicit) in RETRIED_CAUSES:
            return True
        return exit_code is not None and exit_code != 0 and exit_code in self.on_exit

    def requires_for(self, requires: dict, attempt: int) -> dict:
        """The requirements of attempt ``attempt``: ``on_retry`` factors applied."""
        if attempt <= 1 or not self.factors:
            return requires
        out = dict(requires)
        for key, factor in self.factors.items():
            if key in out and out[key] is not None:
                out[key] = scale(key, out[key], float(factor) ** (attempt - 1))
        return out


def scale(key: str, value, factor: float):
    """``time="1h"`` × 2 → "7200s"; ``mem="4G"`` × 1.5 → "6144M"."""
    if key == "time":
        seconds = parse_duration(str(value))
        return f"{max(1, round(seconds * factor))}s" if seconds is not None else value
    if key == "mem":
        m = _MEM.fullmatch(str(value).strip())
        if not m:
            return value
        mib = float(m.group(1)) * _MEM_UNITS[m.group(2).upper()] / (1 << 20)
        return f"{max(1, round(mib * factor))}M"
    return value


def attempt_summary(state: dict, attempt: int) -> dict:
    """What ``state.json``'s ``attempts`` keeps of one finished attempt."""
    out = {"attempt": attempt, "status": state.get("status"), "reason": state.get("reason"),
           "exit_code": state.get("exit_code"), "launcher": state.get("launcher"),
           "launcher_id": state.get("launcher_id"), "started": state.get("started"),
           "ended": state.get("ended")}
    if state.get("cause"):
        out["cause"] = state["cause"]
    if state.get("resources") is not None:
        out["resources"] = state["resources"]
    if state.get("requires"):
        out["requires"] = state["requires"]
    return out


def keep_logs(job_dir: str, previous: int):
    """``stdout.log`` → ``stdout.N.log`` (and stderr) before the next attempt starts."""
    for name in ("stdout", "stderr"):
        try:
            os.replace(os.path.join(job_dir, f"{name}.log"),
                       os.path.join(job_dir, f"{name}.{previous}.log"))
        except FileNotFoundError:
            pass


def write_attempt_file(job_dir: str, attempt: int, requires: dict, new: bool):
    """``.xpm-attempt``, read by the wrapper: XPM_ATTEMPT and the time limit. Absent (the
    wrapper's defaults: attempt 1, no deadline) for a first attempt without ``time=``."""
    path = os.path.join(job_dir, ATTEMPT_FILE)
    limit = parse_duration(str(requires["time"])) if requires.get("time") else None
    if attempt <= 1 and limit is None:
        if not new:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return
    text = f"XPM_ATTEMPT={int(attempt)}\n" + (f"XPM_TIME_LIMIT={int(limit)}\n" if limit else "")
    with open(path, "w") as f:
        f.write(text)


class Retrying:
    """The scheduler's half that tries jobs again (a part of :class:`~.scheduler.Scheduler`):
    ``_begin_attempt`` when a job is prepared, ``_retry`` when it ended without success."""

    def _policy(self, node) -> RetryPolicy:
        launcher = self._launcher_of(node)
        return RetryPolicy(node.job.task.requires, getattr(launcher, "scheduling", None))

    def _requires(self, node) -> dict:
        """The requirements of the job's current attempt (escalated by ``on_retry``)."""
        st = node.state
        attempt = st.get("attempt", 1) if st else 1
        if attempt <= 1:
            return node.job.task.requires
        return self._policy(node).requires_for(node.job.task.requires, attempt)

    def _begin_attempt(self, node, state: dict, new: bool):
        """Complete the start record of an attempt: its number, the earlier attempts, the
        escalated requirements; keep the earlier attempt's logs; write ``.xpm-attempt``."""
        prev = node.state or {}
        attempt = int(prev.get("retrying") or 1)
        state["attempt"] = attempt
        requires = node.job.task.requires
        if attempt > 1:
            state["attempts"] = list(prev.get("attempts") or [])
            keep_logs(node.dir, attempt - 1)
            requires = self._policy(node).requires_for(requires, attempt)
            changed = {k: requires[k] for k in ESCALATED_KEYS
                       if requires.get(k) != node.job.task.requires.get(k)}
            if changed:
                state["requires"] = changed
        write_attempt_file(node.dir, attempt, requires, new)

    def _retry(self, node, state: dict, explicit_cause=None) -> bool:
        """After an attempt that did not succeed (``state``, not yet written): record it
        in ``attempts`` and, when the policy says so, queue the job again (True)."""
        attempt = int(state.get("attempt") or 1)
        policy = self._policy(node)
        why = state.get("reason")
        c = cause(why, explicit_cause)
        if c:
            state["cause"] = c
        if policy.retries or attempt > 1:
            state["attempts"] = list(state.get("attempts") or []) + \
                [attempt_summary(state, attempt)]
        if self.stopping and not self.keep_going or state.get("status") in ("cancelled", "lost"):
            return False
        if not policy.should_retry(attempt, why, state.get("exit_code"), c):
            return False
        state["retrying"] = attempt + 1
        self._record(node, state)           # written, and the folder released
        node.handle = None
        self.counts["retried"] = self.counts.get("retried", 0) + 1
        self.reporter.retrying(node, attempt + 1, why) if hasattr(self.reporter, "retrying") \
            else None
        self.to_launch.appendleft(node)
        return True

    def _attempts_done(self, state: dict):
        """A successful end: the last attempt joins ``attempts`` when there were several."""
        attempt = int(state.get("attempt") or 1)
        if attempt > 1:
            state["attempts"] = list(state.get("attempts") or []) + \
                [attempt_summary(state, attempt)]
