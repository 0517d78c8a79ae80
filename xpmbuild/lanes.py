"""Lanes: each launcher's share of a run (the scheduler's view of one launcher).

A run may send jobs to several launchers (routing.py): each has its own queue of jobs
ready to start, its own cpu slots (``slots()``, bounded by ``-j``), and its own
``max_jobs`` setting — jobs queued or running at once on it; the rest wait in xpmbuild.
"""
from __future__ import annotations

from collections import deque


class Lane:
    __slots__ = ("launcher", "slots", "used", "active", "max_jobs", "queue")

    def __init__(self, launcher, max_slots=None):
        self.launcher = launcher
        slots = launcher.slots()
        self.slots = min(x for x in (slots, max_slots) if x) if (slots or max_slots) else None
        self.used = 0               # cpu slots taken by its running jobs
        self.active = 0             # its jobs queued or running (max_jobs)
        m = (getattr(launcher, "scheduling", None) or {}).get("max_jobs")
        self.max_jobs = int(m) if m else None
        self.queue: deque = deque()

    @property
    def name(self) -> str:
        return self.launcher.name

    def need(self, requires: dict) -> int:
        cpus = int(requires.get("cpus") or 1)
        return min(cpus, self.slots) if self.slots else cpus

    def full(self) -> bool:
        """No more jobs may be queued or running on it now (``max_jobs``)."""
        return self.max_jobs is not None and self.active >= self.max_jobs


class Queues:
    """The jobs ready to start, one queue per lane (the scheduler's ``to_launch``)."""

    def __init__(self):
        self.lanes: dict[str, Lane] = {}

    def lane(self, launcher, max_slots=None) -> Lane:
        lane = self.lanes.get(launcher.name)
        if lane is None:
            lane = self.lanes[launcher.name] = Lane(launcher, max_slots)
        return lane

    def append(self, node):
        node.lane.queue.append(node)

    def appendleft(self, node):
        node.lane.queue.appendleft(node)

    def __bool__(self):
        return any(lane.queue for lane in self.lanes.values())

    def __iter__(self):
        for lane in self.lanes.values():
            yield from lane.queue

    def clear(self):
        for lane in self.lanes.values():
            lane.queue.clear()


class LaneWaits:
    """The scheduler's waiting and cancelling across the lanes of a run (a part of
    :class:`~.scheduler.Scheduler`)."""

    def _launcher_of(self, node):
        return (node.lane or self.lane).launcher

    def _waits(self, timeout):
        """(launcher, timeout) to wait on: one launcher blocks (a local one, woken at
        once by a job's end), the others are only polled, when several have jobs."""
        lanes = [lane for lane in self.to_launch.lanes.values() if lane.active]
        if len(lanes) <= 1:
            return [((lanes[0] if lanes else self.lane).launcher, timeout)]
        lanes.sort(key=lambda lane: lane.launcher.type == "local")
        block = min(timeout, 0.2) if timeout is not None else 0.2
        return [(lane.launcher, 0 if i < len(lanes) - 1 else block)
                for i, lane in enumerate(lanes)]

    def _wait_round(self, timeout):
        """Wait for the launchers of the run; record the jobs that ended."""
        for launcher, wait in self._waits(timeout):
            ended = [(self.running.pop(e.handle.key, None), e) for e in launcher.wait(wait)]
            if any(self._free_early(node, e) for node, e in ended):
                self._launch()      # the next job starts before this one is recorded
            for node, e in ended:
                if node is not None:
                    self._finalize(node, e)
            self._transitions(launcher)
            for text in launcher.pop_notices():     # e.g. the cluster does not answer
                getattr(self.reporter, "notice", lambda t: None)(text)

    def _transitions(self, launcher):
        for handle in launcher.pop_transitions():
            node = self.running.get(handle.key)
            status = handle.extra.get("status")
            if node is not None and status and node.state and node.state.get("status") != status:
                node.status = status
                node.state = dict(node.state, status=status)
                self._write(node, node.state, cache=False)

    def _cancel_running(self) -> dict:
        """Cancel the running jobs on each launcher; {key: Ended} of those that ended."""
        ended = {}
        for lane in self.to_launch.lanes.values():
            mine = [n.handle for n in self.running.values()
                    if n.handle is not None and n.lane is lane]
            if mine:
                lane.launcher.cancel(mine)
        for lane in self.to_launch.lanes.values():
            if any(n.lane is lane for n in self.running.values()):
                ended.update({e.handle.key: e for e in lane.launcher.kill_after(5.0)})
        return ended
