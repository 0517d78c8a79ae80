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
