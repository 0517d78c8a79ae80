"""The nearest job of the same task already in the workspace, and how a new job differs.

A job is new when no folder has its identity, most often because a parameter changed.
Saying which one turns "never built" into a reason a user can act on::

    differs from train/1f74a2c9… in opt.lr (0.001 → 0.0001)

Candidates are the job folders of the task that the current plan does not use (the jobs it
replaces), read from their ``params.json`` once per task and run. The nearest differs in
the fewest parameters (options left out); a job one parameter away is found by a lookup
whatever the number of candidates, others by comparing with at most ``SCAN`` of them.
"""
from __future__ import annotations

import json
import os

SCAN = 300          # candidates compared in full when none is one parameter away
SHOWN = 3           # differences named in the reason


def flatten(params: dict, options=()) -> dict:
    """Parameter values (the params.json encoding) as ``{dotted name: text}``."""
    out: dict = {}
    for name, value in params.items():
        if name not in options:
            _flat(name, value, out)
    return out


def _flat(key, value, out):
    if type(value) is dict:
        if "$config" in value:
            for k, v in (value.get("fields") or {}).items():
                _flat(f"{key}.{k}", v, out)
            return
        if "$dict" in value:
            for k, v in (value["$dict"] or {}).items():
                _flat(f"{key}.{k}", v, out)
            return
        if "$job" in value:
            out[key] = f"{value['$job']}/{str(value.get('id', ''))[:8]}…"
            return
        if "$path" in value:
            out[key] = str(value["$path"])
            return
    out[key] = value if type(value) is str else json.dumps(value, sort_keys=True)


def _shown(v) -> str:
    if v is None:
        return "unset"
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "…"


class Neighbours:
    def __init__(self, jobs_root: str, exclude=()):
        self.jobs_root = jobs_root
        self.exclude = exclude          # ids of the current plan's jobs
        self._tasks: dict[str, tuple] = {}

    def _index(self, task: str):
        idx = self._tasks.get(task)
        if idx is not None:
            return idx
        cands, one_off = [], {}
        tdir = os.path.join(self.jobs_root, task)
        try:
            names = sorted(os.listdir(tdir))
        except OSError:
            names = []
        for job_id in names:
            if job_id in self.exclude:
                continue
            try:
                with open(os.path.join(tdir, job_id, "params.json"), encoding="utf-8") as f:
                    doc = json.load(f)
                flat = flatten(doc.get("params") or {}, set(doc.get("options") or ()))
            except (OSError, ValueError, AttributeError, TypeError):
                continue
            cands.append((job_id, flat))
            items = sorted(flat.items())
            for i, (k, _v) in enumerate(items):
                one_off.setdefault((k, tuple(items[:i] + items[i + 1:])), (job_id, flat))
        idx = self._tasks[task] = (cands, one_off)
        return idx

    def nearest(self, task: str, params: dict, options=()):
        """(job id, [(name, old, new)]) of the nearest candidate, or None."""
        cands, one_off = self._index(task)
        if not cands:
            return None
        flat = flatten(params, options)
        items = sorted(flat.items())
        for i, (k, _v) in enumerate(items):
            hit = one_off.get((k, tuple(items[:i] + items[i + 1:])))
            if hit is not None:
                return hit[0], [(k, hit[1].get(k), flat[k])]
        best = None
        for job_id, other in cands[-SCAN:]:
            diff = [(k, other.get(k), flat.get(k)) for k in sorted(set(flat) | set(other))
                    if other.get(k) != flat.get(k)]
            if best is None or len(diff) < len(best[1]):
                best = (job_id, diff)
        return best

    def reason(self, job):
        """``differs from TASK/ID… in NAME (OLD → NEW)``, or None without a neighbour."""
        task = job.task
        if not self._index(task.name)[0]:
            return None             # no job of this task in the workspace (the usual case)
        from .actions import to_json
        options = {p.name for p in task.params.values() if p.option}
        params = {k: to_json(v) for k, v in job.values.items()}
        found = self.nearest(task.name, params, options)
        if found is None:
            return None
        job_id, diff = found
        shown = ", ".join(f"{k} ({_shown(old)} → {_shown(new)})" for k, old, new in diff[:SHOWN])
        more = f" and {len(diff) - SHOWN} more" if len(diff) > SHOWN else ""
        from .reasons import reason
        return reason("differs", job=f"{task.name}/{job_id[:8]}…", diffs=shown + more)
