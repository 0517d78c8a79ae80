"""The workspace: job folders (the truth), atomic state records, the index, locks.

Layout (spec §7)::

    WORKSPACE/
      jobs/TASK/ID/        params.json command.sh stdout.log stderr.log state.json <outputs>
      experiments/NAME/    jobs.jsonl, jobs/TASK-SHORTID -> ../../../jobs/TASK/ID
      .xpm/index.sqlite    cache: file hashes and job states (dropped → rebuilt)

A job folder's ``state.json`` is written atomically (temp file + ``os.replace``). The
index caches each state with the (size, mtime_ns) of the state.json it came from, so a
no-op run costs one ``stat`` per job instead of one read and JSON parse.
"""
from __future__ import annotations

import fcntl
import json
import marshal
import os
import sqlite3
import time

from .hashing import HashCache

STATE = "state.json"
EXIT_FILE = ".xpm-exit"

# lifecycle (launchers.md)
NEW, WAITING, QUEUED, RUNNING, DONE, FAILED, CANCELLED, LOST = (
    "new", "waiting", "queued", "running", "done", "failed", "cancelled", "lost")
ACTIVE = (QUEUED, RUNNING)


def atomic_write(path: str, data: str | bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
    os.replace(tmp, path)


def resolve_workspace(option: str | None, settings: dict | None = None) -> str:
    """``-w``, else ``$XPM_WORKSPACE``, else the setting ``workspace``, else ./xpm-workspace."""
    path = option or os.environ.get("XPM_WORKSPACE") or (settings or {}).get("workspace") \
        or "xpm-workspace"
    return os.path.abspath(os.path.expanduser(path))


class JobLock:
    """An exclusive, non-blocking ``flock`` on a job folder, held while the job runs here."""

    __slots__ = ("fd",)

    def __init__(self, fd):
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Workspace:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.jobs_root = os.path.join(self.root, "jobs")
        self.meta = os.path.join(self.root, ".xpm")
        self._db = None
        self._rows: dict | None = None       # id -> (size, mtime_ns, state dict)
        self._dirty_rows: dict = {}
        self.hashes: HashCache | None = None

    # ------------------------------------------------------------------ layout
    def job_dir(self, task: str, job_id: str) -> str:
        return f"{self.jobs_root}/{task}/{job_id}"

    def create(self):
        os.makedirs(self.jobs_root, exist_ok=True)
        os.makedirs(self.meta, exist_ok=True)

    def exists(self) -> bool:
        return os.path.isdir(self.jobs_root)

    # ------------------------------------------------------------------ index
    def _connect(self):
        if self._db is None:
            os.makedirs(self.meta, exist_ok=True)
            path = os.path.join(self.meta, "index.sqlite")
            for attempt in range(2):
                try:
                    db = sqlite3.connect(path, timeout=30, isolation_level=None)
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                    db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, "
                               "size INT, mtime_ns INT, ino INT, hash TEXT)")
                    db.execute("CREATE TABLE IF NOT EXISTS job_states (id TEXT PRIMARY KEY, "
                               "size INT, mtime_ns INT, state BLOB)")
                    self._db = db
                    break
                except sqlite3.DatabaseError:
                    # a corrupt index is only a cache: drop it and start again
                    for suffix in ("", "-wal", "-shm"):
                        try:
                            os.unlink(path + suffix)
                        except FileNotFoundError:
                            pass
                    if attempt:
                        raise
        return self._db

    def load_index(self):
        """Load the file-hash cache and the cached job states (one query each)."""
        if self.hashes is not None:
            return
        db = self._connect()
        try:
            files = {p: (s, m, i, h) for p, s, m, i, h in db.execute("SELECT * FROM files")}
            rows = {i: (s, m, st) for i, s, m, st in db.execute("SELECT * FROM job_states")}
        except sqlite3.DatabaseError:
            files, rows = {}, {}
        self.hashes = HashCache(files)
        self._rows = rows

    def save_index(self):
        """Persist new file hashes and job states in one transaction."""
        if self.hashes is None or (not self.hashes.dirty and not self._dirty_rows):
            return
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            if self.hashes.dirty:
                db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)",
                               [(p,) + e for p, e in self.hashes.dirty.items()])
            if self._dirty_rows:
                db.executemany("INSERT OR REPLACE INTO job_states VALUES (?,?,?,?)",
                               [(i,) + r for i, r in self._dirty_rows.items()])
            db.execute("COMMIT")
            self.hashes.dirty.clear()
            self._dirty_rows.clear()
        except sqlite3.DatabaseError:
            try:
                db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def close(self):
        self.save_index()
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------------ states
    def read_state(self, job_dir: str, job_id: str | None = None) -> dict | None:
        """The job's recorded state, or None if it never ran. Uses the index when valid."""
        path = job_dir + "/" + STATE
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if job_id is not None and self._rows is not None:
            row = self._rows.get(job_id)
            if row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns:
                state = row[2]
                if type(state) is bytes:
                    try:
                        state = marshal.loads(state)
                    except (ValueError, EOFError, TypeError):
                        state = None
                    if type(state) is dict:
                        self._rows[job_id] = (row[0], row[1], state)
                        return state
                elif type(state) is dict:
                    return state
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            state = json.loads(text)
        except (OSError, ValueError):
            return {"status": LOST, "reason": "state.json is unreadable"}
        if job_id is not None and self._rows is not None and type(state) is dict:
            self._rows[job_id] = (st.st_size, st.st_mtime_ns, state)
            self._dirty_rows[job_id] = (st.st_size, st.st_mtime_ns, marshal.dumps(state))
        return state

    def write_state(self, job_dir: str, state: dict, job_id: str | None = None):
        # compact: the C encoder (indent would use the slow pure-Python one)
        text = json.dumps(state, sort_keys=True)
        path = job_dir + "/" + STATE
        atomic_write(path, text)
        if job_id is not None and self._rows is not None:
            st = os.stat(path)
            self._rows[job_id] = (st.st_size, st.st_mtime_ns, state)
            self._dirty_rows[job_id] = (st.st_size, st.st_mtime_ns, marshal.dumps(state))

    # ------------------------------------------------------------------ locks
    def try_lock(self, job_dir: str) -> JobLock | None:
        """Lock a job folder for running it here; None if another xpmbuild holds it.

        The lock is a ``flock`` on the folder itself (no lock file to create); the
        kernel drops it when the process dies, even by ``kill -9``.
        """
        fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return JobLock(fd)

    def is_locked(self, job_dir: str) -> bool:
        lock = self.try_lock(job_dir)
        if lock is None:
            return True
        lock.release()
        return False

    # ------------------------------------------------------------------ experiments
    def write_experiment(self, name: str, jobs) -> str:
        """``experiments/NAME/jobs.jsonl`` and one link per job; rewritten only on change."""
        exp = os.path.join(self.root, "experiments", name)
        links = os.path.join(exp, "jobs")
        os.makedirs(links, exist_ok=True)
        lines = []
        for job in jobs:
            d = self.job_dir(job.task.name, job.id)
            lines.append(json.dumps({"id": job.id, "task": job.task.name, "dir": d,
                                     "tags": job.tags}, sort_keys=True))
        text = "\n".join(lines) + ("\n" if lines else "")
        path = os.path.join(exp, "jobs.jsonl")
        try:
            with open(path, encoding="utf-8") as f:
                unchanged = f.read() == text
        except FileNotFoundError:
            unchanged = False
        if not unchanged:
            atomic_write(path, text)
            wanted = {f"{j.task.name}-{j.id[:12]}": (j.task.name, j.id) for j in jobs}
            present = set(os.listdir(links))
            for name_ in present - set(wanted):
                try:
                    os.unlink(os.path.join(links, name_))
                except OSError:
                    pass
            for name_ in set(wanted) - present:
                task, job_id = wanted[name_]
                try:
                    os.symlink(os.path.join("..", "..", "..", "jobs", task, job_id),
                               os.path.join(links, name_))
                except FileExistsError:     # another run of the same experiment made it
                    pass
        return exp

    def experiment_jobs(self, name: str) -> list[dict]:
        path = os.path.join(self.root, "experiments", name, "jobs.jsonl")
        try:
            with open(path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def experiments(self) -> list[str]:
        try:
            return sorted(os.listdir(os.path.join(self.root, "experiments")))
        except FileNotFoundError:
            return []

    def all_job_dirs(self):
        """(task, id, dir) of every job folder in the workspace."""
        try:
            tasks = sorted(os.listdir(self.jobs_root))
        except FileNotFoundError:
            return
        for task in tasks:
            tdir = os.path.join(self.jobs_root, task)
            if not os.path.isdir(tdir):
                continue
            for job_id in sorted(os.listdir(tdir)):
                d = os.path.join(tdir, job_id)
                if os.path.isdir(d):
                    yield task, job_id, d


def now() -> float:
    return round(time.time(), 3)
