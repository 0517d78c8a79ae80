"""What batch launchers do while waiting (a part of :class:`~.batch.BatchLauncher`): the
fast path of the job folders' exit files, the batches of ended jobs, and a cluster or host
that does not answer — said on screen, waited out, given up after ``give_up_after``.
"""
from __future__ import annotations

import os
import time

from ..workspace import EXIT_FILE
from .base import LauncherError


class PolitePolling:
    def pop_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        return out

    def _unreachable(self, e: Exception):
        """The cluster did not answer: say so once, keep waiting, ask again later."""
        t = time.monotonic()
        if self.trouble is None:
            self.trouble_since = t
            self.notices.append(f"{self.name}: {self.where()} does not answer ({e}); waiting, "
                                f"asking again every {self.max_poll:g} s, for at most "
                                f"{self.give_up_after:g} s")
        elif t - self.trouble_since > self.give_up_after:
            raise LauncherError(f"{self.name}: no answer for {t - self.trouble_since:.0f} s "
                                f"({e}); giving up. The jobs are left to it: the next run "
                                "re-attaches to them")
        self.trouble = str(e)

    def where(self) -> str:
        return (f"host {self.connector.describe()}" if getattr(self.connector, "remote", False)
                else "the cluster")

    def _answered(self):
        if self.trouble is not None:
            self.notices.append(f"{self.name}: {self.where()} answers again")
        self.trouble = None

    def _scan_exits(self, t: float):
        """The fast path: one ``stat`` per tracked job's exit file."""
        if t < self.next_scan:
            return
        self.next_scan = t + (0.25 if len(self.tracked) < 1000 else 1.0)
        for lid, h in self.tracked.items():
            if lid not in self.exits_seen and os.path.exists(os.path.join(h.job_dir, EXIT_FILE)):
                self.exits_seen[lid] = t

    def _due(self, t: float) -> list[str]:
        """The jobs whose exit file appeared, as one batch once the oldest waited ``settle``
        seconds and none appeared for a second (or the oldest waited twice as long)."""
        if not self.exits_seen:
            return []
        times = self.exits_seen.values()
        oldest, newest = min(times), max(times)
        if t - oldest >= self.settle and (t - newest >= 1.0 or t - oldest >= 2 * self.settle):
            return list(self.exits_seen)
        return []

