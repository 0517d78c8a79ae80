"""The monitor's job table: every job of the workspace with the status ``status`` gives,
kept up to date by polling, cheaply enough for 100k jobs and without disturbing runs.

A refresh costs one ``stat`` of each job's ``state.json`` (a record is read again only
when its (size, mtime, inode, ctime) changed, as the index does), one ``stat`` of each task
folder and experiment record, and one read of ``/proc/locks``. Jobs recorded as queued or
running are judged by :func:`recovery.assess` at each refresh, as ``status`` does, with one
difference: the monitor never writes nor locks anything. A folder's lock is looked up in
``/proc/locks`` (the kernel's list) instead of being tried, and a job that ended while no
xpmbuild watched is shown as recording it would make it (``rebuild.record_end``, the dry
run's way), and left for ``status`` or the next run to record.

Each row keeps its JSON document already encoded, so ``/api/jobs`` over 100k jobs is a
join of bytes.
"""
from __future__ import annotations

import json
import os
import threading
import time

from ..workspace import ACTIVE, STATE, Workspace

_ERROR_STATES = ("failed", "lost", "cancelled")


def locked_inodes() -> set | None:
    """Inode numbers of the files and folders ``flock``-ed now (None: unknown here)."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    out = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 5 and "FLOCK" in parts:
            try:
                out.add(int(parts[5].rsplit(":", 1)[1]))
            except (ValueError, IndexError):
                pass
    return out


class WatchingWorkspace(Workspace):
    """A workspace seen by the monitor: its index read (never saved), locks looked up
    rather than tried."""

    locks: set | None = None

    def writable(self) -> bool:     # never write: the index is opened read-only
        return False

    def is_locked(self, job_dir: str) -> bool:
        if self.locks is None:
            return Workspace.is_locked(self, job_dir)
        try:
            return os.stat(job_dir).st_ino in self.locks
        except OSError:
            return False


class Row:
    __slots__ = ("id", "task", "dir", "key", "state", "status", "reasons", "deps", "tags",
                 "own_tags", "outputs", "error", "doc", "blob", "mtime")

    def __init__(self, job_id, task, d):
        self.id, self.task, self.dir = job_id, task, d
        self.key = self.state = self.doc = self.blob = None
        self.status, self.reasons, self.deps, self.tags = "new", [], None, {}
        self.own_tags, self.outputs, self.error, self.mtime = {}, {}, None, 0.0

    def encode(self):
        st = self.state or {}
        self.doc = {"id": self.id, "task": self.task, "status": self.status,
                    "tags": self.tags, "dir": self.dir, "started": st.get("started"),
                    "ended": st.get("ended"), "reasons": self.reasons, "deps": self.deps or [],
                    "error": self.error}
        self.blob = json.dumps(self.doc).encode()


class Experiment:
    __slots__ = ("name", "key", "ids", "mtime")

    def __init__(self, name):
        self.name, self.key, self.ids, self.mtime = name, None, [], 0.0


class JobTable:
    def __init__(self, root: str, launchers=None):
        self.root = os.path.abspath(root)
        self.ws = WatchingWorkspace(self.root)
        self.launchers = launchers
        self.rows: dict[str, Row] = {}
        self.exps: dict[str, Experiment] = {}
        self._tasks: dict[str, tuple] = {}      # task -> (mtime_ns, [(id, dir)])
        self._lock = threading.Lock()
        self.refreshed = 0.0                    # time.monotonic() of the last refresh
        self.cost = 0.0                         # seconds the last refresh took
        self._loaded = False
        self._live: dict = {}                   # launcher id -> the cluster's word
        self._live_at = -1e9
        self.listener = None                    # (changed, experiments) -> None
        self._planned: dict = {}                # id -> deps, from experiments' records

    # ------------------------------------------------------------------ refreshing
    def fresh(self, max_age: float):
        """Refresh unless the table is younger than ``max_age`` seconds."""
        if time.monotonic() - self.refreshed > max_age:
            self.refresh()

    def refresh(self) -> tuple[list, list]:
        """Read what changed: ([(id, task, status)] of jobs whose status changed,
        [names] of experiments whose record changed)."""
        with self._lock:
            t0 = time.monotonic()
            if not self._loaded:
                from ..hashing import HashCache
                self.ws.load_index()       # cached states: the first refresh reads fewer
                self.ws.hashes = HashCache()
                self.ws.index.close()
                self._loaded = True
            self.ws.locks = locked_inodes()
            self._query_launchers()
            changed_exps = self._refresh_experiments()
            changed = []
            seen = set()
            for task, job_id, d in self._job_dirs():
                seen.add(job_id)
                row = self.rows.get(job_id)
                if row is None:
                    row = self.rows[job_id] = Row(job_id, task, d)
                if self._update(row):
                    changed.append((job_id, task, row.status))
            for exp in self.exps.values():          # planned jobs without a folder yet
                for job_id, task, _tags in exp.ids:
                    if job_id not in seen and job_id not in self.rows:
                        row = self.rows[job_id] = Row(job_id, task, self.ws.job_dir(task, job_id))
                        self._update(row)
            for job_id in [i for i, r in self.rows.items()
                           if i not in seen and r.key is not None]:
                row = self.rows[job_id]               # its folder was removed (jobs clean)
                if self._update(row):
                    changed.append((job_id, row.task, row.status))
            if changed_exps:
                self._retag()
            self.cost = time.monotonic() - t0
            self.refreshed = time.monotonic()
        if (changed or changed_exps) and self.listener is not None:
            self.listener(changed, changed_exps)
        return changed, changed_exps

    def _job_dirs(self):
        jobs_root = self.ws.jobs_root
        try:
            tasks = sorted(os.listdir(jobs_root))
        except OSError:
            return
        for task in tasks:
            tdir = f"{jobs_root}/{task}"
            try:
                mtime = os.stat(tdir).st_mtime_ns
            except OSError:
                continue
            cached = self._tasks.get(task)
            if cached is None or cached[0] != mtime:
                try:
                    entries = sorted((e.name, e.path) for e in os.scandir(tdir) if e.is_dir())
                except OSError:
                    continue
                cached = self._tasks[task] = (mtime, entries)
            for job_id, d in cached[1]:
                yield task, job_id, d

    def _update(self, row: Row) -> bool:
        """Bring one row up to date; whether its status or reasons changed."""
        try:
            st = os.stat(row.dir + "/" + STATE)
            key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            row.mtime = st.st_mtime
        except OSError:
            key = None
        if key == row.key and row.doc is not None and (
                row.state is None or row.state.get("status") not in ACTIVE):
            return False
        if key != row.key:
            row.key = key
            row.state = self.ws.read_state(row.dir, row.id) if key is not None else None
            if row.deps is None or (key is not None and not row.outputs):
                self._read_params(row)
        before = (row.status, row.reasons)
        row.status, row.reasons = self._status(row)
        if row.status in _ERROR_STATES and (row.doc is None or before[0] != row.status):
            row.error = stderr_tail(row.dir)
        elif row.status not in _ERROR_STATES:
            row.error = None
        if row.doc is None or before != (row.status, row.reasons):
            row.encode()
            return True
        return False

    def _read_params(self, row: Row):
        try:
            with open(row.dir + "/params.json", encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = None
        if type(doc) is not dict:
            if row.deps is None:
                row.deps = []
            return
        row.deps = doc.get("deps") if isinstance(doc.get("deps"), list) else []
        row.own_tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
        row.outputs = doc.get("outputs") if isinstance(doc.get("outputs"), dict) else {}
        if not row.tags:
            row.tags = row.own_tags

    def _status(self, row: Row) -> tuple[str, list]:
        """(status, reasons) as ``status`` gives them (status.records)."""
        state = row.state
        if state is None:
            return "new", []
        status = state.get("status", "lost")
        reasons = [state["reason"]] if state.get("reason") else []
        if status not in ACTIVE:
            return status, reasons
        from ..recovery import ENDED, assess
        launchers = self.launchers
        known = launchers is not None and state.get("launcher") in launchers
        a = assess(self.ws, row.dir, state, self._ask if known else None)
        if a.verdict == ENDED:          # what recording it would give (never written here)
            from ..rebuild import record_end
            try:
                new = record_end(self.ws, row.dir, row.id, row.outputs, state, a.exit_code,
                                 None, None, self._dep_state)
            except OSError:
                return status, [a.reason]
            return new.get("status", "lost"), [a.reason] + (
                [new["reason"]] if new.get("reason") else [])
        return a.status, [a.reason] if a.reason else []

    def _ask(self, st):
        lid = str(st.get("launcher_id"))
        if lid not in self._live:
            raise RuntimeError("no answer yet")
        return self._live[lid]

    def _query_launchers(self, every=10.0):
        """The cluster launchers' word on their active jobs: one query per launcher,
        at most every ``every`` seconds."""
        if self.launchers is None or time.monotonic() - self._live_at < every:
            return
        self._live_at = time.monotonic()
        active: dict = {}
        for row in self.rows.values():
            st = row.state
            if st and st.get("status") in ACTIVE and st.get("launcher") in self.launchers:
                active.setdefault(st["launcher"], []).append(st)
        live = {}
        for name, states in active.items():
            try:
                live.update(self.launchers[name].live_states(states))
            except Exception:
                pass
        self._live = live

    def _dep_state(self, dep_id):
        row = self.rows.get(dep_id)
        return row.state if row is not None else None

    def _refresh_experiments(self) -> list:
        base = os.path.join(self.root, "experiments")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            names = []
        changed = [n for n in self.exps if n not in names]
        for n in changed:
            del self.exps[n]
        for name in names:
            path = f"{base}/{name}/jobs.jsonl"
            try:
                st = os.stat(path)
                key = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                key = None
            exp = self.exps.get(name)
            if exp is None:
                exp = self.exps[name] = Experiment(name)
            if key == exp.key:
                continue
            exp.key, exp.mtime = key, (st.st_mtime if key else 0.0)
            recs = [r for r in self.ws.experiment_jobs(name)
                    if isinstance(r, dict) and "id" in r and "task" in r]
            exp.ids = [(r["id"], r["task"], r.get("tags") or {}) for r in recs]
            for r in recs:       # the plan's dependencies, for jobs not yet prepared
                if isinstance(r.get("deps"), list):
                    self._planned[r["id"]] = r["deps"]
            changed.append(name)
        return changed

    def _retag(self):
        """Tags as ``status`` shows them: the first experiment's record, else the job's."""
        tags = {}
        for name in sorted(self.exps):
            for job_id, _task, t in self.exps[name].ids:
                tags.setdefault(job_id, t)
        for job_id, row in self.rows.items():
            new = tags.get(job_id) or row.own_tags
            if new != row.tags:
                row.tags = new
                row.encode()

    # ------------------------------------------------------------------ reading
    def experiment_rows(self, name: str | None) -> list[Row]:
        if name is None:
            return list(self.rows.values())
        exp = self.exps.get(name)
        if exp is None:
            return []
        return [self.rows[i] for i, _t, _g in exp.ids if i in self.rows]

    def experiments(self) -> list[dict]:
        out = []
        for name in sorted(self.exps):
            rows = self.experiment_rows(name)
            counts: dict = {}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
            updated = max([self.exps[name].mtime] + [r.mtime for r in rows])
            out.append({"name": name, "jobs": len(rows), "counts": counts,
                        "updated": round(updated, 3) if updated else None})
        return out

    def graph(self, name: str | None) -> dict:
        """One node per task: its counts by state and the tasks it depends on."""
        rows = self.experiment_rows(name)
        tasks: dict = {}
        for r in rows:
            t = tasks.setdefault(r.task, {"task": r.task, "counts": {}, "deps": set()})
            t["counts"][r.status] = t["counts"].get(r.status, 0) + 1
            for d in r.deps or self._planned.get(r.id, ()):
                dep = self.rows.get(d)
                if dep is not None and dep.task != r.task:
                    t["deps"].add(dep.task)
        return {"experiment": name,
                "tasks": [dict(t, deps=sorted(t["deps"])) for _, t in sorted(tasks.items())]}


def stderr_tail(job_dir: str, limit=4096) -> str | None:
    """The last non-empty line of a job's stderr (what a failure said), or None."""
    try:
        with open(job_dir + "/stderr.log", "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return None
    for line in reversed(data.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()[:300]
    return None
