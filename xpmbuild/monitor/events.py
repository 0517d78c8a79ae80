"""Server-sent events: a watcher refreshes the job table (table.py) while someone listens,
and sends each status change as an event ``job`` ({id, task, status}) and each change of
an experiment's plan as an event ``experiment`` ({name}).

It runs while a client listens or a request came in the last minute: a quick refresh
every ``interval`` seconds (at least twenty times what one costs), and a full sweep when
one is due (table.py: at least twenty times what a sweep costs), so that the monitor uses
under 5% of a core.
"""
from __future__ import annotations

import asyncio
import json
import time

KEEPALIVE = 15.0        # seconds between comments that keep idle connections open
QUEUE = 20000           # events held for a slow client before it is told to reload


IDLE = 60.0             # seconds the watcher goes on after the last request


def pace(table, interval: float) -> float:
    """Seconds between quick refreshes (full sweeps have their own pace, table.py)."""
    return max(interval, 20 * table.quick_cost)


class Watcher:
    def __init__(self, table, interval: float = 0.5):
        self.table, self.interval = table, interval
        self.clients: set[asyncio.Queue] = set()
        self._task = None
        self._wake = None
        self._loop = None
        self.poked = -1e9

    def start(self):
        self._wake = asyncio.Event()
        loop = self._loop = asyncio.get_running_loop()
        self.poked = time.monotonic()       # the table loads at once, before a request
        self._task = loop.create_task(self._run())

        def heard(changed, exps):       # any refresh (the API's too), from its thread
            if self.clients:
                loop.call_soon_threadsafe(self._broadcast, changed, exps)
        self.table.listener = heard

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def poke(self):
        """A request came (from any thread): keep the table fresh for a while."""
        self.poked = time.monotonic()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self):
        while True:
            if not self.clients and time.monotonic() - self.poked > IDLE:
                self._wake.clear()
                await self._wake.wait()
            try:
                await asyncio.to_thread(self.table.refresh)     # heard() sends the changes
            except Exception:       # a workspace in the middle of a change: next time
                pass
            await asyncio.sleep(pace(self.table, self.interval))

    def _broadcast(self, changed, exps):
        for name in exps:
            self._send("experiment", {"name": name})
        for job_id, task, status in changed:
            self._send("job", {"id": job_id, "task": task, "status": status})

    def _send(self, event: str, data: dict):
        text = f"event: {event}\ndata: {json.dumps(data)}\n\n"
        for q in list(self.clients):
            if q.qsize() >= QUEUE:
                while not q.empty():
                    q.get_nowait()
                q.put_nowait("event: reset\ndata: {}\n\n")
            else:
                q.put_nowait(text)

    async def stream(self):
        """The event stream of one client."""
        q: asyncio.Queue = asyncio.Queue()
        self.clients.add(q)
        self._wake.set()
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    text = await asyncio.wait_for(q.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    text = ": keepalive\n\n"
                yield text
        finally:
            self.clients.discard(q)
