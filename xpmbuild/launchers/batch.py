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

from .base import Ended, Handle, Launcher, LauncherError, job_wrapper


class BatchLauncher(Launcher):
    can_tell_live = True
    def __init__(self, name, connector=None, poll=10.0, settings=None, workspace_root=None,
                 python=None):
        from ..connectors import make_connector
        self.name = name
        self.connector_name = connector
        self.connector = make_connector(connector, settings or {}, workspace_root)
        self.max_poll = float(poll)
        self.workspace_root = workspace_root
        self.tracked: dict[str, Handle] = {}     # launcher id -> handle
        self.interval = 0.5
        self.next_poll = 0.0
        self.commands = 0                        # cluster commands issued (benchmarks)
        self.polls = 0
        self.last_states: dict[str, str] = {}
        self.transitions: list[Handle] = []      # jobs whose status changed (queued → running)
        # the interpreter that runs xpmbuild.finish on the cluster's nodes: this one, unless
        # the jobs run on another host (set `python` in the launcher's settings)
        import sys
        self.python = shlex.quote(python or sys.executable)

    def _run(self, argv, input=None, timeout=120, retries=None):
        self.commands += 1
        return self.connector.run(argv, input=input, timeout=timeout, retries=retries)

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
                     mode: int = 0o755) -> str:
        """A script running the job folders' command.sh (one, or one per array index)."""
        remote_dirs = [self.connector.path(d) for d in dirs]
        lines = ["#!/bin/bash", "# xpmbuild: runs job folders' command.sh"]
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
        self.interval = 0.5
        self.next_poll = time.monotonic() + self.interval
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
        """A job the cluster no longer knows: its own exit file, or lost."""
        from .base import read_exit_file
        code = read_exit_file(h.job_dir)
        if code is not None:
            return Ended(h, code)
        return Ended(h, None, f"{self.type} no longer knows the job and it left no result",
                     status="lost")

    def wait(self, timeout):
        if not self.tracked:
            if timeout:
                time.sleep(timeout)
            return []
        delay = max(0.0, self.next_poll - time.monotonic())
        if timeout is not None and delay > timeout:
            time.sleep(timeout)
            return []
        time.sleep(delay)
        ended = self.poll()
        for e in ended:
            self.tracked.pop(e.handle.launcher_id, None)
        for lid, h in self.tracked.items():
            if h.extra.get("status") != self.last_states.get(lid) and lid in self.last_states:
                self.transitions.append(h)
        # adapt: poll again soon after a change, back off while nothing changes
        changed = bool(ended) or any(h.extra.get("status") != self.last_states.get(lid)
                                     for lid, h in self.tracked.items())
        self.last_states = {lid: h.extra.get("status") for lid, h in self.tracked.items()}
        self.interval = 0.5 if changed else min(self.interval * 1.5, self.max_poll)
        self.next_poll = time.monotonic() + self.interval
        return ended

    def kill_after(self, grace: float = 5.0):
        deadline = time.monotonic() + grace
        ended = []
        while self.tracked and time.monotonic() < deadline:
            self.next_poll = 0
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
        self.next_poll = 0
        return h
