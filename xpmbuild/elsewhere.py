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

from .launchers.base import Ended, Handle, read_exit_file
from .reasons import reason
from .recovery import BUSY, ENDED, GONE, ORPHAN, UNKNOWN, assess
from .workspace import ACTIVE, DONE, LOST, RUNNING, Workspace

ASK_EVERY = 3.0


class Elsewhere:
    def __init__(self, ws: Workspace, launcher_names, launchers=None):
        self.ws = ws
        # the run's own launchers (a name, or a container of names)
        self.launcher_names = {launcher_names} if isinstance(launcher_names, str) \
            else launcher_names
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
            if state.get("status") in ACTIVE and state.get("launcher") not in self.launcher_names \
                    and read_exit_file(node.dir) is None:
                if t - self._asked.get(key, 0) < ASK_EVERY:
                    continue
                self._asked[key] = t
                if self.still_alive(state):
                    continue
            del self.nodes[key]
            out.append(node)
        return out


class Recovering:
    """The scheduler's reactions to a job recorded as queued or running (a part of
    :class:`~.scheduler.Scheduler`; recovery.py judges, this acts): wait for it, re-attach
    to it, record what it left, or record it lost and build it again."""

    def _recover(self, node, state: dict):
        """A job recorded as queued/running (recovery.py judges it). Returns the state to
        decide on, or None when the job is being waited on or was recorded done."""
        a = assess(self.ws, node.dir, state)
        lane = self.to_launch.lanes.get(state.get("launcher"))    # a launcher of this run
        ours = lane is not None
        why = a.reason
        if a.verdict == BUSY:
            return self._wait_elsewhere(node, why)
        if a.verdict == ENDED:        # it ended while no xpmbuild watched: record it
            return self._record_recovered(
                node, state, Ended(Handle(node.job.id, node.dir, state.get("launcher_id")),
                                   a.exit_code))
        # a batch submission killed before its job id was recorded: the launcher looks
        # it up (by its job name) before anything is submitted again
        unrecorded = a.verdict == GONE and ours and not state.get("launcher_id") and \
            getattr(lane.launcher, "can_tell_live", False)
        if (a.verdict in (ORPHAN, UNKNOWN) or unrecorded) and ours:
            recovered = lane.launcher.recover(node.job.id, node.dir, state)
            if isinstance(recovered, Handle):
                return self._reattach(node, state, recovered, lane)
            if isinstance(recovered, Ended):
                return self._record_recovered(node, state, recovered)
            why = f"{lane.name} no longer knows it and it left no result"
        elif a.verdict in (ORPHAN, UNKNOWN):
            if a.verdict == ORPHAN or self.elsewhere.still_alive(state):
                return self._wait_elsewhere(node, why)
            why = f"launcher {state.get('launcher')} no longer knows it and it left no result"
        state = dict(state, status=LOST, reason=why)
        if not self._write(node, state):     # e.g. a full disk: never run it unrecorded
            self._fail(node, None, node.error, record=False)
            return None
        return state

    def _record_recovered(self, node, state: dict, ended: Ended):
        node.state = state
        node.lock = self.ws.try_lock(node.dir)
        recorded = self._finalize(node, ended, trace_from_state=True)
        # failed: built again now, once its failure is on record
        return None if node.status == DONE or not recorded else node.state

    def _reattach(self, node, state: dict, recovered: Handle, lane):
        if not state.get("launcher_id"):        # found by the launcher: on record now
            state = dict(state, launcher_id=recovered.launcher_id)
            self._write(node, state)
        if self.detach:     # detached: still queued or running there, left to the cluster
            node.status, node.state, node.handle = state.get("status"), state, None
            node.reasons = [reason("already", status=state.get("status"),
                                   launcher=lane.name, id=state.get("launcher_id"))]
            lane.launcher.forget(recovered)
            self._submitted(node)
            return None
        lock = self.ws.try_lock(node.dir)
        if lock is None:
            return self._wait_elsewhere(node)
        node.lock, node.handle = lock, recovered
        node.status = recovered.extra.get("status") or RUNNING
        node.reasons = [reason("reattached", launcher=lane.name,
                               id=recovered.launcher_id)]
        node.state = state
        node.will_run = node.ran = True
        node.started = state.get("started")
        node.decision = None
        self.running[node.job.id] = node
        node.lane = lane
        lane.used += self._need(node)
        lane.active += 1
        self._started(node)
        return None

    def _wait_elsewhere(self, node, why="running in another xpmbuild process"):
        node.status = RUNNING
        node.reasons = [reason("elsewhere", words=why)]
        self.elsewhere.add(node)
        self.reporter.waiting_elsewhere(node)
        self._first_start()
        return None

