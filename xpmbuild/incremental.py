"""An incremental run: the last complete run's manifest says which jobs a change concerns.

The no-op manifest (noop.py) lists, job by job, the files each decision depended on (its
state.json, outputs and ``path`` inputs) with their stat. When the sources and the command
are the same but some of those files changed (an input edited, an output removed), only
the jobs owning a changed file, and the jobs after them, can be stale: every other job has
the same record, outputs and inputs as when it was last found up to date, so its
fingerprint is the same (rebuild.py: it is made of nothing else, the outputs of its
dependencies included, and they are unchanged too). Those jobs are *kept*: neither their
state nor their fingerprint is looked at again. The plan itself is loaded from the plan
cache (plancache.py) instead of being evaluated.

Anything else falls back to the full path: a changed code file (a task's ``uses`` or
python module: every job of the task would need deciding), changed sources, a manifest
or cached plan that is missing or damaged, a selection of jobs that is not the
manifest's, or a changed input that is no longer a readable file (the full path reports
it at its line and column).
"""
from __future__ import annotations

import os
from array import array

from . import noop, plancache


class Carry:
    """What the run takes over from the manifest: its tables (the nodes in the same order
    as the run's), the positions of the nodes decided again (``dirty``), the nodes' JSON,
    and whether the experiment's record is as the manifest saw it."""

    __slots__ = ("paths", "sigs", "offsets", "owned", "dirty", "_m", "record_current",
                 "is_run")

    def __init__(self, m: dict, record_current: bool, is_run: bool):
        self._m = m
        self.dirty: list = []       # filled by _prepare
        self.is_run = is_run        # from a run's manifest (else a plan's)
        self.paths = m["paths"].split("\0")
        self.sigs = array("q")
        self.sigs.frombytes(m["sigs"])
        self.offsets = array("i")
        self.offsets.frombytes(m["offsets"])
        self.owned = array("i")
        self.owned.frombytes(m["owned"])
        self.record_current = record_current

    @property
    def nodes_json(self) -> str | None:
        return noop.nodes_json(self._m)

    @property
    def manifest(self) -> dict:
        return {k: v for k, v in self._m.items() if k != "nodes_json"}


class Incremental:
    """The plan, the jobs kept as they are ({id: their state.json's stat, as checked}),
    the ids of the jobs decided again only because jobs before them are (``after``: their
    own files are as they were; :func:`up_to_date_after`), and the :class:`Carry`."""

    __slots__ = ("plan", "kept", "after", "carry")

    def __init__(self, plan, kept: dict, after: set, carry: Carry):
        self.plan, self.kept, self.after, self.carry = plan, kept, after, carry


def prepare(ws_root: str, file, defines, name, targets, dry_run=False, namespace=None,
            routes_by="") -> Incremental | None:
    """The incremental answer to this command, or None (the full path)."""
    keys = [(noop._key(ws_root, file, defines, name, targets, mode, namespace, routes_by), mode)
            for mode in ((True, False) if dry_run else (False,))]
    keys.sort(key=lambda km: noop.checked(km[0]) is None)      # the one just checked first
    for key, mode in keys:
        try:
            found = _prepare(ws_root, key, targets, is_run=not mode)
        except Exception:       # a damaged manifest or plan only costs the full path
            found = None
        if found is not None:
            return found
    return None


def _prepare(ws_root, key, targets, is_run):
    seen = noop.checked(key)        # the no-op check just now (cli/fastpath.py)
    m, start = seen if seen is not None else (noop.load(key), 0)
    if m is None or "offsets" not in m:
        return None
    changed = noop.changed_paths(m, start=start)
    fixed = m["fixed"]
    record_current = True
    for k in changed:
        if k >= fixed:
            break
        if is_run and k == fixed - 1:
            record_current = False      # the experiment's record (a run's last fixed file)
            continue
        return None                     # a code file
    carry = Carry(m, record_current, is_run)
    paths, sigs, offsets, owned = carry.paths, carry.sigs, carry.offsets, carry.owned
    jobs_root = os.path.join(ws_root, "jobs") + os.sep
    from .pathcheck import path_problem
    for k in changed:
        if k >= fixed and not paths[k].startswith(jobs_root) and path_problem(paths[k]):
            return None
    plan = plancache.load(ws_root, key, m["sources"])
    if plan is None:
        return None
    from .graph import TargetError, select
    try:
        jobs = select(plan, targets)
    except TargetError:
        return None
    if len(jobs) != m["count"] or noop.ids_digest([j.id for j in jobs]) != m["ids"]:
        return None
    if not _consistent(m, paths, offsets, owned):
        return None
    touched = set(k for k in changed if k >= fixed)
    dirty = set()
    if touched:
        for pos in range(len(jobs)):
            for k in owned[offsets[pos]:offsets[pos + 1]]:
                if k in touched:
                    dirty.add(jobs[pos].id)
                    break
    kept, after = {}, set()
    for pos, job in enumerate(jobs):        # dependency order: dependencies first
        if job.id in dirty:
            carry.dirty.append(pos)
        elif any(d.id in dirty for d in job.deps):
            dirty.add(job.id)
            after.add(job.id)               # its own files are as they were
            carry.dirty.append(pos)
        else:
            k = 4 * owned[offsets[pos]]       # a node's first file is its state.json
            kept[job.id] = (sigs[k], sigs[k + 1], sigs[k + 2], sigs[k + 3])
    return Incremental(plan, kept, after, carry)


def _consistent(m, paths, offsets, owned) -> bool:
    """Whether the manifest's tables fit together (a damaged one that still loads must not
    send the run, or the record after it, past their ends)."""
    n = m["count"]
    return (len(m["sigs"]) == 32 * len(paths) and len(offsets) == n + 1 and offsets[0] == 0
            and offsets[n] == len(owned) and all(offsets[i] < offsets[i + 1] for i in range(n))
            and (not owned or (min(owned) >= 0 and max(owned) < len(paths))))


def kept_outputs(dependent_state: dict | None, dep_id: str) -> dict | None:
    """A kept dependency's state as its dependent's trace needs it (its status and its
    outputs' hashes), from the dependent's own record: when the manifest was written the
    dependent was up to date, so its recorded trace holds the dependency's output hashes
    of then, and a kept dependency's outputs are unchanged since (and any later record of
    the dependent was made from those same outputs). None when the record does not have
    them (never built, damaged, recorded before its dependencies were known): the
    dependency's own state is read then."""
    if not dependent_state:
        return None
    deps = (dependent_state.get("trace") or {}).get("deps")
    outs = deps.get(dep_id) if type(deps) is dict else None
    if type(outs) is not dict:
        return None
    return {"status": "done", "outputs": {k: (None, None, None, h) for k, h in outs.items()}}


def up_to_date_after(job, state: dict | None, kept, state_of) -> bool:
    """Whether a job of ``after`` (decided again only because jobs before it are; its
    record, outputs and inputs are as the manifest saw them) is up to date as it stands:
    its record says done, and each dependency that is not ``kept`` now has the outputs
    its recorded trace holds (``state_of(dep)``: the dependency's state as the run knows
    it). Its fingerprint is then the one recorded: the same plan (the same command), the
    same inputs and code, the same dependencies' outputs. False: decide it in full."""
    if not state or state.get("status") != "done":
        return False
    recorded = (state.get("trace") or {}).get("deps")
    if type(recorded) is not dict:
        return False
    for d in job.deps:
        if d.id in kept:
            continue
        st = state_of(d)
        rec = recorded.get(d.id)
        if not st or type(rec) is not dict or st.get("status") != "done":
            return False
        outs = st.get("outputs") or {}
        if len(outs) != len(rec) or any(rec.get(k) != v[3] for k, v in outs.items()):
            return False
    return True
