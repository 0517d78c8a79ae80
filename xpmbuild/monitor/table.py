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
from .judge import Judge

_ERROR_STATES = ("failed", "lost", "cancelled")
# what the table keeps of an ended job's record (memory); a job's page and a kill read the
# whole record again
_KEPT = frozenset(("status", "reason", "started", "ended", "exit_code", "launcher",
                   "launcher_id", "host", "history"))


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
                 "own_tags", "outputs", "error", "blob", "mtime", "ino", "seen")

    def __init__(self, job_id, task, d):
        self.id, self.task, self.dir = job_id, task, d
        self.key = self.state = self.blob = None
        self.seen = False               # read at least once
        self.status, self.reasons, self.deps, self.tags = "new", [], None, {}
        self.own_tags, self.outputs, self.error, self.mtime = {}, {}, None, 0.0
        self.ino = None                 # its folder's inode; None: no folder

    def encode(self):
        """Mark the row changed: its document is made again when next asked for."""
        self.blob = None

    def document(self) -> dict:
        st = self.state or {}
        return {"id": self.id, "task": self.task, "status": self.status, "tags": self.tags,
                "dir": self.dir, "started": st.get("started"), "ended": st.get("ended"),
                "reasons": self.reasons, "deps": self.deps or [], "error": self.error}

    def json(self) -> bytes:
        if self.blob is None:           # kept encoded only (memory: 100k rows)
            self.blob = json.dumps(self.document()).encode()
        return self.blob


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
        self._lock = threading.Lock()
        self.refreshed = 0.0                    # time.monotonic() of the last refresh
        self.cost = 0.0                         # seconds the last refresh took
        self._loaded = False
        self.judge = Judge(self.ws, launchers)
        self.listener = None                    # (changed, experiments) -> None
        self._planned: dict = {}                # id -> deps, from experiments' records
        self._tasks: dict = {}                  # task -> (folder mtime, {id: inode})
        self._by_ino: dict = {}                 # job folder inode -> row
        self._hot: set = set()                  # ids of jobs that can change by themselves
        self._locked_before: set = set()
        self.swept = -1e9                       # time.monotonic() of the last full sweep
        self.sweep_cost = 0.0
        self.quick_cost = 0.0
        self.version = 0                        # changes whenever a row's document does
        self._memo: dict = {}                   # key -> (version, value)

    # ------------------------------------------------------------------ refreshing
    def fresh(self, max_age: float, full=False):
        """Refresh unless the table is younger than ``max_age`` seconds (a quick refresh
        unless ``full``; the first is always full)."""
        if self._loaded and self._lock.locked():
            return          # a refresh (the watcher's sweep) is under way: answer as is
        if time.monotonic() - self.refreshed > max_age:
            self.refresh(full)

    def sweep_pace(self) -> float:
        """Seconds between full sweeps: at least 2, at least 20 times what one costs."""
        return max(2.0, 20 * self.sweep_cost)

    def refresh(self, full: bool | None = None) -> tuple[list, list]:
        """Read what changed: ([(id, task, status)] of jobs whose status changed,
        [names] of experiments whose record changed).

        A full sweep stats every job's record. A quick refresh (``full=False``; None:
        full when a sweep is due) stats only the jobs that can be changing: folders that
        appeared or went, jobs queued or running or not yet recorded, and jobs whose folder
        is locked now or was at the last refresh (a run writes a record only under the
        folder's lock). A job rebuilt between two quick refreshes (a run of under half a
        second) is seen at the next sweep."""
        with self._lock:
            t0 = time.monotonic()
            if not self._loaded:
                from ..hashing import HashCache
                self.ws.load_index()       # cached states: the first refresh reads fewer
                self.ws.hashes = HashCache()
                self.ws.index.close()
                self._loaded = True
                full = True
            locks = locked_inodes()
            self.ws.locks = locks
            if full is None:
                full = locks is None or t0 - self.swept >= self.sweep_pace()
            self.judge.query(self.rows)
            changed_exps = self._refresh_experiments()
            moved = self._scan_tasks()
            if full or locks is None:
                todo = [r for r in self.rows.values() if r.ino is not None]
            else:
                by_ino = self._by_ino
                todo = [self.rows[i] for i in self._hot if i in self.rows]
                todo += [by_ino[i] for i in (locks | self._locked_before) if i in by_ino]
            changed = []
            done = set()
            hot = self._hot
            for row in moved + todo:
                if row.id in done:
                    continue
                done.add(row.id)
                if self._update(row):
                    changed.append((row.id, row.task, row.status))
                st = row.state
                if row.ino is not None and (st is None or st.get("status") in ACTIVE):
                    hot.add(row.id)
                else:
                    hot.discard(row.id)
            self._locked_before = locks or set()
            self.ws._dirty_rows.clear()         # the index is never saved here
            if full and self.ws._rows:
                self.ws._rows = {}              # the first load is done: records are read
                #                                 again only when their stat changes
            if changed_exps:
                self._retag()
            self.cost = time.monotonic() - t0
            if full:
                self.sweep_cost, self.swept = self.cost, t0
            else:
                self.quick_cost = self.cost
            self.refreshed = time.monotonic()
        if (changed or changed_exps) and self.listener is not None:
            self.listener(changed, changed_exps)
        return changed, changed_exps

    def recheck(self, row: Row):
        """Read one job again now (its page, before a kill), whatever the pace."""
        with self._lock:
            self.ws.locks = locked_inodes()
            changed = self._update(row)
        if changed and self.listener is not None:
            self.listener([(row.id, row.task, row.status)], [])

    def _row(self, job_id, task, d):
        row = self.rows.get(job_id)
        if row is None:
            row = self.rows[job_id] = Row(job_id, task, d)
        return row

    def _scan_tasks(self) -> list:
        """Rows whose folder appeared, went or was replaced since the last scan (a task
        folder is listed again only when its mtime changed)."""
        jobs_root = self.ws.jobs_root
        try:
            tasks = os.listdir(jobs_root)
        except OSError:
            tasks = []
        moved = []
        for task in set(tasks) | set(self._tasks):
            tdir = f"{jobs_root}/{task}"
            try:
                mtime = os.stat(tdir).st_mtime_ns
            except OSError:
                mtime = None
            old = self._tasks.get(task)
            if old is not None and old[0] == mtime:
                continue
            entries = {}
            if mtime is not None:
                try:
                    entries = {e.name: e.inode() for e in os.scandir(tdir)
                               if e.is_dir(follow_symlinks=False)}
                except OSError:
                    entries = {}
            before = old[1] if old else {}
            for job_id, ino in entries.items():
                if before.get(job_id) != ino:
                    row = self._row(job_id, task, f"{tdir}/{job_id}")
                    self._by_ino.pop(row.ino, None)
                    row.ino = ino
                    self._by_ino[ino] = row
                    moved.append(row)
            for job_id in before.keys() - entries.keys():
                row = self.rows.get(job_id)
                if row is not None:                 # removed (jobs clean, gc)
                    self._by_ino.pop(row.ino, None)
                    row.ino = None
                    moved.append(row)
            if mtime is None:
                self._tasks.pop(task, None)
            else:
                self._tasks[task] = (mtime, entries)
        return moved

    def _update(self, row: Row) -> bool:
        """Bring one row up to date; whether its status or reasons changed."""
        try:
            st = os.stat(row.dir + "/" + STATE)
            key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            row.mtime = st.st_mtime
        except OSError:
            key = None
        if key == row.key and row.seen and (
                row.state is None or row.state.get("status") not in ACTIVE):
            return False
        before_key = row.key
        if key != row.key:
            row.key = key
            # the index's cached states serve the first load only
            row.state = self.ws.read_state(row.dir, row.id if not row.seen else None) \
                if key is not None else None
            if row.state is not None and row.state.get("status") not in ACTIVE:
                row.state = {k: v for k, v in row.state.items() if k in _KEPT}
            if row.deps is None:
                planned = self._planned.get(row.id)
                if planned is not None:
                    row.deps = planned          # the plan's, as params.json has them
                elif key is not None:
                    read_params(row)
        before = (row.status, row.reasons)
        row.status, row.reasons = self.judge.status(row, self.rows, read_params)
        first, row.seen = not row.seen, True
        error = row.error
        if row.status in _ERROR_STATES and (first or before[0] != row.status
                                            or key != before_key):
            row.error = stderr_tail(row.dir)
        elif row.status not in _ERROR_STATES:
            row.error = None
        changed = first or before != (row.status, row.reasons)
        if changed or key != before_key or error != row.error:
            row.encode()
            self.version += 1
        return changed

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
                if r["id"] not in self.rows:        # planned: a row before its folder
                    row = self._row(r["id"], r["task"], self.ws.job_dir(r["task"], r["id"]))
                    row.deps = self._planned.get(r["id"])
                    self.version += 1
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
                self.version += 1

    # ------------------------------------------------------------------ reading
    def memo(self, key, make):
        """``make()``, computed again only when a row changed since it last was."""
        hit = self._memo.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        if len(self._memo) > 64:
            self._memo.clear()
        version = self.version
        value = make()
        self._memo[key] = (version, value)
        return value

    def experiment_rows(self, name: str | None) -> list[Row]:
        if name is None:
            return list(self.rows.values())
        exp = self.exps.get(name)
        if exp is None:
            return []
        return [self.rows[i] for i, _t, _g in exp.ids if i in self.rows]

    def planned_deps(self, job_id) -> list:
        return self._planned.get(job_id, ())


def read_params(row: Row):
    """Fill the row's deps, own tags and outputs from its params.json."""
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
