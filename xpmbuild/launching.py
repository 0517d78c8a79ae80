"""Launching, the scheduler's half that starts jobs (a part of :class:`~.scheduler.Scheduler`).

For each job, in this order: its folder is locked, prepared, and recorded as queued (with
this xpmbuild as ``watcher``); only then is it handed to the launcher, and its record
completed with the launcher's id. A kill at any instant leaves a record that recovery.py
reads right. Jobs start while their launcher has slots, resources (``can_start``) and room
(``max_jobs``), each launcher of the run on its own (lanes.py).
"""
from __future__ import annotations

from . import jobfolder
from .launchers.base import LaunchRequest
from .reasons import reason
from .workspace import ACTIVE, FAILED, RUNNING, now


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
                                  self._after(n), n.lock.fd, n.job.task.name) for n in batch]
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
            if self._write(node, state):
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

    def _started(self, node):
        """A job started (or was re-attached): said; the first one starts the services."""
        self.reporter.started(node)
        self._first_start()

    def _first_start(self):
        """The first job of the run runs (started, re-attached, or running elsewhere)."""
        if self.on_first_start is not None:
            first, self.on_first_start = self.on_first_start, None
            first()

    def _prepare(self, node) -> bool:
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
        state = jobfolder.start_record(node.job, node.lane.launcher, node.decision,
                                       node.reasons)
        self._begin_attempt(node, state, new)
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

    def _write(self, node, state: dict) -> bool:
        """Write the job's record; on failure (a full disk, a removed folder) say why in
        ``node.error`` and return False: the run goes on, the old record stays whole."""
        try:
            self.ws.write_state(node.dir, state, node.job.id)
            return True
        except OSError as e:
            node.error = reason("failure", words=f"cannot write its record "
                                                 f"{node.dir}/state.json: {e.strerror or e}")
            return False

