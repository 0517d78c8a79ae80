"""The scheduler: the order in which jobs are considered, resources, failures, interruption.

Jobs are considered in dependency order; when all of a job's dependencies are done the
rebuilder (rebuild.py) says whether it must run. Stale jobs start while the launcher
has slots. A job is run only under its folder's lock, so two xpmbuild processes never
run the same job: a job locked elsewhere is waited on, then considered again.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import deque

from . import actions
from .launchers.base import Ended, Handle, read_exit_file
from .rebuild import PENDING, Rebuilder, record_end, short
from .workspace import (ACTIVE, CANCELLED, DONE, EXIT_FILE, FAILED, LOST, NEW, RUNNING, WAITING,
                        Workspace, now)


def write_if_changed(path: str, text: str, new_dir=False):
    if not new_dir:
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    return
        except (FileNotFoundError, UnicodeDecodeError):
            pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


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
                    self.ws.write_state(node.dir, node.state, node.job.id)
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
            if self.ws.is_locked(node.dir):
                self._wait_elsewhere(node)
                return
            recovered = None
            code = read_exit_file(node.dir)
            if code is not None:          # it ended while no xpmbuild watched: record it
                recovered = Ended(Handle(node.job.id, node.dir, state.get("launcher_id")), code)
            elif state.get("launcher") == self.launcher.name:
                recovered = self.launcher.recover(node.job.id, node.dir, state)
            elif self._still_alive_elsewhere(state):
                self._wait_elsewhere(node, f"{state.get('status')} on launcher "
                                           f"{state.get('launcher')} (job {state.get('launcher_id')})")
                return
            if isinstance(recovered, Handle) and self.detach:
                # submitted by an earlier detached run: still queued or running there
                node.status, node.state, node.handle = state.get("status"), state, None
                node.reasons = [f"already {state.get('status')} ({self.launcher.name} job "
                                f"{state.get('launcher_id')})"]
                self.launcher.tracked.pop(str(recovered.launcher_id), None) \
                    if hasattr(self.launcher, "tracked") else None
                self._submitted(node)
                return
            if isinstance(recovered, Handle):
                lock = self.ws.try_lock(node.dir)
                if lock is None:
                    self._wait_elsewhere(node)
                    return
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
                return
            if isinstance(recovered, Ended):
                node.state = state
                node.lock = self.ws.try_lock(node.dir)
                self._finalize(node, recovered, trace_from_state=True)
                if node.status == DONE:
                    return
                state = node.state
            else:
                state = dict(state, status=LOST,
                             reason="it left no result and its launcher no longer knows it")
                self.ws.write_state(node.dir, state, node.job.id)
        node.state = state
        dep_states = self._dep_states(node)
        decision = self.rebuilder.decide(node.job, node.dir, state, dep_states, self.root)
        node.decision = decision
        node.reasons = decision.reasons
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
        batch = []
        while self.to_launch and not (self.stopping and not self.keep_going):
            node = self.to_launch[0]
            need = self._need(node)
            if self.slots is not None and self.used + need > self.slots and self.used:
                break
            if not self.launcher.can_start(node.job.task.requires, batch) and \
                    (self.running or batch):
                break           # e.g. its GPUs are busy: wait for a job to end
            self.to_launch.popleft()
            new = True                      # a fresh folder: nothing to compare or clear
            try:
                os.mkdir(node.dir)
            except FileExistsError:
                new = False
            except FileNotFoundError:
                os.makedirs(node.dir, exist_ok=True)
            lock = self.ws.try_lock(node.dir)
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
            self.used += need
            batch.append(node)
        if not batch:
            return
        items = [(n.job.id, n.dir, n.job.task.requires, self.env, self._dependency(n))
                 for n in batch]
        results = self.launcher.start_many(items)
        for node, handle in zip(batch, results):
            if isinstance(handle, Exception):
                self.used -= self._need(node)
                self._fail(node, None, f"launcher error: {handle}")
                continue
            node.handle = handle
            node.status = handle.extra.get("status", RUNNING)
            node.ran = True
            node.started = now()
            state = {"status": node.status, "task": node.job.task.name, "id": node.job.id,
                     "started": node.started, "launcher": self.launcher.name,
                     "launcher_type": self.launcher.type,
                     "launcher_id": handle.launcher_id, "reasons": node.reasons,
                     "fingerprint": node.decision.fingerprint, "trace": node.decision.trace,
                     "dep_tasks": {d.id: d.task.name for d in node.job.deps}}
            state.update({k: v for k, v in handle.extra.items()
                          if k not in ("own", "status", "submitted")})
            self.ws.write_state(node.dir, state, node.job.id)
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
        """Write params.json and command.sh; clear the previous build's results."""
        job, d = node.job, node.dir
        # not atomic on purpose: the job is not done until state.json says so
        write_if_changed(d + "/params.json",
                         json.dumps(actions.params_document(job), indent=1, sort_keys=True), new)
        write_if_changed(d + "/command.sh", actions.command_script(job, node.decision.action), new)
        if new and not any("/" in rel for rel in job.task.outputs.values()):
            return
        for name in (EXIT_FILE,):
            try:
                os.unlink(os.path.join(d, name))
            except FileNotFoundError:
                pass
        for rel in job.task.outputs.values():
            p = os.path.join(d, rel)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
            parent = os.path.dirname(p)
            if parent != d:
                os.makedirs(parent, exist_ok=True)

    # ------------------------------------------------------------------ endings
    def _finalize(self, node: Node, ended: Ended, trace_from_state=False):
        if node.job.id not in self.elsewhere:
            self.used -= self._need(node) if node.handle is not None else 0
        node.handle = None
        state = record_end(self.ws, node.dir, node.job.id, node.job.task.outputs, node.state,
                           ended.exit_code, ended.reason, ended.status,
                           lambda d: (self.by_id[d].state if d in self.by_id else None))
        self._record(node, state)
        if state["status"] != DONE:
            self._fail(node, state, state.get("reason") or state["status"], record=False)
            return
        node.status = DONE
        self.counts["ran"] += 1
        self.reporter.finished(node)
        self._done(node)

    def _record(self, node, state):
        self.ws.write_state(node.dir, state, node.job.id)
        node.state = state
        if node.lock:
            node.lock.release()
            node.lock = None

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
