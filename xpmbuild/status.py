"""What the workspace says: job records for ``status`` and ``jobs``, read from the job
folders (the truth) with the experiments' records for tags.

A job recorded as queued or running whose folder is not locked by any xpmbuild is
checked with its launcher: still running (a detached job), finished meanwhile (its exit
file says how), or lost.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .workspace import ACTIVE, Workspace


@dataclass
class JobRecord:
    id: str
    task: str
    dir: str
    status: str
    reasons: list = field(default_factory=list)
    deps: list = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    state: dict | None = None
    experiments: list = field(default_factory=list)

    @property
    def short(self):
        return f"{self.task}/{self.id[:8]}"

    def to_json(self):
        from .schema import node
        out = node(self.id, self.task, self.dir, self.status, self.reasons, self.deps,
                   self.tags, False)
        st = self.state or {}
        for key in ("launcher", "resources", "attempts"):     # when recorded
            if st.get(key) is not None:
                out[key] = st[key]
        return out


def _params_of(job_dir) -> dict:
    """The job's own params.json (its deps and tags), {} when unreadable."""
    try:
        with open(os.path.join(job_dir, "params.json"), encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def reconcile(ws: Workspace, job_id: str, job_dir: str, state: dict, code: int,
              held=None, extra=None) -> dict:
    """Record the end of a job that finished while no xpmbuild watched (detached runs),
    under the folder's lock (``held``: a lock the caller holds already); ``extra``: fields
    to add to the record (the job's measured ``resources``)."""
    from .rebuild import record_end
    if held is None and not ws.writable():
        return state        # a read-only workspace: shown as it is, never written
    lock = held or ws.try_lock(job_dir)
    if lock is None:
        return state
    try:
        try:
            with open(os.path.join(job_dir, "params.json"), encoding="utf-8") as f:
                outputs = json.load(f).get("outputs", {})
        except (OSError, ValueError):
            outputs = {}
        dep_tasks = state.get("dep_tasks") or {}

        def dep_state(dep_id):
            task = dep_tasks.get(dep_id)
            return ws.read_state(ws.job_dir(task, dep_id), dep_id) if task else None

        new = record_end(ws, job_dir, job_id, outputs, state, code, None, None, dep_state)
        new.update(extra or {})
        try:
            ws.write_state(job_dir, new, job_id)
        except OSError:     # a full disk: the record stays as it was (whole), the exit
            return state    # file stays too, and the next reader records the end
        return new
    finally:
        if held is None:
            lock.release()


def _record_ended(ws: Workspace, job_id: str, job_dir: str, state: dict, why: str) -> dict:
    """Write the end the cluster reported (no result of its own) into a job's record."""
    from .workspace import now
    if not ws.writable():
        return state
    lock = ws.try_lock(job_dir)
    if lock is None:
        return state
    try:
        new = dict(state, status="failed", reason=why, ended=now())
        ws.write_state(job_dir, new, job_id)
        return new
    except OSError:
        return state
    finally:
        lock.release()


def _live_status(ws: Workspace, job_dir: str, state: dict, launchers: dict | None, live=None):
    """For a job recorded as queued/running: (status, reason) as things stand now
    (recovery.py; ``live``: the launchers' answers, one query per launcher)."""
    from .recovery import assess
    def ask(st):
        lid = str(st.get("launcher_id"))
        if live is None or lid not in live:
            raise RuntimeError((live or {}).get(("error", st.get("launcher")), "no answer"))
        return live[lid]
    known = launchers is not None and state.get("launcher") in launchers
    a = assess(ws, job_dir, state, ask if known else None)
    return a.status, a.reason


def records(ws: Workspace, experiment: str | None = None, launchers=None) -> list[JobRecord]:
    tags: dict[str, dict] = {}
    member: dict[str, list] = {}
    exps = [experiment] if experiment else ws.experiments()
    wanted = None
    for name in exps:
        rows = ws.experiment_jobs(name)
        for row in rows:
            tags.setdefault(row["id"], row.get("tags") or {})
            member.setdefault(row["id"], []).append(name)
        if experiment:
            wanted = [(r["task"], r["id"], ws.job_dir(r["task"], r["id"])) for r in rows]
    from .launchers.base import read_exit_file
    found = []
    active: dict[str, list] = {}
    ended: dict[str, tuple] = {}        # job id -> (index in found, exit code)
    for task, job_id, d in (wanted if wanted is not None else ws.all_job_dirs()):
        state = ws.read_state(d, job_id)
        if state is not None and state.get("status") in ACTIVE and not ws.is_locked(d):
            code = read_exit_file(d)
            if code is not None:
                ended[job_id] = (len(found), code)
            elif launchers is not None and state.get("launcher") in launchers:
                active.setdefault(state["launcher"], []).append(state)
        found.append([task, job_id, d, state])

    # record what ended, dependencies before their dependents (their outputs complete the
    # dependents' fingerprints)
    def settle(job_id, seen=()):
        i, code = ended.pop(job_id)
        state = found[i][3]
        for dep in (state.get("dep_tasks") or {}):
            if dep in ended and dep not in seen:
                settle(dep, seen + (job_id,))
        found[i][3] = reconcile(ws, job_id, found[i][2], state, code)

    while ended:
        settle(next(iter(ended)))
    # one query per cluster launcher for all its unfinished jobs
    live: dict = {}
    for name, states in active.items():
        try:
            live.update(launchers[name].live_states(states))
        except Exception as e:      # it cannot answer now: its jobs are not gone
            live[("error", name)] = str(e) or type(e).__name__
    out = []
    for task, job_id, d, state in found:
        reasons = []
        if state is None:
            status = "new"
        else:
            status = state.get("status", "lost")
            if state.get("reason"):
                reasons.append(state["reason"])
            if status in ACTIVE:
                status, why = _live_status(ws, d, state, launchers, live)
                if why:
                    reasons = [why]
                if status == "failed":      # the cluster says how it ended: on record now,
                    state = _record_ended(ws, job_id, d, state, why)   # before it forgets
        params = _params_of(d)
        deps = params.get("deps") if isinstance(params.get("deps"), list) else []
        own_tags = params.get("tags") if isinstance(params.get("tags"), dict) else {}
        # an experiment's record first; else the tags the job folder itself keeps
        out.append(JobRecord(job_id, task, d, status, reasons, deps,
                             tags.get(job_id) or own_tags, state, member.get(job_id, [])))
    return out
