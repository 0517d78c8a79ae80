"""Starting processes off the scheduler's thread.

``os.posix_spawn`` returns only once the child has ``exec``-ed (vfork): on a busy machine the
child waits for a core first, and the caller waits with it (4 ms a job was measured with both
cores taken by jobs). The GIL is released meanwhile, so a thread that does the spawning lets
the scheduler record the jobs that ended and prepare the next ones in that time.

A :class:`Spawner` takes requests (``submit``) and reports each result, a pid or the
``OSError`` of the spawn, through ``collect``; its ``fd`` becomes readable when results are
waiting, so a ``poll`` that waits for jobs' ends wakes for them too. Results come in the
order of the requests.
"""
from __future__ import annotations

import os
import queue
import threading
from collections import deque


class Spawner:
    def __init__(self):
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._results: deque = deque()
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = None
        self.pending = 0            # submitted, not yet collected

    @property
    def fd(self) -> int:
        return self._r

    def submit(self, token, path: str, argv: list, env: dict, file_actions: list,
               setsid: bool = True):
        """Spawn ``path`` in the background; ``token`` comes back with its result. The
        descriptors named in ``file_actions`` must stay open until it is collected."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="xpm-spawner", daemon=True)
            self._thread.start()
        self.pending += 1
        self._requests.put((token, path, argv, env, file_actions, setsid))

    def _run(self):
        while True:
            item = self._requests.get()
            if item is None:
                return
            token, path, argv, env, actions, setsid = item
            try:
                result = os.posix_spawn(path, argv, env, setsid=setsid, file_actions=actions)
            except OSError as e:
                result = e
            self._results.append((token, result))
            try:
                os.write(self._w, b".")
            except BlockingIOError:     # the pipe is full of wake-ups already
                pass

    def collect(self, wait: float | None = 0) -> list:
        """The results ready now: [(token, pid or OSError)]; while some are pending and none
        is ready, wait up to ``wait`` seconds (None: until one is) for one."""
        if wait != 0 and self.pending and not self._results:
            import select
            select.select([self._r], [], [], wait)
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass
        out = []
        while self._results:
            out.append(self._results.popleft())
        self.pending -= len(out)
        return out

    def close(self):
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join()
            self._thread = None
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
