"""Helpers of the monitor's tests: a real ``xpmbuild run`` of jobs that wait for a file
(the test says when each ends) and a real ``xpmbuild monitor`` on its workspace, asked over
HTTP on the loopback (http.client: no proxy)."""
from __future__ import annotations

import http.client
import json
import os
import queue
import re
import select
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import XPMBUILD, Project, wait_for, write  # noqa: E402

# work(n): prints, then waits for the file go-N; work(2) fails with a Python-like error
EXPERIMENT = """\
task work {
    n: int
    output o = "o.txt"
    shell "echo out-{n}; echo err-{n} >&2; while [ ! -e {here}/go-{n} ]; do sleep 0.05; done; echo more-{n}; if [ {n} = 2 ]; then echo 'ValueError: bad n' >&2; exit 3; fi; echo {n} > {o}"
}
task report {
    w: work
    output o = "r.txt"
    shell "cat {w.o} > {o}"
}
for n in [1, 2, 3] { report(w=work(n=tag(n))) }
"""
LINE = re.compile(r"^xpmbuild monitor: http://127\.0\.0\.1:(\d+)/\?token=(\S+)$")


class Monitor:
    def __init__(self, ws, env, *args):
        self.proc = subprocess.Popen(XPMBUILD + ["monitor", "-w", ws, *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        m = LINE.match(line.strip())
        if not m:
            self.stop()
            raise AssertionError(f"monitor printed {line!r}; stderr: {self.proc.stderr.read()}")
        self.line = line
        self.port, self.token = int(m.group(1)), m.group(2)
        self.base = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, auth="bearer", headers=None, timeout=60):
        """(status, headers as a dict with lower-case names, body bytes)."""
        h = dict(headers or {})
        if auth == "bearer":
            h["Authorization"] = f"Bearer {self.token}"
        elif auth == "cookie":
            h["Cookie"] = f"xpmbuild_monitor={self.token}"
        elif auth == "query":
            path += ("&" if "?" in path else "?") + f"token={self.token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get_json(self, path, **kw):
        status, _, body = self.request("GET", path, **kw)
        assert status == 200, (status, body)
        return json.loads(body)

    def job(self, pred, what, timeout=60, path="/api/jobs"):
        """Poll /api/jobs until a job satisfies ``pred``; return it."""
        return wait_for(lambda: next((j for j in self.get_json(path) if pred(j)), None),
                        timeout, interval=0.1, what=what)

    def events(self):
        """A thread reading /api/events into a queue of (event, data)."""
        q: queue.Queue = queue.Queue()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {self.token}"})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("content-type").startswith("text/event-stream")

        def read():
            event = None
            try:
                for raw in r:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event:
                        q.put((event, json.loads(line[6:])))
                        event = None
            except Exception:
                pass
        threading.Thread(target=read, daemon=True).start()
        q.conn = conn
        return q

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class LiveRun:
    """A real run of EXPERIMENT (-j 4 -k) in the background and a monitor on it."""

    def __init__(self, tmp_path, monitor_args=(), text=EXPERIMENT, jobs=(1, 2, 3)):
        self.jobs = jobs
        self.proj = Project(tmp_path, text)
        self.run = self.proj.popen("-j", "4", "-k")
        wait_for(lambda: os.path.isdir(os.path.join(self.proj.ws, "jobs")), 60,
                 what="the workspace")
        self.mon = Monitor(self.proj.ws, self.proj.env, *monitor_args)

    def release(self, n):
        write(self.proj.path(f"go-{n}"), "")

    def close(self):
        for n in self.jobs:
            self.release(n)
        try:
            self.run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.run.kill()
        self.mon.stop()


def next_event(q, pred, timeout=60):
    """The first event of the stream (since it opened) satisfying ``pred``, waiting for it."""
    deadline = time.monotonic() + timeout
    seen = q.__dict__.setdefault("seen", [])
    for item in seen:
        if pred(*item):
            return item
    while time.monotonic() < deadline:
        try:
            item = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(item)
        if pred(*item):
            return item
    raise AssertionError(f"no such event within {timeout}s; saw {seen}")
