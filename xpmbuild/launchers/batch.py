"""What batch launchers (Slurm, OAR) share: the job script, tracking submitted jobs,
adaptive polling, waiting for the end after a cancel, re-attaching after a restart.

A subclass says how to submit (``submit``), how to ask the cluster about many jobs in
one command (``poll``), and how to cancel (``cancel``).
"""
from __future__ import annotations

import os
import shlex
import time

import xxhash

from .polling import PolitePolling
from .base import (ClusterUnreachable, Ended, Handle, Launcher, LauncherError, job_wrapper,
                   read_exit_file)


class BatchLauncher(PolitePolling, Launcher):
    """Polling that cluster admins accept (launchers.md, v1): the job folders are the fast
    path (their exit files, one ``stat`` each per round), the cluster is asked at most once
    every ``poll`` seconds (one command for all jobs), plus once for each batch of jobs that
    ended (their final state and resources). An answer the cluster cannot give
    (:class:`ClusterUnreachable`) is waited out and said on screen, never taken for a result.
    """

    can_tell_live = True
    #: seconds a job's exit file waits before its batch is asked about (the cluster records
    #: the end a moment after the job wrote it; jobs ending together go as one batch)
    settle = 3.0

    def __init__(self, name, connector=None, poll=30.0, settings=None, workspace_root=None,
                 python=None, give_up_after=None):
        from ..connectors import make_connector
        self.name = name
        self.connector_name = connector
        self.connector = make_connector(connector, settings or {}, workspace_root)
        self.max_poll = float(poll)
        self.workspace_root = workspace_root
        self.tracked: dict[str, Handle] = {}     # launcher id -> handle
        self.next_poll = 0.0                     # monotonic time of the next cluster query
        self.commands = 0                        # cluster commands issued (benchmarks)
        self.polls = 0
        self.last_states: dict[str, str] = {}
        self.transitions: list[Handle] = []      # jobs whose status changed (queued → running)
        self.exits_seen: dict[str, float] = {}   # launcher id -> when its exit file appeared
        self.trouble: str | None = None          # why the cluster does not answer now
        self.trouble_since = 0.0
        # seconds without an answer before a run stops waiting (jobs left to the cluster)
        self.give_up_after = float(give_up_after if give_up_after is not None else
                                   getattr(self.connector, "give_up_after", 3600))
        self.notices: list[str] = []
        self.next_scan = 0.0
        # the interpreter that runs xpmbuild.finish on the cluster's nodes: this one, unless
        # the jobs run on another host (set `python` in the launcher's settings)
        import sys
        self.python = shlex.quote(python or sys.executable)

    def _run(self, argv, input=None, timeout=120, retries=None):
        from ..connectors.local import ConnectionLost, HostRefused
        self.commands += 1
        try:
            return self.connector.run(argv, input=input, timeout=timeout, retries=retries)
        except ConnectionLost as e:
            raise ClusterUnreachable(str(e)) from None
        except HostRefused as e:
            raise LauncherError(str(e)) from None

    def pop_transitions(self) -> list[Handle]:
        out, self.transitions = self.transitions, []
        return out

    def bind(self, workspace_root: str):
        self.workspace_root = workspace_root
        if getattr(self.connector, "local_workspace", "unset") is None:
            self.connector.local_workspace = workspace_root

    def running(self):
        return len(self.tracked)

    def script_dir(self) -> str:
        if not self.workspace_root:
            raise LauncherError(f"the {self.type} launcher needs a workspace (bind() first)")
        d = os.path.join(self.workspace_root, ".xpm", self.type)
        os.makedirs(d, exist_ok=True)
        return d

    def write_script(self, dirs: list[str], env: dict, index_var: str, index_base: int = 0,
                     mode: int = 0o755, task: str = "") -> str:
        """A script running the job folders' command.sh (one, or one per array index)."""
        remote_dirs = [self.connector.path(d) for d in dirs]
        lines = ["#!/bin/bash", "# xpmbuild: runs job folders' command.sh"]
        if task:
            lines.append(f"# task={task}")
        for k, v in (env or {}).items():
            lines.append(f"export {k}={shlex.quote(str(v))}")
        if len(dirs) == 1:
            lines.append(f"d={shlex.quote(remote_dirs[0])}")
        else:
            lines.append("dirs=(" + " ".join(shlex.quote(d) for d in remote_dirs) + ")")
            lines.append(f'd="${{dirs[$(( {index_var} - {index_base} ))]}}"')
        # the job records its own result (a no-op while an xpmbuild holds the folder's
        # lock and records it)
        lines.append(job_wrapper('"$d"', python=self.python))
        text = "\n".join(lines) + "\n"
        path = os.path.join(self.script_dir(),
                            f"submit-{xxhash.xxh3_64_hexdigest(text.encode())}.sh")
        self.connector.write_file(path, text, mode)
        return path

    def track(self, key, job_dir, launcher_id, status="queued") -> Handle:
        h = Handle(key, job_dir, launcher_id, {"submitted": time.time(), "status": status})
        self.tracked[launcher_id] = h
        self.last_states[launcher_id] = status
        if not self.next_poll:
            self.next_poll = time.monotonic() + self.max_poll
        return h

    def start(self, request) -> Handle:
        h = self.start_many([request])[0]
        if isinstance(h, Exception):
            raise h
        return h

    def poll(self) -> list[Ended]:
        raise NotImplementedError

    cancel_command = ""      # "scancel", "oardel": takes the job ids as arguments
    queued_states: set = set()    # the cluster's words for queued and running jobs
    running_states: set = set()

    def query(self, ids) -> dict:
        """{launcher id: the cluster's record of it}, one command for all."""
        raise NotImplementedError

    def state_name(self, record) -> str | None:
        """The cluster's state word in a record of ``query``."""
        raise NotImplementedError

    def live_states(self, states: list[dict]) -> dict:
        """For ``status``: launcher id → queued, running, the cluster's word for an
        ended job, or None when the cluster no longer knows it; one query for all."""
        ids = [str(s["launcher_id"]) for s in states if s.get("launcher_id")]
        found = self.query(ids) if ids else {}
        out = {}
        for lid in ids:
            rec = found.get(lid)
            st = self.state_name(rec) if rec is not None else None
            out[lid] = None if st is None else ("queued" if st in self.queued_states else
                                               "running" if st in self.running_states else st)
        return out

    def cancel(self, handles=None):
        ids = [h.launcher_id for h in handles] if handles is not None else list(self.tracked)
        if ids:
            self._run([self.cancel_command] + [str(i) for i in ids])

    def vanished(self, h: Handle) -> Ended:
        """A job the cluster positively no longer knows (it answered, without the job):
        its own exit file, or lost."""
        code = read_exit_file(h.job_dir)
        if code is not None:
            return Ended(h, code)
        return Ended(h, None, f"{self.type} no longer knows the job and it left no result",
                     status="lost")

    def ended_batch(self, handles: list[Handle]) -> list[Ended]:
        """Jobs whose exit file appeared: how they ended (a subclass asks the cluster, one
        command for all, for their final state and resources)."""
        return [Ended(h, read_exit_file(h.job_dir)) for h in handles]

    def _round(self) -> list[Ended]:
        t = time.monotonic()
        self._scan_exits(t)
        ended: list[Ended] = []
        due = self._due(t)
        if self.trouble is not None and t < self.next_poll:
            due = []            # no answer: ask again at the next poll only, not per round
        asked = bool(due) or t >= self.next_poll
        try:
            if due:
                ended += self.ended_batch([self.tracked[lid] for lid in due])
            if t >= self.next_poll:
                self.next_poll = t + self.max_poll
                done = {e.handle.launcher_id for e in ended}
                ended += [e for e in self.poll() if e.handle.launcher_id not in done]
            if asked:
                self._answered()
        except ClusterUnreachable as e:
            self._unreachable(e)
            self.next_poll = min(self.next_poll, t + self.max_poll)
            # a job that exited 0 is done whatever the cluster says; any other end waits
            # for the cluster's word (a time limit, a cancel: not a mere exit code)
            ended = [Ended(self.tracked[lid], 0) for lid in due
                     if read_exit_file(self.tracked[lid].job_dir) == 0]
        for e in ended:
            self.tracked.pop(e.handle.launcher_id, None)
            self.exits_seen.pop(e.handle.launcher_id, None)
            self.last_states.pop(e.handle.launcher_id, None)
        for lid in due:             # not ended yet (the cluster still ends it): ask later
            if lid in self.exits_seen:
                self.exits_seen[lid] = t
        for lid, h in self.tracked.items():
            st = h.extra.get("status")
            if lid in self.last_states and st != self.last_states[lid]:
                self.transitions.append(h)
            self.last_states[lid] = st
        return ended

    def wait(self, timeout):
        """Jobs that ended; returns at the first change or after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.tracked:
                if timeout:
                    time.sleep(timeout)
                return []
            ended = self._round()
            if ended or self.transitions or self.notices:
                return ended
            t = time.monotonic()
            if deadline is not None and t >= deadline:
                return []
            nap = min(0.25, max(0.01, self.next_poll - t))
            if deadline is not None:
                nap = min(nap, max(0.0, deadline - t))
            time.sleep(nap)

    def kill_after(self, grace: float = 5.0):
        deadline = time.monotonic() + grace
        ended = []
        while self.tracked and time.monotonic() < deadline:
            # after a cancel: ask every second, for a moment
            self.next_poll = min(self.next_poll, time.monotonic() + 1.0)
            ended.extend(self.wait(0.5))
        return ended

    def forget(self, handle):
        self.tracked.pop(str(handle.launcher_id), None)

    def cancel_record(self, state: dict):
        lid = state.get("launcher_id")
        if lid:
            self.cancel([Handle(None, None, str(lid))])

    def recover(self, key, job_dir, state):
        lid = state.get("launcher_id")
        if not lid:
            return None
        h = Handle(key, job_dir, str(lid), {"submitted": state.get("started") or 0,
                                            "status": state.get("status")})
        self.tracked[str(lid)] = h
        self.last_states[str(lid)] = state.get("status")     # its next change is recorded
        self.next_poll = 0
        return h
