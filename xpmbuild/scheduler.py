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
from collections import deque

from . import actions
from .launchers.base import Ended, Handle, LauncherError
from .rebuild import Rebuilder, short
from .workspace import (ACTIVE, CANCELLED, DONE, EXIT_FILE, FAILED, LOST, NEW, RUNNING, WAITING,
                        Workspace, now)


def write_if_changed(path: str, text: str):
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
                 "remaining", "dependents", "handle", "lock", "started", "error")

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
                 poll_interval=0.2):
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
            if self.elsewhere:
                self._check_elsewhere()
            self.reporter.tick(self)
        # what is left was never started because of a failure (without -k)
        for n in list(self.to_launch):
            self._skip(n, "not started: the build stopped after a failure")
        self.to_launch.clear()

    # ------------------------------------------------------------------ decisions
    def _dep_states(self, node):
        return {d.id: self.by_id[d.id].state if d.id in self.by_id else
                self.ws.read_state(self.ws.job_dir(d.task.name, d.id), d.id)
                for d in node.job.deps}

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
            if state.get("launcher") == self.launcher.name:
                recovered = self.launcher.recover(node.job.id, node.dir, state)
            if isinstance(recovered, Handle):
                lock = self.ws.try_lock(node.dir)
                if lock is None:
                    self._wait_elsewhere(node)
                    return
                node.lock, node.handle, node.status = lock, recovered, RUNNING
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
                             reason="xpmbuild stopped while it ran and it left no result")
                self.ws.write_state(node.dir, state, node.job.id)
        node.state = state
        decision = self.rebuilder.decide(node.job, node.dir, state, self._dep_states(node),
                                         self.root)
        node.decision = decision
        node.reasons = decision.reasons
        if decision.stale:
            node.will_run = True
            self.to_launch.append(node)
        else:
            node.status = DONE
            self.counts["up_to_date"] += 1
            self.reporter.up_to_date(node)
            self._done(node)

    def _wait_elsewhere(self, node):
        node.status = RUNNING
        node.reasons = ["running in another xpmbuild process"]
        self.elsewhere[node.job.id] = node
        self.reporter.waiting_elsewhere(node)

    def _check_elsewhere(self):
        for key, node in list(self.elsewhere.items()):
            if not self.ws.is_locked(node.dir):
                del self.elsewhere[key]
                self.ready.append(node)

    # ------------------------------------------------------------------ launching
    def _need(self, node):
        cpus = int(node.job.task.requires.get("cpus") or 1)
        return min(cpus, self.slots) if self.slots else cpus

    def _launch(self):
        while self.to_launch and not (self.stopping and not self.keep_going):
            node = self.to_launch[0]
            need = self._need(node)
            if self.slots is not None and self.used + need > self.slots and self.used:
                break
            self.to_launch.popleft()
            lock = self.ws.try_lock(node.dir) if os.path.isdir(node.dir) else None
            if lock is None and os.path.isdir(node.dir):
                self._wait_elsewhere(node)
                continue
            if lock is None:
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
                self._prepare(node)
                handle = self.launcher.start(node.job.id, node.dir, node.job.task.requires,
                                             self.env)
            except (LauncherError, OSError) as e:
                node.error = str(e)
                self._fail(node, None, f"launcher error: {e}")
                continue
            node.handle = handle
            node.status = RUNNING
            node.ran = True
            node.started = now()
            self.used += need
            self.running[node.job.id] = node
            state = {"status": RUNNING, "task": node.job.task.name, "id": node.job.id,
                     "started": node.started, "launcher": self.launcher.name,
                     "launcher_id": handle.launcher_id, "reasons": node.reasons,
                     "fingerprint": node.decision.fingerprint, "trace": node.decision.trace}
            state.update({k: v for k, v in handle.extra.items() if k != "own"})
            self.ws.write_state(node.dir, state, node.job.id)
            node.state = state
            self.reporter.started(node)

    def _prepare(self, node: Node):
        """Write params.json and command.sh; clear the previous build's results."""
        job, d = node.job, node.dir
        # not atomic on purpose: the job is not done until state.json says so
        write_if_changed(os.path.join(d, "params.json"),
                         json.dumps(actions.params_document(job), indent=1, sort_keys=True))
        write_if_changed(os.path.join(d, "command.sh"),
                         actions.command_script(job, node.decision.action))
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
        base = dict(node.state or {})
        base.update({"ended": now(), "exit_code": ended.exit_code})
        base.pop("reason", None)
        if ended.status in (CANCELLED, LOST):
            base.update(status=ended.status, reason=ended.reason)
            self._record(node, base)
            self._fail(node, base, ended.reason or ended.status, record=False)
            return
        if ended.exit_code != 0:
            reason = ended.reason or f"exit code {ended.exit_code}"
            base.update(status=FAILED, reason=reason)
            self._record(node, base)
            self._fail(node, base, reason, record=False)
            return
        hashes = self.ws.hashes
        outputs = {}
        missing = []
        for name, rel in node.job.task.outputs.items():
            p = os.path.join(node.dir, rel)
            h = hashes.path_hash(p)
            if h is None:
                missing.append(rel)
                continue
            sig = hashes.signature(p) or (None, None, None)
            outputs[name] = [sig[0], sig[1], sig[2], h]
        if missing:
            reason = "missing output " + ", ".join(missing)
            base.update(status=FAILED, reason=reason)
            self._record(node, base)
            self._fail(node, base, reason, record=False)
            return
        base.update(status=DONE, outputs=outputs)
        if trace_from_state and not base.get("fingerprint"):
            base["status"] = LOST
        self._record(node, base)
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
        node.status = FAILED if "dependency" in reason else WAITING
        node.reasons = [reason]
        node.will_run = False
        self.counts["skipped"] += 1
        self.reporter.skipped(node)

    # ------------------------------------------------------------------ interruption
    def _interrupt(self):
        handles = [n.handle for n in self.running.values() if n.handle is not None]
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
