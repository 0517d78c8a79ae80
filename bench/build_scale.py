"""Build benchmark: N trivial shell jobs at -j2 — full build, no-op rebuild, one-input change.

    python bench/build_scale.py [--sizes 1000,10000] [--jobs 2]

Each phase runs the real `xpmbuild run` command in a fresh process (so the figure includes
interpreter start, imports, parsing, evaluation, hashing and the workspace index) and
prints wall time and the peak RSS of that process, one line per phase:

    N=10000 phase=full     time=12.34s peak_rss=95MB per_job=1.23ms ran=10000

The experiment: N jobs of one task `touch1`, each with its own parameter and a `path`
input shared by all (so hashing is exercised), writing one small output file. The change
phase edits a second input file that exactly one job reads.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

XPM = """
arg n: int = 1000
task touch1 {{
    i: int
    shared: path
    own: path? = None
    output out = "out.txt"
    shell "echo {{i}} > {{out}}"
}}
for i in range(n) {{
    if i == 0 {{
        touch1(i=i, shared="shared.txt", own="one.txt")
    }} else {{
        touch1(i=i, shared="shared.txt")
    }}
}}
"""


def run(cmd, cwd):
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return dt, max(peak, before), json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dir", default=None,
                    help="where to make the experiment and its workspace (default: the system "
                         "temp dir; /dev/shm measures xpmbuild without the disk)")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "xpmbuild.cli"]
    for n in [int(x) for x in args.sizes.split(",")]:
        d = tempfile.mkdtemp(prefix=f"xpm-bench-{n}-", dir=args.dir)
        try:
            with open(os.path.join(d, "exp.xpm"), "w") as f:
                f.write(XPM.format())
            for name in ("shared.txt", "one.txt"):
                with open(os.path.join(d, name), "w") as f:
                    f.write("x\n")
            base = exe + ["run", "exp.xpm", "-w", "ws", "-j", str(args.jobs), "-D", f"n={n}",
                          "--json"]
            phases = [("full", None), ("noop", None), ("change", "one.txt")]
            for phase, edit in phases:
                if edit:
                    with open(os.path.join(d, edit), "a") as f:
                        f.write("changed\n")
                # ru_maxrss of children is the max over all children so far: measure each
                # phase in its own wrapper process so the figure is that phase's own peak
                wrapper = [sys.executable, "-c",
                           "import resource,subprocess,sys,json,time;"
                           "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
                           "dt=time.perf_counter()-t;"
                           "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
                           "sys.stderr.write(p.stderr);"
                           "print(json.dumps({'rc':p.returncode,'dt':dt,'rss':r,'out':p.stdout}))"] + base
                p = subprocess.run(wrapper, cwd=d, capture_output=True, text=True)
                res = json.loads(p.stdout)
                if res["rc"] != 0:
                    sys.exit(f"phase {phase} failed ({res['rc']}):\n{p.stderr[-2000:]}")
                doc = json.loads(res["out"])
                ran = doc["summary"].get("ran", 0)
                per_job = (res["dt"] / ran * 1000) if ran else 0.0
                # xpmbuild's own CPU time (not its jobs'), per job that ran: the overhead
                cpu = doc["summary"].get("xpmbuild_cpu_seconds")
                own = f" xpmbuild_cpu={cpu:.2f}s" if cpu is not None else ""
                if ran and cpu is not None:
                    own += f" overhead_per_job={cpu / ran * 1000:.2f}ms"
                print(f"N={n} phase={phase:<6} time={res['dt']:.2f}s "
                      f"peak_rss={res['rss'] / 1024:.0f}MB ran={ran}"
                      + (f" wall_per_job={per_job:.2f}ms" if ran else "") + own, flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
