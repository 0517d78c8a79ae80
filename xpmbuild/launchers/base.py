"""The launcher interface: start, wait for many, cancel, recover after a restart.

Launchers know nothing of the language. They receive a job folder holding
``command.sh`` and the task's resource requirements, and report how jobs ended. Every
launcher runs the same wrapper, which records the exit code in the job folder itself
(``.xpm-exit``), so a result is known even when xpmbuild was not running at the time.
"""
from __future__ import annotations

import os
import shlex
import sys

from ..workspace import EXIT_FILE

LOCK_FD = 9     # the job folder's lock, inherited by a local job's wrapper
ATTEMPT_FILE = ".xpm-attempt"   # XPM_ATTEMPT=N, XPM_TIME_LIMIT=S: written by retries.py
# the job sees XPM_ATTEMPT (1, 2, ...) and, with a time limit, XPM_DEADLINE (epoch seconds:
# Slurm's own end time when it says it, else the wrapper's start plus the limit)
ATTEMPT_ENV = (f"XPM_ATTEMPT=1; XPM_TIME_LIMIT=; if [ -r {ATTEMPT_FILE} ]; then "
               f". ./{ATTEMPT_FILE}; fi; export XPM_ATTEMPT; "
               'if [ -n "$XPM_TIME_LIMIT" ]; then export XPM_DEADLINE='
               '"${SLURM_JOB_END_TIME:-$(( ${EPOCHSECONDS:-$(date +%s)} + XPM_TIME_LIMIT ))}"; '
               "else unset XPM_DEADLINE; fi; unset XPM_TIME_LIMIT")


class LaunchRequest:
    """One job to start: its folder (holding ``command.sh``), what it requires, the
    environment to add, the launcher ids it must wait for (detached runs), and the
    descriptor of the folder's lock, which a local job's wrapper keeps for its life.
    ``in_place``: the command may run in the wrapper's own shell (inplace.runs_in_place)."""

    __slots__ = ("key", "job_dir", "requires", "env", "after", "lock_fd", "task", "in_place")

    def __init__(self, key: str, job_dir: str, requires: dict | None = None,
                 env: dict | None = None, after: list | None = None,
                 lock_fd: int | None = None, task: str = "", in_place: bool = False):
        self.key = key
        self.job_dir = job_dir
        self.requires = {} if requires is None else requires
        self.env = {} if env is None else env
        self.after = after
        self.lock_fd = lock_fd
        self.task = task
        self.in_place = in_place

    def __repr__(self):
        return f"LaunchRequest({self.key!r}, {self.job_dir!r})"


class LauncherError(Exception):
    """The launcher could not start or reach a job (not the job's own failure)."""


class ClusterUnreachable(LauncherError):
    """The cluster (or the host) cannot answer now: its controller is down, the connection
    is lost. Never a job's failure nor a sign that a job is gone: keep waiting, ask later."""


class Handle:
    """A started job as its launcher knows it."""

    __slots__ = ("key", "job_dir", "launcher_id", "extra")

    def __init__(self, key, job_dir, launcher_id, extra=None):
        self.key = key                  # the scheduler's key (the job id)
        self.job_dir = job_dir
        self.launcher_id = launcher_id  # pid, Slurm job id, ...
        self.extra = extra or {}


class Ended:
    """How a job ended: exit code (None when unknown), and a reason in words."""

    __slots__ = ("handle", "exit_code", "reason", "status", "resources", "cause")

    def __init__(self, handle, exit_code, reason=None, status=None, resources=None,
                 cause=None):
        self.handle = handle
        self.exit_code = exit_code
        self.reason = reason
        self.status = status            # None: decided by the exit code; or "cancelled"/"lost"
        self.resources = resources      # {"wall", "cpu", "max_rss"} when measured
        self.cause = cause              # TIMEOUT, NODE_FAIL, OUT_OF_MEMORY (retries.py)


# ``python -m xpmbuild.finish DIR RC [FD]``, or ``exit RC`` where xpmbuild is not installed
FINISH_PROGRAM = shlex.quote(
    "import sys, importlib.util as u; sys.exit(int(sys.argv[2]) if u.find_spec('xpmbuild')"
    " is None else __import__('xpmbuild.finish').finish.main(sys.argv[1:]))")


def job_wrapper(job_dir: str, watcher_pid: int | None = None, lock_fd: int | None = None,
                logs: bool = True, python: str | None = None, on_term: bool = False,
                in_place: bool = False) -> str:
    """The one wrapper every launcher runs a job with (bash text, ``;``-separated).

    It enters the job folder (``job_dir``: a path, or a shell word such as ``"$d"``), runs
    ``command.sh`` in a subshell (a fork) with ``-eu -o pipefail`` — so an ``exec`` or a
    ``cd`` in the command cannot skip or misplace the exit record — and on exit (an EXIT
    trap) writes the exit code to ``.xpm-exit`` by an absolute path and, when the watching
    xpmbuild (``watcher_pid``; None: never one) is gone, ``exec``-s ``xpmbuild.finish``
    (``python``: the interpreter on the job's host), which records the full result and the
    command's rusage (RUSAGE_CHILDREN survives ``exec``) and exits with the job's code.

    ``lock_fd``: the folder's lock, inherited on that descriptor (local jobs): kept by the
    wrapper for its life, closed for the command, passed to finish. ``logs``: the wrapper
    redirects the command's output to stdout.log/stderr.log (the local launcher opens them
    itself). ``on_term``: a SIGTERM/SIGHUP to the job is recorded as exit 143/129 (a batch
    system's own SIGTERM is left to it: its state says TIMEOUT or CANCELLED).
    ``in_place``: the command runs in the wrapper's own shell, in a group whose redirection
    closes the lock's descriptor (bash's saved copy is close-on-exec, and put back before
    the EXIT trap runs), not in a subshell: only for a command that inplace.runs_in_place
    says cannot skip or change the record (no fork: ~0.5 ms of CPU less a job).
    """
    d = job_dir if job_dir.startswith('"$') else shlex.quote(job_dir)
    py = python or shlex.quote(sys.executable)
    lock = f" {int(lock_fd)}" if lock_fd is not None else ""
    # execfail: when the interpreter cannot be run, the trap goes on to ``exit $rc``; an
    # interpreter that runs but has no xpmbuild (a node's other python) exits with $rc too:
    # the job's own status never becomes the recorder's failure
    finish = f"shopt -s execfail; exec {py} -c {FINISH_PROGRAM} {d} $rc{lock} 2>/dev/null"
    if watcher_pid:
        finish = f"kill -0 {int(watcher_pid)} 2>/dev/null || {{ {finish}; }}"
    # set +e: the command's -e must not cut the trap short (in_place: the same shell)
    record = f"rc=$?; set +e; echo $rc >{d}/{EXIT_FILE}; {finish}; exit $rc"
    parts = [f"cd {d} || exit 97", f"trap {shlex.quote(record)} EXIT", ATTEMPT_ENV]
    if on_term:
        parts.append("trap 'exit 143' TERM; trap 'exit 129' HUP")
    out = " >stdout.log 2>stderr.log" if logs else ""
    if in_place:
        close = f" {int(lock_fd)}>&-" if lock_fd is not None else ""
        parts.append("{ set -eu -o pipefail; . ./command.sh; }" + close + out)
    else:
        close = f"exec {int(lock_fd)}>&-; " if lock_fd is not None else ""
        parts.append(f"({close}set -eu -o pipefail; . ./command.sh)" + out)
    return "; ".join(parts)


def read_exit_file(job_dir: str):
    try:
        with open(os.path.join(job_dir, EXIT_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Launcher:
    """What the scheduler, ``status`` and ``jobs kill`` may ask of a launcher. Every
    capability is stated here with its default; a launcher overrides what it can do.

    ========================  ===================================================
    starting                  ``check`` (can it ever run such a job?), ``can_start``
                              (now?), ``slots``, ``start_many``/``start``,
                              ``start_status`` (recorded before a job starts)
    waiting                   ``wait``, ``pop_transitions`` (queued → running),
                              ``running``
    stopping                  ``cancel``, ``kill_after``, ``cancel_record``
    after a restart           ``recover``, ``forget``, ``live_states``
                              (``can_tell_live``)
    detached runs             ``can_detach``: submits a whole graph chained by the
                              cluster (``LaunchRequest.after``), then xpmbuild exits
    records                   ``record_fields`` (e.g. the host), ``bind``, ``close``
    ========================  ===================================================
    """

    name = "launcher"
    type = "base"
    #: the status recorded before a job is handed to the launcher
    start_status = "queued"
    #: submits dependents chained after their dependencies (``run --detach``)
    can_detach = False
    #: ``live_states`` can say whether jobs no xpmbuild watches still run
    can_tell_live = False
    #: the job's own process holds its folder's lock for its whole life (local): the
    #: record of its launcher id may come after it started (launching.py)
    job_holds_lock = False
    #: the scheduler's settings of this launcher (retries, retry_on_exit, max_jobs), set
    #: by make_launcher
    scheduling: dict = {}

    def slots(self) -> int | None:
        """How many cpu slots jobs may use at once here (None: no local limit)."""
        return None

    def check(self, requires: dict):
        """Raise LauncherError if a job with these requirements can never run here
        (asked for every job before anything starts)."""

    def can_start(self, requires: dict, batch=()) -> bool:
        """Whether a job with these requirements can start now, besides the jobs of
        ``batch`` (their requirements) about to start; cpu slots are the scheduler's."""
        return True

    def bind(self, workspace_root: str):
        """Called once with the workspace before jobs start."""

    def start(self, request: LaunchRequest) -> Handle:
        raise NotImplementedError

    def start_many(self, requests: list[LaunchRequest]) -> list:
        """Start several jobs. Returns a Handle per request, or the LauncherError that
        request's start raised."""
        out = []
        for r in requests:
            try:
                out.append(self.start(r))
            except LauncherError as e:
                out.append(e)
        return out

    def wait(self, timeout: float | None) -> list[Ended]:
        """Jobs that ended since the last call; blocks up to ``timeout`` seconds."""
        raise NotImplementedError

    def pop_transitions(self) -> list:
        """Handles whose status changed since the last call (e.g. queued → running)."""
        return []

    def pop_notices(self) -> list[str]:
        """What to say on screen since the last call (e.g. the cluster does not answer)."""
        return []

    def running(self) -> int:
        raise NotImplementedError

    def cancel(self, handles=None):
        """Cancel these jobs (all of this launcher's when None)."""
        raise NotImplementedError

    def kill_after(self, grace: float = 5.0) -> list[Ended]:
        """After ``cancel``: the jobs that ended within ``grace`` seconds."""
        import time
        deadline = time.monotonic() + grace
        ended: list[Ended] = []
        while self.running() and time.monotonic() < deadline:
            ended.extend(self.wait(0.2))
        return ended

    def cancel_record(self, state: dict):
        """Stop the job of a record no xpmbuild watches (``jobs kill``)."""
        pid = state.get("launcher_id")
        if isinstance(pid, int) and pid > 0:
            import signal
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    def recover(self, key, job_dir: str, state: dict):
        """Re-attach to a job an earlier xpmbuild started.

        Returns a Handle (still running: now waited on like a started job), an Ended
        (it finished meanwhile), or None (nothing is known of it: lost).
        """
        code = read_exit_file(job_dir)
        if code is not None:
            return Ended(Handle(key, job_dir, state.get("launcher_id")), code)
        return None

    def forget(self, handle: Handle):
        """Stop tracking a recovered job (a detached run leaves it to the cluster)."""

    def live_states(self, states: list[dict]) -> dict:
        """For jobs no xpmbuild watches: launcher id → "queued", "running", the
        launcher's word for an ended job, or None when it no longer knows the job; one
        query for all. Raises LauncherError when the launcher cannot answer now."""
        raise LauncherError(f"the {self.type} launcher cannot tell whether a job runs")

    def record_fields(self) -> dict:
        """What a job's record says of where it runs (e.g. the host), before it starts."""
        return {}

    def check_reachable(self) -> str:
        """What ``xpmbuild launchers`` says of it; raises LauncherError if unreachable."""
        return f"{self.slots()} cpu slots on this machine"

    def close(self):
        pass
