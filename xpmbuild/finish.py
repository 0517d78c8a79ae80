"""Records a job's result from inside the job, when no xpmbuild is there to do it.

``python -m xpmbuild.finish JOB_DIR EXIT_CODE [LOCK_FD]`` checks and hashes the job's outputs and
writes its ``state.json`` atomically, under the job folder's lock. The wrappers run it
when the xpmbuild that started the job is gone (killed, or a detached cluster run), so a
job's result is known even if xpmbuild was not running when the job ended. When an
xpmbuild holds the folder's lock, it records the result itself and this does nothing. A
local job's wrapper holds the lock itself and passes its descriptor as LOCK_FD.

The wrapper ``exec``-s this module after waiting for the command, so this process's
``RUSAGE_CHILDREN`` is the command's (its CPU time and peak memory): recorded as the
job's ``resources``. It exits with EXIT_CODE, the job's own status.
"""
from __future__ import annotations

import os
import sys


class _Held:
    """The folder's lock, inherited from the job's wrapper on a descriptor."""

    def __init__(self, fd):
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)    # ours already: returns at once
        self.fd = fd

    def release(self):
        pass


def measured(state: dict) -> dict:
    """The resources of the command this process's parent shell waited for."""
    import resource
    import time
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = state.get("started")
    out = {"wall": round(time.time() - started, 3) if isinstance(started, (int, float))
           else None,
           "cpu": round(ru.ru_utime + ru.ru_stime, 3), "max_rss": ru.ru_maxrss * 1024}
    return out


def finish(job_dir: str, code: int, lock_fd: int | None = None) -> str:
    from .hashing import HashCache
    from .status import reconcile
    from .workspace import ACTIVE, Workspace
    job_dir = os.path.abspath(job_dir)
    root = os.path.dirname(os.path.dirname(os.path.dirname(job_dir)))   # WS/jobs/TASK/ID
    ws = Workspace(root)
    ws.hashes, ws._rows = HashCache(), None
    state = ws.read_state(job_dir)
    if state is None or state.get("status") not in ACTIVE:
        return "nothing to record"
    held = _Held(lock_fd) if lock_fd is not None else None
    new = reconcile(ws, os.path.basename(job_dir), job_dir, state, code, held,
                    extra={"resources": measured(state)})
    return new.get("status", "?")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = int(argv[1])
    except (IndexError, ValueError):
        code = 0
    try:
        finish(argv[0], code, int(argv[2]) if len(argv) > 2 else None)
    except Exception as e:     # never change the job's own exit status
        print(f"xpmbuild.finish: {e}", file=sys.stderr)
    return code if 0 <= code < 256 else 1


if __name__ == "__main__":
    sys.exit(main())
