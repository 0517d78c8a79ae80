"""The workspace: job folders (the truth), atomic state records, the index, locks.

Layout (spec §7)::

    WORKSPACE/
      jobs/TASK/ID/        params.json command.sh stdout.log stderr.log state.json <outputs>
      experiments/NAME/    jobs.jsonl, jobs/TASK-SHORTID -> ../../../jobs/TASK/ID
      .xpm/index.sqlite    cache: file hashes and job states (dropped → rebuilt)

A job folder's ``state.json`` is written atomically (temp file + ``os.replace``). The
index caches each state with the (size, mtime_ns, inode, ctime_ns) of the state.json it came
from, so a no-op run costs one ``stat`` per job instead of one read and JSON parse; the
ctime (changed by any write or rename, and not settable by ``utime``) makes sure a
state.json put back with its old size and mtime is read again. Every record read from a
file is checked by :func:`state_problem`: a damaged one (not a record, fields of the wrong
type) counts as a lost build, with a warning naming the file, and is rebuilt. The index
caches only records checked so (or written by this program), each with a digest of its
bytes (index.py): a row read back intact is not checked again, a damaged one is not used.

The index is only a cache. It is opened read-only when the workspace is not writable (a
colleague's, a mounted archive) and never removed then; on a writable workspace a corrupt
index is dropped and a foreign schema replaced; an index that cannot be used at all (a
folder in its place, locked for too long) is worked without.
"""
from __future__ import annotations

import fcntl
import json
import marshal
import os
import sys
import time

from .atomicfile import atomic_write  # noqa: F401  (re-exported: workspace.atomic_write)
from .hashing import HashCache
from .workspace_root import resolve_workspace  # noqa: F401  (re-exported)
from .index import Index

STATE = "state.json"
EXIT_FILE = ".xpm-exit"
CANCEL_FILE = ".xpm-cancel"     # left by ``jobs kill``: the job's end is a cancellation

# lifecycle (launchers.md)
NEW, WAITING, QUEUED, RUNNING, DONE, FAILED, CANCELLED, LOST = (
    "new", "waiting", "queued", "running", "done", "failed", "cancelled", "lost")
ACTIVE = (QUEUED, RUNNING)
RECORDED = frozenset((QUEUED, RUNNING, DONE, FAILED, CANCELLED, LOST))   # in a state.json


# ---------------------------------------------------------------------- record validation
_NONE = type(None)
_OPT_STR = frozenset((str, _NONE))
_OPT_INT = frozenset((int, _NONE))
_OPT_NUM = frozenset((int, float, _NONE))
_FIELDS = {"reason": _OPT_STR, "host": _OPT_STR, "launcher": _OPT_STR,
           "launcher_type": _OPT_STR, "task": _OPT_STR, "id": _OPT_STR,
           "fingerprint": _OPT_STR, "exit_code": _OPT_INT, "started": _OPT_NUM,
           "ended": _OPT_NUM, "launcher_id": frozenset((int, str, _NONE)),
           "trace": frozenset((dict, _NONE)), "outputs": frozenset((dict, _NONE)),
           "dep_tasks": frozenset((dict, _NONE)), "reasons": frozenset((list, _NONE)),
           "history": frozenset((list, _NONE))}


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def state_problem(obj) -> str | None:
    """What is wrong with ``obj`` as a job record (a parsed state.json), in words; None
    when it is a well-formed record. The one place that says what a record must be:
    ``status`` one of the recorded states, the known fields of their types, ``outputs``
    ``{name: [size, mtime_ns, inode, hash]}``, ``trace`` ``{action, inputs, deps}``.
    Unknown fields are allowed (newer versions may add some)."""
    if type(obj) is not dict:
        return f"it is {_kind(obj)}, not a record"
    status = obj.get("status")
    if type(status) is not str:
        return "its status is missing" if status is None else f"its status is {_kind(status)}"
    if status not in RECORDED:
        return f"unknown status {status[:40]!r}"
    fields = _FIELDS
    for key, value in obj.items():
        types = fields.get(key)
        if types is not None and type(value) not in types:      # exact: a bool is no int
            return f"its {key} is {_kind(value)}"
    outputs = obj.get("outputs")
    if outputs:
        for name, rec in outputs.items():
            if not (type(rec) is list and len(rec) == 4 and type(rec[3]) is str
                    and all(type(x) is int or x is None for x in rec[:3])):
                return f"its outputs.{str(name)[:40]} is not [size, mtime_ns, inode, hash]"
    trace = obj.get("trace")
    if trace is not None:
        if type(trace.get("action")) is not str:
            return "its trace.action is not a string"
        inputs, deps = trace.get("inputs", {}), trace.get("deps", {})
        if type(inputs) is not dict or not all(type(h) in _OPT_STR for h in inputs.values()):
            return "its trace.inputs is not {path: hash}"
        if type(deps) is not dict or not all(
                d is None or (type(d) is dict and all(type(h) is str for h in d.values()))
                for d in deps.values()):
            return "its trace.deps is not {id: {output: hash}}"
    dep_tasks = obj.get("dep_tasks")
    if dep_tasks and not all(type(t) is str for t in dep_tasks.values()):
        return "its dep_tasks is not {id: task}"
    history = obj.get("history")
    if history and not all(type(h) is list and len(h) == 2 and type(h[0]) is str
                           and type(h[1]) in (int, float) for h in history):
        return "its history is not [[status, time], ...]"
    return None


def valid_state(obj) -> dict | None:
    """``obj`` if it is a well-formed job record (:func:`state_problem`), else None."""
    return obj if state_problem(obj) is None else None


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
        self.index = Index(self.meta, self.writable, self.warn)
        self._rows: dict | None = None       # id -> (size, mtime_ns, ino, ctime_ns, state)
        self._dirty_rows: dict = {}
        self.hashes: HashCache | None = None
        self._warned: set = set()

    # ------------------------------------------------------------------ layout
    def job_dir(self, task: str, job_id: str) -> str:
        return f"{self.jobs_root}/{task}/{job_id}"

    def create(self):
        os.makedirs(self.jobs_root, exist_ok=True)
        os.makedirs(self.meta, exist_ok=True)

    def exists(self) -> bool:
        return os.path.isdir(self.jobs_root)

    def writable(self) -> bool:
        """Whether this process can write the workspace (False on a read-only mount, or a
        colleague's workspace without write permission)."""
        for d in (self.meta, self.jobs_root, self.root):
            if os.path.isdir(d):
                return os.access(d, os.W_OK)
        return True

    def warn(self, message: str):
        """A warning on stderr, once per message."""
        if message not in self._warned:
            self._warned.add(message)
            sys.stderr.write(f"warning: {message}\n")
            sys.stderr.flush()

    def load_index(self, lazy: bool = False):
        """Load the file-hash cache and the cached job states (index.py; one query each;
        ``lazy``: one query per entry, when it is first needed)."""
        if self.hashes is not None:
            return
        files, rows = self.index.load_lazy() if lazy else self.index.load()
        self.hashes = HashCache(files)
        self._rows = rows

    def save_index(self):
        """Persist new file hashes and job states in one transaction."""
        if self.hashes is None or (not self.hashes.dirty and not self._dirty_rows):
            return
        if self.index.save(self.hashes.dirty, self._dirty_rows):
            self.hashes.dirty.clear()
            self._dirty_rows.clear()

    def close(self):
        linking = getattr(self, "_linking", None)
        if linking is not None:
            linking.join()
            self._linking = None
        self.save_index()
        self.index.close()

    # ------------------------------------------------------------------ states
    def read_state(self, job_dir: str, job_id: str | None = None, known=None) -> dict | None:
        """The job's recorded state, or None if it never ran. Uses the index when valid.

        A record that cannot be read or is not a well-formed record (:func:`state_problem`)
        is a lost build, rebuilt by the next run, with a warning naming the file.
        ``known``: the state.json's (size, mtime_ns, ino, ctime_ns) as just checked by the
        caller (incremental.py), which saves the stat."""
        path = job_dir + "/" + STATE
        if known is not None:
            key = known
        else:
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as err:
                return self._damaged(path, err.strerror or str(err))
            key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        if job_id is not None and self._rows is not None:
            row = self._rows.get(job_id)
            if row is not None and tuple(row[:4]) == key:
                state = row[4]
                if type(state) is dict:         # read or written by this process
                    return state
                # from the index, its digest verified (index.py): a record this program
                # checked when it cached it (a valid state.json read back) or wrote itself
                try:
                    state = marshal.loads(state)
                except (ValueError, EOFError, TypeError):
                    state = None
                if type(state) is dict:
                    self._rows[job_id] = key + (state,)
                    return state
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            state = json.loads(text)
        except (OSError, ValueError, RecursionError) as err:
            return self._damaged(path, "it cannot be read (" + (
                getattr(err, "strerror", None) or type(err).__name__) + ")")
        problem = state_problem(state)
        if problem is not None:
            return self._damaged(path, problem)
        if job_id is not None and self._rows is not None:
            self._rows[job_id] = key + (state,)
            self._dirty_rows[job_id] = key + (marshal.dumps(state),)
        return state

    def _damaged(self, path: str, problem: str) -> dict:
        self.warn(f"{path} is not a valid job record: {problem}; the job counts as lost "
                  "and the next run rebuilds it")
        return {"status": LOST, "reason": f"state.json is damaged: {problem}"}

    def write_state(self, job_dir: str, state: dict, job_id: str | None = None,
                    cache: bool = True):
        """Write the job's record atomically. A change of status is appended to the
        record's ``history`` (``[[status, time], ...]``, carried forward from the state
        the caller built on), so every writer keeps it without knowing of it. With
        ``job_id`` and ``cache``, the index keeps it (the launch protocol's intermediate
        records, queued and running, pass ``cache=False``: the next read of a newer file
        reads it, the index row is for the record a run ends with)."""
        note_history(state)
        # compact: the C encoder (indent would use the slow pure-Python one)
        text = json.dumps(state, sort_keys=True)
        path = job_dir + "/" + STATE
        try:
            atomic_write(path, text)
        except IsADirectoryError:
            if not os.path.isdir(path) or os.path.islink(path):
                raise
            import shutil
            shutil.rmtree(path)         # damage: a folder where the record goes
            atomic_write(path, text)
        if cache and job_id is not None and self._rows is not None:
            st = os.stat(path)
            key = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            self._rows[job_id] = key + (state,)
            self._dirty_rows[job_id] = key + (marshal.dumps(state),)

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
    def write_experiment(self, name: str, jobs, background: bool = False) -> str:
        """``experiments/NAME/jobs.jsonl`` and one link per job; rewritten only on change
        (``background``: many new links are made by a thread, finished by close())."""
        exp = os.path.join(self.root, "experiments", name)
        links = os.path.join(exp, "jobs")
        os.makedirs(links, exist_ok=True)
        lines = []
        for job in jobs:
            d = self.job_dir(job.task.name, job.id)
            lines.append(json.dumps({"id": job.id, "task": job.task.name, "dir": d,
                                     "tags": job.tags, "deps": [x.id for x in job.deps]},
                                    sort_keys=True))
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
            missing = [(n, wanted[n]) for n in set(wanted) - present]
            if len(missing) > 64 and background:
                # the links are for people (ls, a file browser): made beside the run, on
                # the core its jobs leave (a symlink is a syscall: no GIL), joined by close()
                import threading
                self._linking = threading.Thread(target=_make_links, args=(links, missing),
                                                 name="xpm-links", daemon=True)
                self._linking.start()
            else:
                _make_links(links, missing)
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


def _make_links(links: str, missing):
    """One link per job in ``experiments/NAME/jobs/``: (name, (task, id)) each."""
    for name, (task, job_id) in missing:
        try:
            os.symlink(os.path.join("..", "..", "..", "jobs", task, job_id),
                       os.path.join(links, name))
        except FileExistsError:     # another run of the same experiment made it
            pass
        except OSError:             # a full disk, a removed workspace: links are a comfort
            return


def now() -> float:
    return round(time.time(), 3)


def note_history(state: dict):
    """Append ``[status, now]`` to ``state["history"]`` when the status changed (a new
    list: the caller's older records that share the old one are left as they were)."""
    history = state.get("history")
    history = history if type(history) is list else []
    status = state.get("status")
    if not history or history[-1][0] != status:
        state["history"] = history + [[status, now()]]
