"""Asking Slurm about jobs: the ``squeue`` and ``sacct`` commands and their answers.

An answer is told from no answer here, once: ``squeue`` exits 1 both when the controller
cannot be reached and when it knows none of the ids asked; only the latter ("Invalid job id
specified") is an answer (those jobs are unknown to it). Anything else that is not a
success is :class:`~.base.ClusterUnreachable`: the jobs are not gone, the cluster cannot say.

``sacct`` lists the pending tasks of an array as one line ``ID_[4-5%2]``: ranges are
expanded to the tasks they stand for.
"""
from __future__ import annotations

import re

from .base import ClusterUnreachable

UNKNOWN_IDS = "Invalid job id specified"
_RANGE = re.compile(r"(\d+)_\[([^\]]+)\]")


def base_id(launcher_id) -> str:
    return str(launcher_id).split("_", 1)[0].split(".", 1)[0]


def expand(job_id: str) -> list[str]:
    """``123_[0-2,5%2]`` → 123_0, 123_1, 123_2, 123_5; any other id → itself."""
    m = _RANGE.fullmatch(job_id)
    if not m:
        return [job_id]
    out = []
    for part in m.group(2).split("%")[0].split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            b = b.split(":")[0]
            if a.isdigit() and b.isdigit():
                out += [f"{m.group(1)}_{i}" for i in range(int(a), int(b) + 1)]
        elif part.isdigit():
            out.append(f"{m.group(1)}_{part}")
    return out


def check(res, command: str, unknown_is_answer=False):
    """Raise ClusterUnreachable unless ``res`` (a CommandResult) is an answer."""
    if res.ok:
        return
    err = (res.stderr or "").strip()
    if unknown_is_answer and res.code == 1 and UNKNOWN_IDS in err:
        return
    raise ClusterUnreachable(f"{command} failed ({res.code}): {err or 'no message'}")


def parse_squeue(text: str) -> dict[str, tuple[str, str]]:
    """``%i|%T|%r`` lines → {job id: (STATE, reason)}, array ranges expanded."""
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[1]:
            continue
        for jid in expand(parts[0]):
            if "[" in parts[0] and jid in out:
                continue
            out[jid] = (parts[1].split()[0], parts[2])
    return out


def parse_sacct(text: str) -> dict[str, dict]:
    """``JobID|State|ExitCode|Elapsed|TotalCPU|MaxRSS|Reason`` lines (jobs and their steps)
    → {job id: {"state", "exit", "reason", "resources"}}; a step's MaxRSS counts for its job."""
    out: dict[str, dict] = {}
    rss: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 6 or not parts[0]:
            continue
        jid, state, code, elapsed, cpu, maxrss = parts[:6]
        reason = parts[6] if len(parts) > 6 else ""
        if "." in jid:                      # a step: 123_4.batch, 123.extern
            r = parse_size(maxrss)
            if r is not None:
                owner = jid.split(".", 1)[0]
                rss[owner] = max(rss.get(owner, 0), r)
            continue
        ranged = "[" in jid
        for one in expand(jid):
            if ranged and one in out:
                continue        # a task's own record beats its array's (stale) range
            res = {}
            w, c = parse_clock(elapsed), parse_clock(cpu)
            if w is not None:
                res["wall"] = w
            if c:
                res["cpu"] = c
            out[one] = {"state": state.split()[0] if state else "", "exit": code,
                        "reason": reason, "resources": res}
    for jid, r in rss.items():
        if jid in out and r:
            out[jid]["resources"]["max_rss"] = r
    return out


def parse_clock(text: str) -> float | None:
    """Slurm's ``[D-]HH:MM:SS[.mmm]`` or ``MM:SS.mmm`` → seconds."""
    t = (text or "").strip()
    if not t or t in ("INVALID", "UNLIMITED"):
        return None
    days = 0
    if "-" in t:
        d, t = t.split("-", 1)
        if not d.isdigit():
            return None
        days = int(d)
    try:
        fields = [float(x) for x in t.split(":")]
    except ValueError:
        return None
    secs = 0.0
    for f in fields:
        secs = secs * 60 + f
    return round(days * 86400 + secs, 3)


_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(text: str) -> int | None:
    """sacct's ``MaxRSS`` (``1234K``, ``12M``, ``0``) → bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)\s*", text or "")
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])


SACCT_FORMAT = "JobID,State,ExitCode,Elapsed,TotalCPU,MaxRSS,Reason"


def squeue_argv(bases) -> list[str]:
    return ["squeue", "-h", "-t", "all", "-j", ",".join(bases), "-o", "%i|%T|%r"]


def sacct_argv(bases) -> list[str]:
    return ["sacct", "-n", "-P", "-j", ",".join(bases), "-o", SACCT_FORMAT]
