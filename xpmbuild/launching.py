"""Launching, the scheduler's half that starts jobs (a part of :class:`~.scheduler.Scheduler`).

For each job, in this order: its folder is locked, prepared, and recorded as queued (with
this xpmbuild as ``watcher``); only then is it handed to the launcher, and its record
completed with the launcher's id. A kill at any instant leaves a record that recovery.py
reads right. Jobs start while their launcher has slots, resources (``can_start``) and room
(``max_jobs``), each launcher of the run on its own (lanes.py).
"""
from __future__ import annotations

import time
from itertools import islice

from . import jobfolder
from .launchers.base import LaunchRequest
from .launchers.inplace import runs_in_place
from .reasons import reason
from .workspace import ACTIVE, FAILED, RUNNING, note_history, now

#: a job whose own process holds its folder's lock (local) gets its ``running`` record (with
#: its pid) once it has run this long: a shorter job goes from ``queued`` to its end in one
#: write (recovery needs no pid: the lock says it runs, the exit file how it ended)
RUNNING_RECORD_AFTER = 0.05


class Launching:
    def _need(self, node):
        return node.lane.need(node.job.task.requires)

    def _launch(self):
        """Start what can start now, on each launcher of the run (its lane, lanes.py)."""
        for lane in list(self.to_launch.lanes.values()):
            if lane.queue:
                self._launch_lane(lane)

    def _launch_lane(self, lane):
        """Start what can start now on one launcher. For each job, in this order: its
        folder is locked, prepared, and recorded as queued (with this xpmbuild as
        ``watcher``); only then is it handed to the launcher, and its record completed
        with the launcher's id. A kill at any instant leaves a record that recovery.py
        reads right."""
        batch = []
        queue, launcher = lane.queue, lane.launcher
        detached = self.detach
        while queue and not (self.stopping and not self.keep_going):
            if lane.full() and not detached:
                break           # max_jobs: the rest wait in xpmbuild
            node = queue[0]
            need = self._need(node)
            if lane.slots is not None and lane.used + need > lane.slots and lane.used:
                break
            if not launcher.can_start(node.job.task.requires,
                                      [n.job.task.requires for n in batch]) and \
                    (lane.active or batch):
                break           # e.g. its GPUs are busy: wait for a job to end
            queue.popleft()
            if self._prepare(node):
                lane.used += need
                lane.active += 1
                batch.append(node)
        if not batch:
            return
        requests = [LaunchRequest(n.job.id, n.dir, self._requires(n), self.env,
                                  self._after(n), n.lock.fd, n.job.task.name,
                                  self._in_place(n)) for n in batch]
        for node, handle in zip(batch, launcher.start_many(requests)):
            if isinstance(handle, Exception):
                lane.used -= self._need(node)
                lane.active -= 1
                why = f"launcher error: {handle}"
                if not self._retry(node, dict(node.state, status=FAILED, reason=why,
                                              ended=now())):
                    self._fail(node, None, reason("failure", words=why))
                continue
            node.handle = handle
            node.status = handle.extra.get("status", RUNNING)
            node.ran = True
            node.started = now()
            state = dict(node.state, status=node.status, started=node.started,
                         launcher_id=handle.launcher_id)
            state.update({k: v for k, v in handle.extra.items()
                          if k not in ("own", "status", "submitted")})
            if launcher.job_holds_lock and not detached:
                note_history(state)         # written with the next record
                node.state = state
                self.unrecorded.append((time.monotonic() + RUNNING_RECORD_AFTER, node))
            elif self._write(node, state, cache=False):
                node.state = state
            self._started(node)
            if detached:        # detached: the cluster runs it after its dependencies
                lane.used -= self._need(node)
                lane.active -= 1
                node.lock.release()
                node.lock = None
                self._submitted(node)
            else:
                self.running[node.job.id] = node

    @staticmethod
    def _in_place(node) -> bool:
        """Whether its command may run in the wrapper's own shell (launchers/inplace.py)."""
        action = node.decision.action if node.decision is not None else None
        return action is not None and runs_in_place(action)

    def _record_running(self, timeout, every=False):
        """Write the ``running`` record of the jobs that have run RUNNING_RECORD_AFTER
        seconds (``every``: of all, e.g. before leaving them running); returns ``timeout``
        shortened to when the next one is due."""
        pending = self.unrecorded
        t = float("inf") if every else time.monotonic()
        while pending and pending[0][0] <= t:
            _due, node = pending.popleft()
            if node.handle is None or self.running.get(node.job.id) is not node or \
                    not node.state or node.state.get("status") != RUNNING:
                continue
            self._write(node, node.state, cache=False)
        if pending:
            wait = max(0.0, pending[0][0] - t)
            return wait if timeout is None else min(timeout, wait)
        return timeout

    def _free_early(self, node, ended) -> bool:
        """A job that exited 0 gives its slot back before it is recorded, so the next one
        starts at once (True); a failure is recorded first: without -k nothing new starts
        after it."""
        if node is None or ended.exit_code != 0 or ended.status is not None or \
                node.handle is None or node.job.id in self.elsewhere:
            return False
        node.lane.used -= self._need(node)
        node.lane.active -= 1
        node.handle = None
        return True

    def _refuse(self, node, why):
        """A job its launcher can never run: recorded failed (under its folder's lock)
        without being prepared or started."""
        try:
            _new, node.lock = jobfolder.lock_folder(self.ws, node.dir)
        except OSError:
            node.lock = None
        self._fail(node, None, why, record=node.lock is not None)

    def _started(self, node):
        """A job started (or was re-attached): said; the first one starts the services."""
        self.reporter.started(node)
        self._first_start()

    def _first_start(self):
        """The first job of the run runs (started, re-attached, or running elsewhere)."""
        if self.on_first_start is not None:
            first, self.on_first_start = self.on_first_start, None
            first()

    def _claim(self, node):
        """Lock the job's folder and write its definition (params.json, command.sh): True,
        or None when it is not to start now (failed, or someone else has it). Done ahead,
        while the slots are full, for the jobs next in line (_claim_ahead): when a slot
        frees, only the record and the start are left. A claimed job holds its folder's
        lock and leaves its record as it was until it starts."""
        if node.claimed is not None:
            return True
        try:
            new, lock = jobfolder.lock_folder(self.ws, node.dir)
        except OSError as e:
            self._fail(node, None, reason("failure", words=jobfolder.folder_error(node.dir, e)),
                       record=False)
            return None
        if lock is None:
            self._wait_elsewhere(node)
            return None
        # another process may have built it between our decision and the lock
        fresh = self.ws.read_state(node.dir, node.job.id)
        if fresh is not node.state and fresh != node.state:
            lock.release()
            self.ready.append(node)
            return None
        node.lock = lock
        try:
            jobfolder.write_definition(node.job, node.dir, node.decision.action, new)
        except OSError as e:
            self._fail(node, None, reason("failure", words=f"cannot prepare the job folder: {e}"))
            return None
        node.claimed = new
        return True

    def _claim_ahead(self):
        """While a launcher's slots are full, claim the jobs that take the next slots."""
        for lane in self.to_launch.lanes.values():
            if not lane.queue or lane.slots is None or self.detach or self.stopping:
                continue
            for node in list(islice(lane.queue, lane.slots)):
                if node.claimed is None and self._claim(node) is None:
                    if node in lane.queue:      # failed or waits elsewhere: not queued
                        lane.queue.remove(node)
                    return

    def _unclaim(self, node):
        """A claimed job that will not start now: its folder is released, record untouched."""
        node.claimed = None
        if node.lock:
            node.lock.release()
            node.lock = None

    def _prepare(self, node) -> bool:
        """Lock, prepare and record the job before it starts (False: not started now)."""
        if self._claim(node) is None:
            return False
        new, node.claimed = node.claimed, None
        try:
            jobfolder.clear_previous(node.job, node.dir, new)
        except OSError as e:
            self._fail(node, None, reason("failure", words=f"cannot prepare the job folder: {e}"))
            return False
        state = jobfolder.start_record(node.job, node.lane.launcher, node.decision,
                                       node.reasons)
        self._begin_attempt(node, state, new)
        if not self._write(node, state, cache=False):
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

    def _write(self, node, state: dict, cache: bool = True) -> bool:
        """Write the job's record; on failure (a full disk, a removed folder) say why in
        ``node.error`` and return False: the run goes on, the old record stays whole.
        ``cache=False``: a record the job moves on from (queued, running), not kept in the
        index (Workspace.write_state)."""
        try:
            self.ws.write_state(node.dir, state, node.job.id, cache)
            return True
        except OSError as e:
            node.error = reason("failure", words=f"cannot write its record "
                                                 f"{node.dir}/state.json: {e.strerror or e}")
            return False

