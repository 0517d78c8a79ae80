"""Jobs that someone else is running: another xpmbuild, a job left running by a killed one,
or a job of an earlier run on another launcher. The scheduler hands them here and gets
them back, to consider again, once they are no longer running.

A job whose folder is locked runs here-or-there under that lock: it is looked at again
when the lock is free. A job of another launcher (its record names one this run does not
use) is asked of that launcher, made by the injected ``launchers(name)`` factory, at most
every ``ASK_EVERY`` seconds, and given back when the launcher no longer runs it.
"""
from __future__ import annotations

import time

from .launchers.base import read_exit_file
from .workspace import ACTIVE, Workspace

ASK_EVERY = 3.0


class Elsewhere:
    def __init__(self, ws: Workspace, launcher_name: str, launchers=None):
        self.ws = ws
        self.launcher_name = launcher_name       # the run's own launcher
        self.launchers = launchers or (lambda name: None)
        self.nodes: dict = {}                    # job id -> node
        self._made: dict = {}
        self._asked: dict[str, float] = {}

    def __bool__(self):
        return bool(self.nodes)

    def __contains__(self, key):
        return key in self.nodes

    def add(self, node):
        self.nodes[node.job.id] = node

    def launcher(self, name):
        """The launcher called ``name`` (None when it cannot be made here)."""
        if name not in self._made:
            try:
                other = self.launchers(name)
                if other is not None:
                    other.bind(self.ws.root)
            except Exception:
                other = None
            self._made[name] = other
        return self._made[name]

    def still_alive(self, state: dict) -> bool:
        """Whether the launcher of a record (not this run's) still runs its job."""
        other = self.launcher(state.get("launcher"))
        if other is None or not other.can_tell_live:
            return False
        try:
            live = other.live_states([state]).get(str(state.get("launcher_id")))
        except Exception:
            return True     # cannot tell: do not run it twice, look again later
        return live in ("queued", "running")

    def done_waiting(self) -> list:
        """The nodes no longer run by anyone, removed from here: to be considered again."""
        t = time.monotonic()
        out = []
        for key, node in list(self.nodes.items()):
            if self.ws.is_locked(node.dir):
                continue
            state = self.ws.read_state(node.dir, node.job.id) or {}
            if state.get("status") in ACTIVE and state.get("launcher") != self.launcher_name \
                    and read_exit_file(node.dir) is None:
                if t - self._asked.get(key, 0) < ASK_EVERY:
                    continue
                self._asked[key] = t
                if self.still_alive(state):
                    continue
            del self.nodes[key]
            out.append(node)
        return out
