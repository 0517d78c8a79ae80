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

from . import jobfolder
from .elsewhere import Elsewhere
from .launchers.base import Ended, Handle, LaunchRequest, LauncherError
from .reasons import DEPENDENCY_KINDS, reason
from .rebuild import PENDING, Rebuilder, record_end, short
from .recovery import BUSY, ENDED, ORPHAN, UNKNOWN, assess
from .workspace import ACTIVE, CANCELLED, DONE, FAILED, LOST, NEW, RUNNING, WAITING, Workspace, now


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the build (exit status 130)."""


class Node:
    __slots__ = ("job", "dir", "status", "reasons", "will_run", "ran", "state", "decision",
                 "remaining", "dependents", "handle", "lock", "started", "error", "skipped")

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


class Reporter:
    """Receives scheduling events; the CLI renders them (rich or plain lines)."""

    def started(self, node): pass
    def finished(self, node): pass
    def skipped(self, node): pass
    def up_to_date(self, node): pass
    def waiting_elsewhere(self, node): pass
    def tick(self, scheduler): pass


class Scheduler:
    def __init__(self, workspace: Workspace, rebuilder: Rebuilder, launcher, nodes: list[Node],
                 root: str, keep_going=False, max_slots=None, env=None, reporter=None,
                 poll_interval=0.2, detach=False, launchers=None, on_interrupt=None):
        """``launchers(name)``: makes the launcher of that name, for jobs an earlier run
        started on another one; ``on_interrupt(n_running)``: True to cancel the running
        jobs on Ctrl-C, False to leave them running."""
        self.ws = workspace
        self.rebuilder = rebuilder
        self.launcher = launcher
        self.nodes = nodes
        self.by_id = {n.job.id: n for n in nodes}
        self.root = root
        self.keep_going = keep_going
        slots = launcher.slots()
        self.slots = min(x for x in (slots, max_slots) if x) if (slots or max_slots) else None
        self.used = 0
        self.env = env or {}
        self.reporter = reporter or Reporter()
        self.poll_interval = poll_interval
        self.detach = detach
        self.on_interrupt = on_interrupt
        self.elsewhere = Elsewhere(workspace, launcher.name, launchers)
        self.ready: deque[Node] = deque()
        self.to_launch: deque[Node] = deque()
        self.running: dict[str, Node] = {}
        self.stopping = False
        self.counts = {"done": 0, "ran": 0, "failed": 0, "skipped": 0, "up_to_date": 0}

    # ------------------------------------------------------------------ main loop
    def run(self):
        for n in self.nodes:
            n.remaining = 0
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
            self._interrupt()
            raise Interrupted() from None
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
            for n in self.running.values():
                if n.lock:
                    n.lock.release()
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
            for ended in self.launcher.wait(timeout):
                node = self.running.pop(ended.handle.key, None)
                if node is not None:
                    self._finalize(node, ended)
            for handle in self.launcher.pop_transitions():
                node = self.running.get(handle.key)
                status = handle.extra.get("status")
                if node is not None and status and node.state and node.state.get("status") != status:
                    node.status = status
                    node.state = dict(node.state, status=status)
                    self._write(node, node.state)
            if self.elsewhere:
                self.ready.extend(self.elsewhere.done_waiting())
            self.reporter.tick(self)
        # what is left was never started because of a failure (without -k)
        for n in list(self.to_launch):
            self._skip(n, reason("stopped"))
        self.to_launch.clear()

    # ------------------------------------------------------------------ decisions
    def _dep_states(self, node):
        out = {}
        for d in node.job.deps:
            dn = self.by_id.get(d.id)
            if dn is None:
                out[d.id] = self.ws.read_state(self.ws.job_dir(d.task.name, d.id), d.id)
            elif self.detach and dn.status in ACTIVE:
                out[d.id] = PENDING     # detached: submitted, its outputs known later
            else:
                out[d.id] = dn.state
        return out

    def _consider(self, node: Node):
        if self.stopping and not self.keep_going:
            self._skip(node, reason("stopped"))
            return
        state = self.ws.read_state(node.dir, node.job.id)
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
        pending = [d for d in node.job.deps if dep_states.get(d.id) is PENDING]
        if pending:     # detached: it runs after its submitted dependencies
            decision.stale = True
            node.reasons = [r for r in decision.reasons if r.kind not in DEPENDENCY_KINDS] + [
                reason("waits_on_submitted", job=f"{d.task.name}/{short(d.id)}")
                for d in pending]
        if not decision.stale:
            node.status = DONE
            self.counts["up_to_date"] += 1
            self.reporter.up_to_date(node)
            self._done(node)
            return
        try:
            self.launcher.check(node.job.task.requires)
        except LauncherError as e:      # it can never run here: refused before it starts
            self._fail(node, None, reason("failure", words=str(e)), record=False)
            return
        node.will_run = True
        self.to_launch.append(node)

    def _recover(self, node: Node, state: dict):
        """A job recorded as queued/running (recovery.py judges it). Returns the state to
        decide on, or None when the job is being waited on or was recorded done."""
        a = assess(self.ws, node.dir, state)
        ours = state.get("launcher") == self.launcher.name
        why = a.reason
        if a.verdict == BUSY:
            return self._wait_elsewhere(node, why)
        if a.verdict == ENDED:        # it ended while no xpmbuild watched: record it
            return self._record_recovered(
                node, state, Ended(Handle(node.job.id, node.dir, state.get("launcher_id")),
                                   a.exit_code))
        if a.verdict in (ORPHAN, UNKNOWN) and ours:
            recovered = self.launcher.recover(node.job.id, node.dir, state)
            if isinstance(recovered, Handle):
                return self._reattach(node, state, recovered)
            if isinstance(recovered, Ended):
                return self._record_recovered(node, state, recovered)
            why = f"{self.launcher.name} no longer knows it and it left no result"
        elif a.verdict in (ORPHAN, UNKNOWN):
            if a.verdict == ORPHAN or self.elsewhere.still_alive(state):
                return self._wait_elsewhere(node, why)
            why = f"launcher {state.get('launcher')} no longer knows it and it left no result"
        state = dict(state, status=LOST, reason=why)
        if not self._write(node, state):     # e.g. a full disk: never run it unrecorded
            self._fail(node, None, node.error, record=False)
            return None
        return state

    def _record_recovered(self, node: Node, state: dict, ended: Ended):
        node.state = state
        node.lock = self.ws.try_lock(node.dir)
        recorded = self._finalize(node, ended, trace_from_state=True)
        # failed: built again now, once its failure is on record
        return None if node.status == DONE or not recorded else node.state

    def _reattach(self, node: Node, state: dict, recovered: Handle):
        if self.detach:     # detached: still queued or running there, left to the cluster
            node.status, node.state, node.handle = state.get("status"), state, None
            node.reasons = [reason("already", status=state.get("status"),
                                   launcher=self.launcher.name, id=state.get("launcher_id"))]
            self.launcher.forget(recovered)
            self._submitted(node)
            return None
        lock = self.ws.try_lock(node.dir)
        if lock is None:
            return self._wait_elsewhere(node)
        node.lock, node.handle = lock, recovered
        node.status = recovered.extra.get("status") or RUNNING
        node.reasons = [reason("reattached", launcher=self.launcher.name,
                               id=recovered.launcher_id)]
        node.state = state
        node.will_run = node.ran = True
        node.started = state.get("started")
        node.decision = None
        self.running[node.job.id] = node
        self.used += self._need(node)
        self.reporter.started(node)
        return None

    def _wait_elsewhere(self, node, why="running in another xpmbuild process"):
        node.status = RUNNING
        node.reasons = [reason("elsewhere", words=why)]
        self.elsewhere.add(node)
        self.reporter.waiting_elsewhere(node)
        return None

    # ------------------------------------------------------------------ launching
    def _need(self, node):
        cpus = int(node.job.task.requires.get("cpus") or 1)
        return min(cpus, self.slots) if self.slots else cpus

    def _launch(self):
        """Start what can start now. For each job, in this order: its folder is locked,
        prepared, and recorded as queued (with this xpmbuild as ``watcher``); only then is
        it handed to the launcher, and its record completed with the launcher's id. A kill
        at any instant leaves a record that recovery.py reads right."""
        batch = []
        while self.to_launch and not (self.stopping and not self.keep_going):
            node = self.to_launch[0]
            need = self._need(node)
            if self.slots is not None and self.used + need > self.slots and self.used:
                break
            if not self.launcher.can_start(node.job.task.requires,
                                           [n.job.task.requires for n in batch]) and \
                    (self.running or batch):
                break           # e.g. its GPUs are busy: wait for a job to end
            self.to_launch.popleft()
            if self._prepare(node):
                self.used += need
                batch.append(node)
        if not batch:
            return
        requests = [LaunchRequest(n.job.id, n.dir, n.job.task.requires, self.env,
                                  self._after(n), n.lock.fd, n.job.task.name) for n in batch]
        for node, handle in zip(batch, self.launcher.start_many(requests)):
            if isinstance(handle, Exception):
                self.used -= self._need(node)
                self._fail(node, None, reason("failure", words=f"launcher error: {handle}"))
                continue
            node.handle = handle
            node.status = handle.extra.get("status", RUNNING)
            node.ran = True
            node.started = now()
            state = dict(node.state, status=node.status, started=node.started,
                         launcher_id=handle.launcher_id)
            state.update({k: v for k, v in handle.extra.items()
                          if k not in ("own", "status", "submitted")})
            if self._write(node, state):
                node.state = state
            self.reporter.started(node)
            if self.detach:     # detached: the cluster runs it after its dependencies
                self.used -= self._need(node)
                node.lock.release()
                node.lock = None
                self._submitted(node)
            else:
                self.running[node.job.id] = node

    def _prepare(self, node: Node) -> bool:
        """Lock, prepare and record the job before it starts (False: not started now)."""
        try:
            new, lock = jobfolder.lock_folder(self.ws, node.dir)
        except OSError as e:
            self._fail(node, None, reason("failure", words=jobfolder.folder_error(node.dir, e)),
                       record=False)
            return False
        if lock is None:
            self._wait_elsewhere(node)
            return False
        # another process may have built it between our decision and the lock
        fresh = self.ws.read_state(node.dir, node.job.id)
        if fresh is not node.state and fresh != node.state:
            lock.release()
            self.ready.append(node)
            return False
        node.lock = lock
        try:
            jobfolder.prepare(node.job, node.dir, node.decision.action, new)
        except OSError as e:
            self._fail(node, None, reason("failure", words=f"cannot prepare the job folder: {e}"))
            return False
        state = jobfolder.start_record(node.job, self.launcher, node.decision, node.reasons)
        if not self._write(node, state):
            self._fail(node, None, node.error, record=False)
            return False
        node.state = state
        return True

    def _after(self, node):
        """Detached: the launcher ids of the submitted dependencies it must wait for."""
        if not self.detach:
            return None
        ids = []
        for d in node.job.deps:
            dn = self.by_id.get(d.id)
            if dn is not None and dn.status in ACTIVE and dn.state:
                ids.append(str(dn.state.get("launcher_id")))
        return ids or None

    def _submitted(self, node):
        """Detached: dependents of a submitted job are submitted after it (afterok)."""
        self.counts["submitted"] = self.counts.get("submitted", 0) + 1
        self._release_dependents(node)

    def _write(self, node: Node, state: dict) -> bool:
        """Write the job's record; on failure (a full disk, a removed folder) say why in
        ``node.error`` and return False: the run goes on, the old record stays whole."""
        try:
            self.ws.write_state(node.dir, state, node.job.id)
            return True
        except OSError as e:
            node.error = reason("failure", words=f"cannot write its record "
                                                 f"{node.dir}/state.json: {e.strerror or e}")
            return False

    # ------------------------------------------------------------------ endings
    def _finalize(self, node: Node, ended: Ended, trace_from_state=False) -> bool:
        """Record how a job ended (False: the record could not be written)."""
        if node.job.id not in self.elsewhere:
            self.used -= self._need(node) if node.handle is not None else 0
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
                               lambda d: (self.by_id[d].state if d in self.by_id else None))
        except OSError as e:        # an output that cannot be read
            state = dict(node.state or {}, status=FAILED, ended=now(),
                         exit_code=ended.exit_code, reason=f"cannot check its outputs: {e}")
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
        self.launcher.cancel(handles)
        ended = {e.handle.key: e for e in self.launcher.kill_after(5.0)}
        for key, node in list(self.running.items()):
            e = ended.get(key)
            self._record(node, dict(node.state or {}, status=CANCELLED, ended=now(),
                                    reason="interrupted (Ctrl-C)",
                                    exit_code=e.exit_code if e else None))
            node.status = CANCELLED
        self.running.clear()
