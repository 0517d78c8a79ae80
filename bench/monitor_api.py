"""Monitor benchmark: ``/api/jobs`` over a large workspace, and the cost of the event
stream on a real run.

    python bench/monitor_api.py [--jobs 100000] [--run-jobs 10000] [--skip-run]

1. A workspace of N job folders laid out as runs lay them out (workspace.py):
   ``jobs/TASK/ID/{params.json,state.json,stdout.log,stderr.log}`` and
   ``experiments/NAME/jobs.jsonl``, written synthetically (a real run of 100k jobs takes
   minutes): 4 tasks in a chain, 2% failed, the rest done, records with fingerprint,
   trace, outputs, times and history. The real ``xpmbuild monitor`` serves it; printed:
   the first ``/api/jobs`` (loads the table), then warm calls: all jobs, a sorted page,
   a filter, ``/api/experiments``, ``/api/graph``; the monitor's peak RSS.
2. A real ``xpmbuild run`` of M trivial jobs at -j2, without and then with a monitor and
   an SSE client connected: the run's wall times, their ratio, the monitor's CPU time over
   the run's wall time, and the events the client got.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

XPMBUILD = [sys.executable, "-m", "xpmbuild.cli"]
TASKS = ["prepare", "train", "evaluate", "report"]


def make_workspace(root: str, n: int):
    """N jobs in 4 tasks (each job depends on one of the task before), experiment 'exp'."""
    jobs_root = os.path.join(root, "jobs")
    per = n // len(TASKS)
    lines = []
    t = time.time() - 3600
    prev_ids: list[str] = []
    for ti, task in enumerate(TASKS):
        ids = [f"{ti:02x}{i:030x}" for i in range(per)]
        os.makedirs(os.path.join(jobs_root, task))
        for i, job_id in enumerate(ids):
            d = os.path.join(jobs_root, task, job_id)
            os.mkdir(d)
            deps = [prev_ids[i]] if prev_ids else []
            tags = {"lr": [0.1, 0.01, 0.001][i % 3], "seed": i % 100}
            failed = i % 50 == 7
            params = {"task": task, "id": job_id, "params": {"i": i, **tags}, "options": [],
                      "outputs": {"o": "o.txt"}, "tags": tags, "deps": deps}
            started, ended = t + i * 0.01, t + i * 0.01 + 1.5
            state = {"status": "failed" if failed else "done", "task": task, "id": job_id,
                     "launcher": "local", "launcher_type": "local", "launcher_id": 1000 + i,
                     "host": "bench", "fingerprint": f"{i:032x}", "started": started,
                     "ended": ended, "exit_code": 1 if failed else 0,
                     "trace": {"action": "x" * 32, "inputs": {}, "deps": {
                         dep: {"o": "0" * 32} for dep in deps}},
                     "dep_tasks": {dep: TASKS[ti - 1] for dep in deps},
                     "history": [["queued", started - 0.1], ["running", started],
                                 ["failed" if failed else "done", ended]]}
            if failed:
                state["reason"] = "exit code 1"
            else:
                state["outputs"] = {"o": [2, 1, 1, "0" * 32]}
            for name, text in (("params.json", json.dumps(params, indent=1, sort_keys=True)),
                               ("state.json", json.dumps(state, sort_keys=True)),
                               ("stdout.log", f"job {i}\n"),
                               ("stderr.log", "ValueError: diverged\n" if failed else "")):
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            lines.append(json.dumps({"id": job_id, "task": task, "dir": d, "tags": tags,
                                     "deps": deps}, sort_keys=True))
        prev_ids = ids
    exp = os.path.join(root, "experiments", "exp")
    os.makedirs(os.path.join(exp, "jobs"))
    with open(os.path.join(exp, "jobs.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(os.path.join(root, ".xpm"))


class Monitor:
    def __init__(self, ws):
        self.p = subprocess.Popen(XPMBUILD + ["monitor", "-w", ws], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r":(\d+)/\?token=(\S+)", line)
        if not m:
            sys.exit(f"the monitor printed {line!r}: {self.p.stderr.read()}")
        self.port, self.token = int(m.group(1)), m.group(2)

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        r = conn.getresponse()
        body = r.read()
        dt = time.perf_counter() - t0
        conn.close()
        if r.status != 200:
            sys.exit(f"{path}: {r.status} {body[:300]}")
        return dt, body

    def cpu(self) -> float:
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def events(self, counter: list):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {self.token}"})
        r = conn.getresponse()

        def read():
            try:
                for raw in r:
                    if raw.startswith(b"event: job"):
                        counter[0] += 1
            except Exception:
                pass
        threading.Thread(target=read, daemon=True).start()
        return conn

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def bench_api(n: int, tmp: str, with_status=True):
    ws = os.path.join(tmp, "ws-api")
    t0 = time.perf_counter()
    make_workspace(ws, n)
    print(f"workspace: {n} jobs written in {time.perf_counter() - t0:.1f}s", flush=True)
    # what a run leaves: the index caching the states (``status`` writes it); its time is
    # the same-truth baseline
    t0 = time.perf_counter()
    p = subprocess.run(XPMBUILD + ["status", "-w", ws, "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"status failed: {p.stderr[-2000:]}")
    print(f"N={n} xpmbuild status --json (first, builds the index) "
          f"time={time.perf_counter() - t0:.2f}s", flush=True)
    if with_status:
        t0 = time.perf_counter()
        subprocess.run(XPMBUILD + ["status", "-w", ws, "--json"], stdout=subprocess.DEVNULL)
        print(f"N={n} xpmbuild status --json (again) time={time.perf_counter() - t0:.2f}s",
              flush=True)
    mon = Monitor(ws)
    try:
        dt, body = mon.get("/api/jobs")
        count = len(json.loads(body))
        print(f"N={n} /api/jobs first (loads the table)  time={dt:.3f}s jobs={count} "
              f"bytes={len(body) / 1e6:.1f}MB", flush=True)
        for label, path in (("/api/jobs (all)", "/api/jobs"),
                            ("/api/jobs?experiment=exp", "/api/jobs?experiment=exp"),
                            ("/api/jobs sorted page", "/api/jobs?experiment=exp&sort=tag:lr"
                                                      "&order=desc&limit=100&offset=5000"),
                            ("/api/jobs?status=failed", "/api/jobs?status=failed&limit=50"),
                            ("/api/experiments", "/api/experiments"),
                            ("/api/graph", "/api/graph?experiment=exp")):
            times = []
            for _ in range(5):
                times.append(mon.get(path)[0])
            print(f"N={n} {label:<28} median={statistics.median(times):.3f}s "
                  f"max={max(times):.3f}s", flush=True)
        print(f"N={n} monitor peak_rss={mon.rss_mb():.0f}MB", flush=True)
    finally:
        mon.stop()
    # the table's refreshes, in this process: a full sweep (a stat of every record) and a
    # quick one (the jobs that can be changing)
    from xpmbuild.monitor.table import JobTable
    table = JobTable(ws)
    t0 = time.perf_counter()
    table.refresh()
    load = time.perf_counter() - t0
    sweeps = []
    quick = []
    for _ in range(3):
        t0 = time.perf_counter()
        table.refresh(full=True)
        sweeps.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        table.refresh(full=False)
        quick.append(time.perf_counter() - t0)
    print(f"N={n} table load={load:.2f}s full_sweep={statistics.median(sweeps):.3f}s "
          f"(one every {table.sweep_pace():.1f}s) quick_refresh={statistics.median(quick):.4f}s",
          flush=True)
    shutil.rmtree(ws, ignore_errors=True)


RUN_XPM = """
arg n: int = 1000
task touch1 {
    i: int
    output out = "out.txt"
    shell "echo {i} > {out}"
}
for i in range(n) { touch1(i=i) }
"""


def bench_run(m: int, tmp: str):
    folder = os.path.join(tmp, "run")
    os.makedirs(folder)
    xpm = os.path.join(folder, "exp.xpm")
    with open(xpm, "w") as f:
        f.write(RUN_XPM)
    results = {}
    for mode in ("alone", "monitored"):
        ws = os.path.join(folder, f"ws-{mode}")
        os.makedirs(os.path.join(ws, "jobs"))
        mon = conn = None
        counter = [0]
        if mode == "monitored":
            mon = Monitor(ws)
            conn = mon.events(counter)
            cpu0 = mon.cpu()
        t0 = time.perf_counter()
        p = subprocess.run(XPMBUILD + ["run", xpm, "-w", ws, "-j", "2", "-D", f"n={m}"],
                           cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"run failed: {p.stderr[-2000:]}")
        results[mode] = wall
        line = f"M={m} run {mode:<9} wall={wall:.1f}s"
        if mon is not None:
            # let the stream catch up with the end of the run, then read the monitor's CPU
            deadline = time.monotonic() + 60
            while counter[0] < m and time.monotonic() < deadline:
                time.sleep(0.2)
            cpu = mon.cpu() - cpu0
            line += f" monitor_cpu={cpu:.2f}s ({100 * cpu / wall:.1f}% of the run's wall) " \
                    f"job_events={counter[0]}"
            conn.close()
            mon.stop()
        print(line, flush=True)
    ratio = results["monitored"] / results["alone"] - 1
    print(f"M={m} run slowdown with a monitor and an SSE client: {100 * ratio:+.1f}% "
          f"(target <= 5%)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--run-jobs", type=int, default=10_000)
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--skip-status", action="store_true",
                    help="time `status` once only (it builds the index)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="xpm-bench-monitor-")
    try:
        if not args.skip_api:
            bench_api(args.jobs, tmp, not args.skip_status)
        if not args.skip_run:
            bench_run(args.run_jobs, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
