"""The scheduler: the order in which jobs are considered, slots, failures, interruption.

It decides *when*; the rebuilder (rebuild.py) decides *whether*, and they talk through a
:class:`~.rebuild.Decision` (stale, reasons as data, what it waits on). A map of the run
(doit's runner is the model)::

    run()                  count each node's dependencies; the roots are ready
      _loop()
        _consider(node)    a ready node: recorded as queued/running? recovery.py judges it
                           (_recover: wait, re-attach, record what it left, or lost); else
                           the rebuilder decides: up to date -> _done, stale -> to_launch
        _launch()          while slots and resources allow: lock, prepare, record as
                           queued, then start (launch protocol, recovery.py)
        launcher.wait()    ended jobs -> _finalize (record, release) -> _done or _fail
        elsewhere          jobs someone else runs (elsewhere.py): back to ready when free
      _done(node)          dependents whose dependencies are all done become ready
      _fail(node)          dependents are skipped; without -k, nothing new starts
      _interrupt()         Ctrl-C/SIGTERM: cancel (or leave running) and record

A detached run (``detach``, a launcher that chains dependencies itself) differs in three
places, each marked "detached": a submitted dependency counts as PENDING for the rebuilder,
a submitted job releases its folder at once, and its dependents are submitted after it
with the launcher ids to wait for.
"""
from __future__ import annotations

import os
import signal
from collections import deque

from .reporter import Reporter  # noqa: F401  (the interface, re-exported)
from .elsewhere import Elsewhere, Recovering
from .incremental import kept_outputs, up_to_date_after
from .launchers.base import Ended, LauncherError
from .lanes import LaneWaits, Queues
from .launching import Launching
from .retries import Retrying
from .reasons import reason
from .rebuild import PENDING, Rebuilder, record_end, short
from .workspace import ACTIVE, CANCELLED, DONE, FAILED, NEW, WAITING, Workspace, now


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the build (exit status 130)."""


class Node:
    __slots__ = ("job", "dir", "status", "reasons", "will_run", "ran", "state", "decision",
                 "remaining", "dependents", "handle", "lock", "started", "error", "skipped",
                 "lane", "claimed")

    def __init__(self, job, job_dir):
        self.job = job
        self.dir = job_dir
        self.status = NEW
        self.reasons: list = []         # Reason (reasons.py)
        self.will_run = False
        self.ran = False
        self.state = None
        self.decision = None
        self.remaining = 0
        self.dependents: list[Node] = []
        self.handle = None
        self.lock = None
        self.started = None
        self.error = None
        self.skipped = False
        self.lane = None                # its launcher's share of the run (lanes.py)
        self.claimed = None             # its folder locked ahead: made fresh (launching.py)


class DepStates:
    """The recorded states of a node's dependencies, for the rebuilder; a kept one's
    (unchanged since the last complete run, incremental.py) is read only when needed."""

    def _dep_states(self, node):
        out = {}
        for d in node.job.deps:
            dn = self.by_id.get(d.id)
            if dn is None:
                out[d.id] = self.ws.read_state(self.ws.job_dir(d.task.name, d.id), d.id)
            elif self.detach and dn.status in ACTIVE:
                out[d.id] = PENDING     # detached: submitted, its outputs known later
            else:
                out[d.id] = self._state(dn, node.state)
        return out

    def _state(self, node, dependent_state=None):
        """``node``'s state; for a kept node with a dependent's state given, its outputs
        as the dependent recorded them (incremental.kept_outputs), when it has them."""
        if node.state is None and node.job.id in self.kept:
            if dependent_state is not None:
                got = kept_outputs(dependent_state, node.job.id)
                if got is not None:
                    return got
            node.state = self.ws.read_state(node.dir, node.job.id, self.kept[node.job.id])
        return node.state


class Scheduler(Recovering, Launching, Retrying, LaneWaits, DepStates):
    def __init__(self, workspace: Workspace, rebuilder: Rebuilder, launcher, nodes: list[Node],
                 root: str, keep_going=False, max_slots=None, env=None, reporter=None,
                 poll_interval=0.2, detach=False, launchers=None, on_interrupt=None,
                 route=None, on_first_start=None, kept={}, after=frozenset()):
        """``launchers(name)``: makes the launcher of that name, for jobs an earlier run
        started on another one; ``on_interrupt(n_running)``: True to cancel the running
        jobs on Ctrl-C, False to leave them running; ``route(job)``: the launcher of a
        job (None: ``launcher``, the run's default); ``on_first_start()``: called once,
        when the first job has started (the experiment's services start then); ``kept``:
        {id: state.json's stat} of jobs unchanged since the last run (incremental.py);
        ``after``: ids of jobs decided again only because jobs before them are."""
        self.ws = workspace
        self.rebuilder = rebuilder
        self.launcher = launcher
        self.nodes = nodes
        self.by_id = {n.job.id: n for n in nodes}
        self.root = root
        self.keep_going = keep_going
        self.max_slots = max_slots
        self.route = route
        self.to_launch = Queues()       # one queue per launcher (lanes.py)
        self.lane = self.to_launch.lane(launcher, max_slots)
        self.env = env or {}
        self.reporter = reporter or Reporter()
        self.poll_interval = poll_interval
        self.detach = detach
        self.on_interrupt = on_interrupt
        self.on_first_start = on_first_start
        self.kept, self.after = kept, after
        self.elsewhere = Elsewhere(workspace, self.to_launch.lanes, launchers)
        self.ready: deque[Node] = deque()
        self.unrecorded: deque = deque()   # (due, node): running records not yet written
        self.running: dict[str, Node] = {}
        self.stopping = False
        self.counts = {"done": 0, "ran": 0, "failed": 0, "skipped": 0, "up_to_date": 0}

    # ------------------------------------------------------------------ main loop
    def run(self):
        for n in self.nodes:
            n.remaining = 0
            other = self.route(n.job) if self.route is not None else None
            n.lane = self.lane if other is None else self.to_launch.lane(other, self.max_slots)
        for n in self.nodes:
            for d in n.job.deps:
                dn = self.by_id.get(d.id)
                if dn is not None:
                    n.remaining += 1
                    dn.dependents.append(n)
            n.status = WAITING if n.remaining else NEW
        self.ready.extend(n for n in self.nodes if n.remaining == 0)
        old_term = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            raise KeyboardInterrupt

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:      # not the main thread
            old_term = None
        try:
            self._loop()
        except KeyboardInterrupt:
            self._record_running(None, every=True)
            self._interrupt()
            raise Interrupted() from None
        except LauncherError:       # the launcher gave up (no answer, host refused us):
            self._record_running(None, every=True)
            for node in self.running.values():      # its jobs are left as they are
                node.reasons = [reason("left_running")]
            raise
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
            for n in self.running.values():
                if n.lock:
                    n.lock.release()
            for n in list(self.to_launch):
                self._unclaim(n)
            self.ws.save_index()

    def _loop(self):
        while True:
            while self.ready:
                self._consider(self.ready.popleft())
            self._launch()
            if not (self.running or self.elsewhere or self.to_launch):
                if not self.ready:
                    break
                continue
            if not self.running and not self.elsewhere and self.to_launch and self.stopping:
                break
            timeout = self.poll_interval if self.elsewhere or not self.running else None
            if self.unrecorded:
                timeout = self._record_running(timeout)
            if getattr(self.reporter, "unflushed", False):     # its lines are due soon
                timeout = 0.1 if timeout is None else min(timeout, 0.1)
            if self.to_launch and self.running:     # the slots are busy: ready the next
                self._claim_ahead()
            self._wait_round(timeout)
            if self.elsewhere:
                self.ready.extend(self.elsewhere.done_waiting())
            self.reporter.tick(self)
        # what is left was never started because of a failure (without -k)
        for n in list(self.to_launch):
            self._unclaim(n)
            self._skip(n, reason("stopped"))
        self.to_launch.clear()

    # ------------------------------------------------------------------ decisions
    def _consider(self, node: Node):
        if self.stopping and not self.keep_going:
            self._skip(node, reason("stopped"))
            return
        if node.job.id in self.kept:    # its record is read only if a dependent needs it
            node.reasons = []
            return self._up_to_date(node)
        state = self.ws.read_state(node.dir, node.job.id)
        if node.job.id in self.after and up_to_date_after(
                node.job, state, self.kept, lambda d: self.by_id[d.id].state):
            node.state, node.reasons = state, []
            return self._up_to_date(node)
        if state is not None and state.get("status") in ACTIVE:
            state = self._recover(node, state)
            if state is None:
                return
        node.state = state
        dep_states = self._dep_states(node)
        decision = self.rebuilder.decide(node.job, node.dir, state, dep_states, self.root)
        node.decision = decision
        node.reasons = decision.reasons
        if decision.conflict:
            self._fail(node, None, decision.conflict, record=False)
            return
        if not decision.stale:
            return self._up_to_date(node)
        try:
            node.lane.launcher.check(node.job.task.requires)
        except LauncherError as e:      # it can never run here: refused before it starts
            self._refuse(node, reason("failure", words=f"launcher error: {e}"))
            return
        node.will_run = True
        self.to_launch.append(node)

    # ------------------------------------------------------------------ endings
    def _finalize(self, node: Node, ended: Ended, trace_from_state=False) -> bool:
        """Record how a job ended (False: the record could not be written)."""
        if node.job.id not in self.elsewhere and node.handle is not None:
            node.lane.used -= self._need(node)
            node.lane.active -= 1
        node.handle = None
        if not os.path.isdir(node.dir):
            # the job removed its own folder (or put a file in its place): a failure; the
            # folder is made again to hold the record, when it can be
            ended = Ended(ended.handle, ended.exit_code, "its folder was removed or replaced "
                          "while it ran", status=FAILED)
            try:
                os.makedirs(node.dir, exist_ok=True)
            except OSError:
                pass
        try:
            state = record_end(self.ws, node.dir, node.job.id, node.job.task.outputs,
                               node.state, ended.exit_code, ended.reason, ended.status,
                               lambda d: (self._state(self.by_id[d]) if d in self.by_id else None))
        except OSError as e:        # an output that cannot be read
            state = dict(node.state or {}, status=FAILED, ended=now(),
                         exit_code=ended.exit_code, reason=f"cannot check its outputs: {e}")
        if ended.resources is not None:
            state["resources"] = ended.resources
        if state["status"] != DONE:
            # a job that ended while no xpmbuild watched (trace_from_state) is judged by
            # _consider afterwards: built again from its first attempt, not retried here
            if not trace_from_state and self._retry(node, state, ended.cause):
                return True
        else:
            self._attempts_done(state)
        recorded = self._record(node, state)
        if not recorded:
            state = dict(state, status=FAILED, reason=str(node.error))
        if state["status"] != DONE:
            self._fail(node, state, reason("failure", words=state.get("reason") or
                                           state["status"]), record=False)
            return recorded
        node.status = DONE
        self.counts["ran"] += 1
        self.reporter.finished(node)
        self._done(node)
        return True

    def _record(self, node, state) -> bool:
        """Write the final record and release the folder (False: it could not be written)."""
        ok = self._write(node, state)
        node.state = state
        if node.lock:
            node.lock.release()
            node.lock = None
        return ok

    def _release_dependents(self, node: Node):
        for dep in node.dependents:
            dep.remaining -= 1
            if dep.remaining == 0 and dep.status == WAITING:
                self.ready.append(dep)

    def _up_to_date(self, node: Node):
        node.status = DONE
        self.counts["up_to_date"] += 1
        self.reporter.up_to_date(node)
        self._done(node)

    def _done(self, node: Node):
        self.counts["done"] += 1
        self._release_dependents(node)

    def _fail(self, node: Node, state, why, record=True):
        node.status = FAILED
        node.error = why
        node.reasons = [why]
        if record:
            self._record(node, dict(node.state or {}, status=FAILED, reason=str(why),
                                    ended=now()))
        if node.lock:
            node.lock.release()
            node.lock = None
        self.counts["failed"] += 1
        self.reporter.finished(node)
        if not self.keep_going:
            self.stopping = True
        stack = list(node.dependents)
        while stack:
            n = stack.pop()
            if n.status == WAITING:
                self._skip(n, reason("dependency_failed",
                                     job=f"{node.job.task.name}/{short(node.job.id)}"))
                stack.extend(n.dependents)

    def _skip(self, node: Node, why):
        node.skipped = True
        node.status = FAILED if why.kind == "dependency_failed" else WAITING
        node.reasons = [why]
        node.will_run = False
        self.counts["skipped"] += 1
        self.reporter.skipped(node)

    # ------------------------------------------------------------------ interruption
    def _interrupt(self):
        handles = [n.handle for n in self.running.values() if n.handle is not None]
        if handles and self.on_interrupt is not None and not self.on_interrupt(len(handles)):
            # leave them running: their records say running/queued with the launcher's id,
            # and the next run waits for them, re-attaches or records what they left
            for node in self.running.values():
                node.reasons = [reason("left_running")]
                if node.lock:
                    node.lock.release()
                    node.lock = None
            return
        ended = self._cancel_running()
        for key, node in list(self.running.items()):
            e = ended.get(key)
            self._record(node, dict(node.state or {}, status=CANCELLED, ended=now(),
                                    reason="interrupted (Ctrl-C)",
                                    exit_code=e.exit_code if e else None))
            node.status = CANCELLED
        self.running.clear()
