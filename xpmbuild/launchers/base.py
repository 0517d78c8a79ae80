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


class LauncherError(Exception):
    """The launcher could not start or reach a job (not the job's own failure)."""


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

    __slots__ = ("handle", "exit_code", "reason", "status")

    def __init__(self, handle, exit_code, reason=None, status=None):
        self.handle = handle
        self.exit_code = exit_code
        self.reason = reason
        self.status = status            # None: decided by the exit code; or "cancelled"/"lost"


def finish_command(job_dir_expr: str = ".") -> str:
    """The command that records the result from inside the job (xpmbuild/finish.py)."""
    return f"{shlex.quote(sys.executable)} -m xpmbuild.finish {job_dir_expr} $rc"


def wrapper_script(job_dir: str, watcher_pid: int | None = None) -> str:
    """Shell text that runs command.sh with its logs and records its exit code.

    command.sh runs in a subshell (a fork, not a second bash exec) with the options a
    ``bash -eu -o pipefail command.sh`` would have. The exit code goes to .xpm-exit; when
    the xpmbuild that started the job (``watcher_pid``) is gone, the job also records its
    full result in state.json itself (``kill -0`` is a builtin: nothing more runs while
    xpmbuild watches).
    """
    d = shlex.quote(job_dir)
    record = f"echo $rc >{EXIT_FILE}; "
    if watcher_pid:
        record += f"kill -0 {int(watcher_pid)} 2>/dev/null || {finish_command()} 2>/dev/null; "
    else:
        record += f"{finish_command()} 2>/dev/null; "
    return (f"cd {d} || exit 97; "
            f"(set -eu -o pipefail; . ./command.sh) >stdout.log 2>stderr.log; rc=$?; "
            + record + "exit $rc")


def read_exit_file(job_dir: str):
    try:
        with open(os.path.join(job_dir, EXIT_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Launcher:
    name = "launcher"
    type = "base"

    def slots(self) -> int | None:
        """How many cpu slots jobs may use at once here (None: no local limit)."""
        return None

    def start(self, key, job_dir: str, requires: dict, env: dict) -> Handle:
        raise NotImplementedError

    def start_many(self, items) -> list:
        """Start several jobs: (key, job_dir, requires, env, dependency) each. Returns a
        Handle per item, or the LauncherError that item's start raised."""
        out = []
        for key, job_dir, requires, env, _dep in items:
            try:
                out.append(self.start(key, job_dir, requires, env))
            except LauncherError as e:
                out.append(e)
        return out

    def pop_transitions(self) -> list:
        """Handles whose status changed since the last call (e.g. queued → running)."""
        return []

    def can_start(self, requires: dict, batch=()) -> bool:
        """Whether a job with these requirements can start now, besides the nodes of
        ``batch`` about to start (beyond cpu slots, which the scheduler counts)."""
        return True

    def bind(self, workspace_root: str):
        """Called once with the workspace before jobs start."""

    def wait(self, timeout: float | None) -> list[Ended]:
        """Jobs that ended since the last call; blocks up to ``timeout`` seconds."""
        raise NotImplementedError

    def running(self) -> int:
        raise NotImplementedError

    def cancel(self, handles=None):
        """Cancel these jobs (all of this launcher's when None)."""
        raise NotImplementedError

    def recover(self, key, job_dir: str, state: dict):
        """Re-attach to a job an earlier xpmbuild started.

        Returns a Handle (still running: now waited on like a started job), an Ended
        (it finished meanwhile), or None (nothing is known of it: lost).
        """
        code = read_exit_file(job_dir)
        if code is not None:
            return Ended(Handle(key, job_dir, state.get("launcher_id")), code)
        return None

    def close(self):
        pass
