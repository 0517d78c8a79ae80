"""The scheduler: the order in which jobs are considered, resources, failures, interruption.

Jobs are considered in dependency order; when all of a job's dependencies are done the
rebuilder (rebuild.py) says whether it must run. Stale jobs start while the launcher
has slots. A job is run only under its folder's lock, so two xpmbuild processes never
run the same job: a job locked elsewhere is waited on, then considered again.
"""
from __future__ import annotations

import os
import signal
import time
from collections import deque

from . import jobfolder
from .launchers.base import Ended, Handle, LaunchRequest, LauncherError, read_exit_file
from .rebuild import PENDING, Rebuilder, record_end, short
from .recovery import BUSY, ENDED, GONE, ORPHAN, UNKNOWN, Assessment, assess
from .workspace import (ACTIVE, CANCELLED, DONE, EXIT_FILE, FAILED, LOST, NEW, RUNNING, WAITING,
                        Workspace, now)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the build (exit status 130)."""


class Node:
    __slots__ = ("job", "dir", "status", "reasons", "will_run", "ran", "state", "decision",
                 "remaining", "dependents", "handle", "lock", "started", "error", "skipped")

    def __init__(self, job, job_dir):
        self.job = job
        self.dir = job_dir
        self.status = NEW
        self.reasons: list[str] = []
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
                 poll_interval=0.2, detach=False, settings=None, on_interrupt=None):
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
        # on_interrupt(n_running) -> True to cancel the running jobs, False to leave them
        self.on_interrupt = on_interrupt
        self.settings = settings
        self._others: dict = {}
        self._other_checked: dict = {}
        self.ready: deque[Node] = deque()
        self.to_launch: deque[Node] = deque()
        self.running: dict[str, Node] = {}
        self.elsewhere: dict[str, Node] = {}
        self.stopping = False
        self.failed = 0
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
                self._check_elsewhere()
            self.reporter.tick(self)
        # what is left was never started because of a failure (without -k)
        for n in list(self.to_launch):
            self._skip(n, "not started: the build stopped after a failure")
        self.to_launch.clear()

    # ------------------------------------------------------------------ decisions
    def _dep_states(self, node):
        out = {}
        for d in node.job.deps:
            dn = self.by_id.get(d.id)
            if dn is None:
                out[d.id] = self.ws.read_state(self.ws.job_dir(d.task.name, d.id), d.id)
            elif self.detach and dn.status in ACTIVE:
                out[d.id] = PENDING
            else:
                out[d.id] = dn.state
        return out

    def _consider(self, node: Node):
        if self.stopping and not self.keep_going:
            self._skip(node, "not started: the build stopped after a failure")
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
        if pending:
            decision.stale = True
            node.reasons = [r for r in decision.reasons if not r.startswith("dependency")] + [
                f"waits on {d.task.name}/{short(d.id)} (submitted)" for d in pending]
        if decision.stale:
            node.will_run = True
            self.to_launch.append(node)
        else:
            node.status = DONE
            self.counts["up_to_date"] += 1
            self.reporter.up_to_date(node)
            self._done(node)

    def _recover(self, node: Node, state: dict):
        """A job recorded as queued/running (recovery.py judges it). Returns the state to
        decide on, or None when the job is being waited on or was recorded done."""
        a = assess(self.ws, node.dir, state)
        ours = state.get("launcher") == self.launcher.name
        if a.verdict == BUSY:
            self._wait_elsewhere(node, a.reason)
            return None
        if a.verdict == ENDED:        # it ended while no xpmbuild watched: record it
            node.state = state
            node.lock = self.ws.try_lock(node.dir)
            recorded = self._finalize(node, Ended(Handle(node.job.id, node.dir,
                                                         state.get("launcher_id")),
                                                  a.exit_code), trace_from_state=True)
            # failed: built again now, once its failure is on record
            return None if node.status == DONE or not recorded else node.state
        if a.verdict in (ORPHAN, UNKNOWN) and ours:
            recovered = self.launcher.recover(node.job.id, node.dir, state)
            if isinstance(recovered, Handle):
                return self._reattach(node, state, recovered)
            if isinstance(recovered, Ended):
                node.state = state
                node.lock = self.ws.try_lock(node.dir)
                recorded = self._finalize(node, recovered, trace_from_state=True)
                return None if node.status == DONE or not recorded else node.state
            a = Assessment(GONE, LOST, f"{self.launcher.name} no longer knows it and it left "
                                       "no result")
        elif a.verdict in (ORPHAN, UNKNOWN):
            if a.verdict == ORPHAN or self._still_alive_elsewhere(state):
                self._wait_elsewhere(node, a.reason)
                return None
            a = Assessment(GONE, LOST, f"launcher {state.get('launcher')} no longer knows it "
                                       "and it left no result")
        state = dict(state, status=LOST, reason=a.reason)
        if not self._write(node, state):     # e.g. a full disk: never run it unrecorded
            self._fail(node, None, node.error, record=False)
            return None
        return state

    def _reattach(self, node: Node, state: dict, recovered: Handle):
        if self.detach:
            # submitted by an earlier detached run: still queued or running there
            node.status, node.state, node.handle = state.get("status"), state, None
            node.reasons = [f"already {state.get('status')} ({self.launcher.name} job "
                            f"{state.get('launcher_id')})"]
            self.launcher.forget(recovered)
            self._submitted(node)
            return None
        lock = self.ws.try_lock(node.dir)
        if lock is None:
            self._wait_elsewhere(node)
            return None
        node.lock, node.handle = lock, recovered
        node.status = recovered.extra.get("status") or RUNNING
        node.reasons = [f"re-attached to {self.launcher.name} job "
                        f"{recovered.launcher_id} started by an earlier run"]
        node.state = state
        node.will_run = True
        node.ran = True
        node.started = state.get("started")
        node.decision = None
        self.running[node.job.id] = node
        self.used += self._need(node)
        self.reporter.started(node)
        return None

    def _wait_elsewhere(self, node, why="running in another xpmbuild process"):
        node.status = RUNNING
        node.reasons = [why]
        self.elsewhere[node.job.id] = node
        self.reporter.waiting_elsewhere(node)

    def _other_launcher(self, name):
        """A launcher other than ours that started a job of an earlier run (from settings)."""
        if name not in self._others:
            from .launchers import make_launcher
            try:
                other = make_launcher(name, self.settings or {})
                other.bind(self.ws.root)
            except Exception:
                other = None
            self._others[name] = other
        return self._others[name]

    def _still_alive_elsewhere(self, state) -> bool:
        other = self._other_launcher(state.get("launcher"))
        if other is None or not hasattr(other, "live_states"):
            return False
        try:
            live = other.live_states([state]).get(str(state.get("launcher_id")))
        except Exception:
            return True     # cannot tell: do not run it twice, look again later
        return live in ("queued", "running")

    def _check_elsewhere(self):
        t = time.monotonic()
        for key, node in list(self.elsewhere.items()):
            if self.ws.is_locked(node.dir):
                continue
            state = self.ws.read_state(node.dir, node.job.id) or {}
            if state.get("status") in ACTIVE and state.get("launcher") != self.launcher.name \
                    and read_exit_file(node.dir) is None:
                # a job of another launcher: ask it at most every few seconds
                if t - self._other_checked.get(key, 0) < 3.0:
                    continue
                self._other_checked[key] = t
                if self._still_alive_elsewhere(state):
                    continue
            del self.elsewhere[key]
            self.ready.append(node)

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
            try:
                new, lock = self._lock_folder(node)
            except OSError as e:
                self._fail(node, None, self._folder_error(node, e), record=False)
                continue
            if lock is None:
                self._wait_elsewhere(node)
                continue
            # another process may have built it between our decision and the lock
            fresh = self.ws.read_state(node.dir, node.job.id)
            if fresh is not node.state and fresh != node.state:
                lock.release()
                self.ready.append(node)
                continue
            node.lock = lock
            try:
                self._prepare(node, new)
            except OSError as e:
                self._fail(node, None, f"cannot prepare the job folder: {e}")
                continue
            state = {"status": self.launcher.start_status, "task": node.job.task.name,
                     "id": node.job.id, "launcher": self.launcher.name,
                     "launcher_type": self.launcher.type, "launcher_id": None,
                     "watcher": os.getpid(), "reasons": node.reasons,
                     "definition": node.job.task.file,
                     "fingerprint": node.decision.fingerprint, "trace": node.decision.trace,
                     "dep_tasks": {d.id: d.task.name for d in node.job.deps}}
            state.update(self.launcher.record_fields())
            if not self._write(node, state):
                self._fail(node, None, node.error, record=False)
                continue
            node.state = state
            self.used += need
            batch.append(node)
        if not batch:
            return
        requests = [LaunchRequest(n.job.id, n.dir, n.job.task.requires, self.env,
                                  self._dependency(n), n.lock.fd, n.job.task.name)
                    for n in batch]
        results = self.launcher.start_many(requests)
        for node, handle in zip(batch, results):
            if isinstance(handle, Exception):
                self.used -= self._need(node)
                self._fail(node, None, f"launcher error: {handle}")
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
            if self.detach:
                # nobody waits here: the cluster runs it after its dependencies (afterok)
                self.used -= self._need(node)
                node.lock.release()
                node.lock = None
                self._submitted(node)
            else:
                self.running[node.job.id] = node

    def _lock_folder(self, node: Node):
        """Make (if need be) and lock the job's folder: (made fresh, lock or None)."""
        new = True                      # a fresh folder: nothing to compare or clear
        try:
            os.mkdir(node.dir)
        except FileExistsError:
            new = False
        except FileNotFoundError:
            os.makedirs(node.dir, exist_ok=True)
        return new, self.ws.try_lock(node.dir)

    def _folder_error(self, node: Node, e: OSError) -> str:
        if os.path.lexists(node.dir) and not os.path.isdir(node.dir):
            return (f"its folder {node.dir} is not a folder (a file is in its place): "
                    "remove it to rebuild the job")
        return f"cannot make or lock its folder {node.dir}: {e.strerror or e}"

    def _write(self, node: Node, state: dict) -> bool:
        """Write the job's record; on failure (a full disk, a removed folder) say why in
        ``node.error`` and return False: the run goes on, the old record stays whole."""
        try:
            self.ws.write_state(node.dir, state, node.job.id)
            return True
        except OSError as e:
            node.error = f"cannot write its record {node.dir}/state.json: {e.strerror or e}"
            return False

    def _dependency(self, node):
        if not self.detach:
            return None
        ids = []
        for d in node.job.deps:
            dn = self.by_id.get(d.id)
            if dn is not None and dn.status in ACTIVE and dn.state:
                ids.append(str(dn.state.get("launcher_id")))
        return ids or None

    def _submitted(self, node):
        """Detach mode: dependents of a submitted job are submitted after it (afterok)."""
        self.counts["submitted"] = self.counts.get("submitted", 0) + 1
        for dep in node.dependents:
            dep.remaining -= 1
            if dep.remaining == 0 and dep.status == WAITING:
                self.ready.append(dep)

    def _prepare(self, node: Node, new: bool):
        jobfolder.prepare(node.job, node.dir, node.decision.action, new)

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
            state = dict(state, status=FAILED, reason=node.error)
        if state["status"] != DONE:
            self._fail(node, state, state.get("reason") or state["status"], record=False)
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

    def _done(self, node: Node):
        self.counts["done"] += 1
        for dep in node.dependents:
            dep.remaining -= 1
            if dep.remaining == 0 and dep.status == WAITING:
                self.ready.append(dep)

    def _fail(self, node: Node, state, reason, record=True):
        node.status = FAILED
        node.error = reason
        node.reasons = [reason]
        if record:
            state = dict(node.state or {}, status=FAILED, reason=reason, ended=now())
            self._record(node, state)
        if node.lock:
            node.lock.release()
            node.lock = None
        self.failed += 1
        self.counts["failed"] += 1
        self.reporter.finished(node)
        if not self.keep_going:
            self.stopping = True
        self._skip_dependents(node)

    def _skip_dependents(self, node: Node):
        stack = list(node.dependents)
        while stack:
            n = stack.pop()
            if n.status != WAITING:
                continue
            self._skip(n, f"dependency {node.job.task.name}/{short(node.job.id)} failed")
            stack.extend(n.dependents)

    def _skip(self, node: Node, reason):
        node.skipped = True
        node.status = FAILED if "dependency" in reason else WAITING
        node.reasons = [reason]
        node.will_run = False
        self.counts["skipped"] += 1
        self.reporter.skipped(node)

    # ------------------------------------------------------------------ interruption
    def _interrupt(self):
        handles = [n.handle for n in self.running.values() if n.handle is not None]
        if handles and self.on_interrupt is not None and not self.on_interrupt(len(handles)):
            # leave them running: their records say running/queued with the launcher's id,
            # and the next run re-attaches (or records what they left)
            for node in self.running.values():
                node.reasons = ["left running after an interruption"]
                if node.lock:
                    node.lock.release()
                    node.lock = None
            return
        self.launcher.cancel(handles)
        ended = self.launcher.kill_after(5.0) if hasattr(self.launcher, "kill_after") else []
        by_key = {e.handle.key: e for e in ended}
        for key, node in list(self.running.items()):
            e = by_key.get(key)
            state = dict(node.state or {}, status=CANCELLED, ended=now(),
                         reason="interrupted (Ctrl-C)",
                         exit_code=e.exit_code if e else None)
            self._record(node, state)
            node.status = CANCELLED
        self.running.clear()
