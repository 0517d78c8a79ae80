"""Results and job listing at scale: `xpmbuild results` over N done jobs, and
`xpmbuild.Workspace(ws).jobs()` over M job folders (time and peak memory, fresh process).

    python bench/results_scale.py [--results 10000] [--jobs 100000]

The workspace is written directly (params.json, state.json, metrics.json per job, and an
experiment record), as a run of a sweep would leave it: a `train` task with tags lr and
seed; the timing covers reading it back, not building it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def make(ws, n, with_record=True):
    jobs = os.path.join(ws, "jobs", "train")
    os.makedirs(jobs, exist_ok=True)
    os.makedirs(os.path.join(ws, ".xpm"), exist_ok=True)
    rows = []
    for i in range(n):
        jid = f"{i:032x}"
        d = os.path.join(jobs, jid)
        os.mkdir(d)
        tags = {"lr": [0.1, 0.01, 0.001][i % 3], "seed": i // 3}
        with open(os.path.join(d, "params.json"), "w") as f:
            json.dump({"task": "train", "id": jid, "params": {"lr": tags["lr"], "seed": i // 3},
                       "options": [], "outputs": {"metrics": "metrics.json"}, "tags": tags,
                       "deps": []}, f)
        with open(os.path.join(d, "metrics.json"), "w") as f:
            json.dump({"acc": 0.5 + (i % 97) / 200, "loss": {"train": 1.0 / (1 + i % 13)}}, f)
        with open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"status": "done", "task": "train", "id": jid, "started": 1.0,
                       "ended": 2.0, "exit_code": 0, "outputs": {}, "fingerprint": "x",
                       "trace": {"action": "a", "inputs": {}, "deps": {}}}, f)
        rows.append(json.dumps({"id": jid, "task": "train", "dir": d, "tags": tags}))
    if with_record:
        exp = os.path.join(ws, "experiments", "sweep")
        os.makedirs(exp, exist_ok=True)
        with open(os.path.join(exp, "jobs.jsonl"), "w") as f:
            f.write("\n".join(rows) + "\n")


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd} failed: {p.stderr[-2000:]}")
    return dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=100000)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="xpm-bench-results-")
    ws = os.path.join(base, "r")
    make(ws, args.results)
    for label, cmd in (
            ("results (experiment)", ["results", "train", "-w", ws, "--experiment", "sweep",
                                      "--format", "csv"]),
            ("results --by lr", ["results", "train", "-w", ws, "--by", "lr", "--format",
                                 "json"])):
        dt, rss = timed([sys.executable, "-m", "xpmbuild.cli"] + cmd)
        print(f"N={args.results:>7} {label:22} time={dt:6.2f}s peak_rss={rss}MB", flush=True)
    ws2 = os.path.join(base, "j")
    make(ws2, args.jobs, with_record=False)
    code = ("import sys, time, resource, xpmbuild; t=time.perf_counter(); "
            f"js = xpmbuild.Workspace({ws2!r}).jobs(); "
            "print(len(js), round(time.perf_counter()-t, 2), "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    for label in ("Workspace.jobs() cold", "Workspace.jobs() warm"):
        # cold: no index yet (every state.json read, the index written); warm: one stat
        # per state.json, the states from the index
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        n, dt, rss = p.stdout.split()
        print(f"M={n:>7} {label:22} time={float(dt):6.2f}s peak_rss={rss}MB", flush=True)


if __name__ == "__main__":
    main()
