"""The local launcher's ``requires time=``: a job still running at its limit is stopped
(SIGTERM to its process group, SIGKILL ``GRACE`` seconds later) and ends as TIMEOUT, as on
a cluster — which makes retries (retries.py) and ``XPM_DEADLINE`` testable locally."""
from __future__ import annotations

import os
import signal
import time

from ..resources import parse_duration

GRACE = 5.0
REASON = "time limit reached (TIMEOUT)"


class TimeLimits:
    def __init__(self):
        self.deadlines: dict[int, float] = {}      # pid -> monotonic deadline
        self.expired: dict[int, float] = {}        # pid -> when to SIGKILL

    def add(self, pid: int, requires: dict, started: float):
        t = requires.get("time")
        seconds = parse_duration(str(t)) if t else None
        if seconds:
            self.deadlines[pid] = started + seconds

    def timeout(self, timeout):
        """``timeout`` shortened to wake at the next deadline."""
        pending = list(self.deadlines.values()) + list(self.expired.values())
        if not pending:
            return timeout
        left = max(0.0, min(pending) - time.monotonic()) + 0.01
        return left if timeout is None else min(timeout, left)

    def enforce(self):
        t = time.monotonic()
        for pid, dl in list(self.deadlines.items()):
            if t >= dl:
                del self.deadlines[pid]
                self.expired[pid] = t + GRACE
                _kill(pid, signal.SIGTERM)
        for pid, kill_at in list(self.expired.items()):
            if kill_at is not None and t >= kill_at:
                self.expired[pid] = None
                _kill(pid, signal.SIGKILL)

    def ended(self, pid: int) -> bool:
        """Forget the job; whether it was stopped by its time limit."""
        self.deadlines.pop(pid, None)
        return self.expired.pop(pid, False) is not False

    def __bool__(self):
        return bool(self.deadlines) or any(v is not None for v in self.expired.values())


def _kill(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
