"""Recovery: what a job recorded as queued or running is, as things stand now.

A record says ``queued`` or ``running`` while a job is being run, and keeps saying so if
the xpmbuild that ran it was killed. One judgement, :func:`assess`, tells what such a
record means now; the scheduler (before it runs a job again), the dry run (``plan``) and
``status`` all use it, with the same words.

The launch protocol it relies on (launchers.md, "the job holds its folder"):

1. xpmbuild locks the job folder (``flock``), writes ``state.json`` as ``queued`` (with its
   own pid as ``watcher``), and only then starts the job;
2. a local job's wrapper inherits that lock and holds it for its whole life, and records
   the job's exit code in ``.xpm-exit`` whatever the command does (``exec``, ``cd``);
3. the result is recorded under the lock: by the watching xpmbuild, or by the job itself
   (``xpmbuild.finish``) when its xpmbuild is gone.

So a locked folder is a job being run (never start it again), an exit file is an ended job
(record it), and an unlocked folder without one whose process is gone is lost (run again).
"""
from __future__ import annotations

import os

from .launchers.base import read_exit_file
from .workspace import Workspace

# verdicts
BUSY = "busy"          # locked: an xpmbuild, or the job itself, is on it: wait
ENDED = "ended"        # it left its exit code: record the result
ORPHAN = "orphan"      # an unlocked local process still runs it (an older xpmbuild's job)
REMOTE = "remote"      # queued or running on a cluster or another host
UNKNOWN = "unknown"    # its launcher cannot be asked now: never run it twice, ask later
GONE = "gone"          # nothing runs it and it left no result: lost


class Assessment:
    __slots__ = ("verdict", "status", "reason", "exit_code")

    def __init__(self, verdict, status, reason="", exit_code=None):
        self.verdict = verdict
        self.status = status          # the status to show: queued, running, or lost
        self.reason = reason          # in words, the same everywhere
        self.exit_code = exit_code

    def __repr__(self):
        return f"<{self.verdict} {self.status}: {self.reason}>"


def pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def assess(ws: Workspace, job_dir: str, state: dict, live=None) -> Assessment:
    """What a job recorded as queued/running is now.

    ``live(state)`` asks the job's launcher (cluster or remote host) about it and returns
    ``"queued"``, ``"running"``, the launcher's word for an ended job, ``None`` when the
    launcher no longer knows it, or raises when it cannot answer; without ``live`` such
    jobs are :data:`UNKNOWN`.
    """
    from .launchers.local import is_local_record, job_process_alive
    status = state.get("status")
    pid = state.get("launcher_id")
    local = is_local_record(state)
    if ws.is_locked(job_dir):
        watcher = state.get("watcher")
        if local and isinstance(pid, int) and not pid_alive(watcher):
            return Assessment(BUSY, status, f"running (pid {pid}), left running by an xpmbuild "
                                            "that stopped")
        return Assessment(BUSY, status, "running in another xpmbuild process"
                          + (f" (pid {watcher})" if isinstance(watcher, int) else ""))
    code = read_exit_file(job_dir)
    if code is not None:
        return Assessment(ENDED, status, "it ended while no xpmbuild watched it", code)
    if local:
        if job_process_alive(pid, job_dir):
            return Assessment(ORPHAN, status, f"running (pid {pid}), started by an earlier "
                                              "xpmbuild")
        if pid is None:
            return Assessment(GONE, "lost", "xpmbuild stopped before the job started")
        return Assessment(GONE, "lost", "xpmbuild stopped while it ran and it left no result")
    launcher = state.get("launcher")
    if state.get("launcher_type", launcher) == "local" and not state.get("connector") \
            and isinstance(pid, int):
        return Assessment(UNKNOWN, status, f"{status} on host {state.get('host')} (it can only "
                                           "be checked there)")
    if not pid:
        return Assessment(GONE, "lost", f"its submission to {launcher} was interrupted before "
                                        "a job id was recorded")
    if live is None:
        return Assessment(UNKNOWN, status, f"{status} on launcher {launcher} (job {pid}), "
                                           "which cannot be asked here")
    try:
        word = live(state)
    except Exception as e:          # the cluster cannot answer: it is not gone
        return Assessment(UNKNOWN, status, f"launcher {launcher} did not answer ({e})")
    if word in ("queued", "running"):
        return Assessment(REMOTE, word, f"{word} on {launcher} (job {pid})")
    if word is None:
        return Assessment(GONE, "lost", f"{launcher} no longer knows job {pid} and it left "
                                        "no result")
    if word.startswith("dependency failed"):     # the cluster cancelled it for that
        return Assessment(GONE, "failed", word)
    return Assessment(GONE, "failed", f"ended in {launcher} as {word} without a result")
