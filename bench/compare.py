"""xpmbuild beside make and doit (and Snakemake when installed): full build, no-op, change, plan.

    python bench/compare.py                              # every row, N = 1k and 10k, 3 repetitions
    python bench/compare.py --only build --n 10000 --reps 5
    python bench/compare.py --only plan,noop --workloads W1 --tools xpmbuild,make
    python bench/compare.py --big                        # adds xpmbuild plan at 50k, 100k, 1M
    python bench/compare.py --dir /dev/shm               # on tmpfs: measures without the disk

Workloads (each tool gets the same jobs, written the way that tool is normally written: a
loop in the .xpm file and in dodo.py, explicit or pattern rules in the Makefile):

- **W1**: N independent trivial jobs (``echo i > out``, each reading one shared input file,
  job 0 also ``one.txt``) and one aggregate that depends on all of them, one ``cat`` of
  every output in each tool (``cat {parts.out}``, ``cat o/*``; until 2026-12 xpmbuild's was
  a shell loop starting one ``cat`` per part, some 22 s of a 10k build);
- **W2**: chains: N/10 chains of 10 jobs, each job reading the previous one's output (the
  head of chain 0 reads ``one.txt``);
- **W3**: a parameter grid: 4 ``prepare`` jobs (one per corpus file) and N trains over
  4 corpora x 10 learning rates x N/40 seeds, each reading its prepare's output.

Phases, in this order in one fresh folder per (tool, workload, N, repetition):

- **build**: the full build from nothing, at ``-j JOBS`` (default 2);
- **noop**: the same command again, nothing to do;
- **uptodate**: what would run, nothing having changed (the same command as **plan**:
  ``xpmbuild plan``, ``make -n``, ``doit list --all --status``) — the first plan after the
  run, as a user types it;
- **plan**: after editing ``one.txt`` (W3: corpus 0), what would run (``xpmbuild plan``,
  ``make -n``, ``doit list --all --status``), running nothing;
- **change**: the build after that edit (W1: 1 job + the aggregate, W2: one chain, W3: one
  corpus's prepare and its quarter of the grid).

With ``--big``, xpmbuild's plan is also measured at 50k, 100k and 1M jobs in a fresh
workspace (nothing built: everything is new), W3 only unless ``--workloads`` says otherwise
(the other tools are not measured there: building 1M jobs to plan them is not the point).

Measurement: every command is a fresh process (interpreter start, imports and parsing
included), timed wall-clock, with its CPU time (user + sys of it and of every process it
waited for: the jobs included) from ``wait4``. The tools of one repetition run one after the
other (paired: the same machine load), and their order rotates between repetitions; the
table gives medians and each tool's ratio to make, with the load average (``os.getloadavg``)
before and after. Nothing is shortened for the benchmark: each tool runs its ordinary command
line on ordinary files.

The interpreter is the one running this script (``sys.executable``): what its site does
at start (``.pth`` files: an editable install's import finder, a sandbox's hook) is paid by
every xpmbuild command and not by make, 10-50 ms here; the header line lists them. To
measure what a user of a plain install gets: ``python -m venv /tmp/v && /tmp/v/bin/pip
install . && /tmp/v/bin/python bench/compare.py`` (or, to measure a work tree without
reinstalling, that venv's python with ``PYTHONPATH=.``).

Folders are made fresh and are NOT deleted between repetitions: on an ext4 without a journal,
deleting the previous tree (tens of thousands of inodes) slows inode creation for minutes
afterwards, and the next repetition would measure that. Each run's folders are removed at the
very end (``--keep`` keeps them); on tmpfs (``--dir /dev/shm``) none of this matters.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LRS = 10
DATASETS = 4
CHAIN = 10


# ----------------------------------------------------------------------------- workloads
XPM = {
    "W1": """\
arg n: int = 1000
task w {
    i: int
    shared: path
    own: path? = None
    output out = "out.txt"
    shell "echo {i} > {out}"
}
task agg {
    parts: list[w]
    output out = "all.txt"
    shell "cat {parts.out} > {out}"
}
parts = []
for i in range(n) {
    if i == 0 {
        parts = parts + [w(i=i, shared="shared.txt", own="one.txt")]
    } else {
        parts = parts + [w(i=i, shared="shared.txt")]
    }
}
agg(parts=parts)
""",
    "W2": f"""\
arg n: int = 1000
task step {{
    c: int
    j: int
    src: path
    output out = "out.txt"
    shell "cat {{src}} > {{out}}; echo {{c}} {{j}} >> {{out}}"
}}
for c in range(n // {CHAIN}) {{
    if c == 0 {{
        s = step(c=c, j=0, src="one.txt")
    }} else {{
        s = step(c=c, j=0, src="shared.txt")
    }}
    for j in range(1, {CHAIN}) {{
        s = step(c=c, j=j, src=s.out)
    }}
}}
""",
    "W3": f"""\
arg n: int = 1000
task prepare {{
    corpus: path
    output tokens = "tokens.txt"
    shell "cat {{corpus}} > {{tokens}}"
}}
task train {{
    data: prepare
    lr: float
    seed: int
    output model = "model.txt"
    shell "cat {{data.tokens}} > {{model}}; echo {{lr}} {{seed}} >> {{model}}"
}}
for d in range({DATASETS}) {{
    data = prepare(corpus="corpus%d.txt" % d)
    for l in range({LRS}) {{
        for seed in range(n // {DATASETS * LRS}) {{
            train(data=data, lr=0.001 * (l + 1), seed=seed)
        }}
    }}
}}
""",
}


def w3_lr(k: int) -> str:
    return repr(0.001 * (k + 1))


def makefile(workload: str, n: int) -> str:
    if workload == "W1":
        outs = " ".join(f"o/{i}" for i in range(n))
        return (f"OUTS := {outs}\n"
                "all.txt: $(OUTS)\n\tcat o/* > $@\n"
                "o/%: shared.txt | o\n\techo $* > $@\n"
                "o/0: one.txt\n"
                "o:\n\tmkdir -p o\n")
    if workload == "W2":
        rules = []
        targets = []
        for c in range(n // CHAIN):
            for j in range(CHAIN):
                src = (f"c/{c}_{j - 1}" if j else ("one.txt" if c == 0 else "shared.txt"))
                targets.append(f"c/{c}_{j}")
                rules.append(f"c/{c}_{j}: {src} | c\n\tcat $< > $@; echo {c} {j} >> $@\n")
        return ("all: " + " ".join(targets) + "\n.PHONY: all\n" + "".join(rules)
                + "c:\n\tmkdir -p c\n")
    rules, targets = [], []
    for d in range(DATASETS):
        rules.append(f"p/{d}: corpus{d}.txt | p\n\tcat $< > $@\n")
        for k in range(LRS):
            for s in range(n // (DATASETS * LRS)):
                t = f"t/{d}_{k}_{s}"
                targets.append(t)
                rules.append(f"{t}: p/{d} | t\n\tcat $< > $@; echo {w3_lr(k)} {s} >> $@\n")
    return ("all: " + " ".join(targets) + "\n.PHONY: all\n" + "".join(rules)
            + "p:\n\tmkdir -p p\nt:\n\tmkdir -p t\n")


def dodo(workload: str, n: int) -> str:
    head = f"import os\nN = {n}\nDOIT_CONFIG = {{'verbosity': 0}}\n"
    if workload == "W1":
        return head + """\
os.makedirs("o", exist_ok=True)

def task_w():
    for i in range(N):
        deps = ["shared.txt"] + (["one.txt"] if i == 0 else [])
        yield {"name": str(i), "actions": [f"echo {i} > o/{i}"], "file_dep": deps,
               "targets": [f"o/{i}"]}

def task_agg():
    return {"actions": ["cat o/* > all.txt"], "file_dep": [f"o/{i}" for i in range(N)],
            "targets": ["all.txt"]}
"""
    if workload == "W2":
        return head + f"""\
os.makedirs("c", exist_ok=True)

def task_step():
    for c in range(N // {CHAIN}):
        for j in range({CHAIN}):
            src = f"c/{{c}}_{{j - 1}}" if j else ("one.txt" if c == 0 else "shared.txt")
            yield {{"name": f"{{c}}_{{j}}", "actions": [f"cat {{src}} > c/{{c}}_{{j}}; echo {{c}} {{j}} >> c/{{c}}_{{j}}"],
                   "file_dep": [src], "targets": [f"c/{{c}}_{{j}}"]}}
"""
    return head + f"""\
os.makedirs("p", exist_ok=True)
os.makedirs("t", exist_ok=True)

def task_prepare():
    for d in range({DATASETS}):
        yield {{"name": str(d), "actions": [f"cat corpus{{d}}.txt > p/{{d}}"],
               "file_dep": [f"corpus{{d}}.txt"], "targets": [f"p/{{d}}"]}}

def task_train():
    for d in range({DATASETS}):
        for k in range({LRS}):
            lr = repr(0.001 * (k + 1))
            for s in range(N // {DATASETS * LRS}):
                t = f"t/{{d}}_{{k}}_{{s}}"
                yield {{"name": f"{{d}}_{{k}}_{{s}}", "actions": [f"cat p/{{d}} > {{t}}; echo {{lr}} {{s}} >> {{t}}"],
                       "file_dep": [f"p/{{d}}"], "targets": [t]}}
"""


def changed_file(workload: str) -> str:
    return "corpus0.txt" if workload == "W3" else "one.txt"


def setup(tool: str, workload: str, n: int, folder: str):
    os.makedirs(folder)
    inputs = ([f"corpus{d}.txt" for d in range(DATASETS)] if workload == "W3"
              else ["shared.txt", "one.txt"])
    for name in inputs:
        with open(os.path.join(folder, name), "w") as f:
            f.write(f"{name}\n")
    files = {"xpmbuild": ("exp.xpm", lambda: XPM[workload]),
             "make": ("Makefile", lambda: makefile(workload, n)),
             "doit": ("dodo.py", lambda: dodo(workload, n))}
    name, text = files[kind(tool)]
    with open(os.path.join(folder, name), "w") as f:
        f.write(text())


def command(tool: str, phase: str, n: int, jobs: int) -> list[str]:
    if kind(tool) == "xpmbuild":
        verb = "plan" if phase in ("plan", "uptodate") else "run"
        cmd = [sys.executable, "-m", "xpmbuild.cli", verb, "exp.xpm", "-w", "ws", "-D", f"n={n}"]
        return cmd + ([] if verb == "plan" else ["-j", str(jobs)])
    planning = phase in ("plan", "uptodate")
    if tool == "make":
        return ["make", "-s", "-n"] if planning else ["make", "-s", f"-j{jobs}"]
    if tool == "doit":
        return (["doit", "list", "--all", "--status"] if planning
                else ["doit", "run", "-n", str(jobs)])
    raise ValueError(tool)


def expected(tool: str, workload: str, n: int, folder: str) -> bool:
    """Whether the build made what it should (so a failed run is never a fast figure)."""
    if workload == "W1":
        path = {"xpmbuild": None, "make": "all.txt", "doit": "all.txt"}[kind(tool)]
        if path is None:
            import glob
            hits = glob.glob(os.path.join(folder, "ws", "jobs", "agg", "*", "all.txt"))
            path = hits[0] if hits else ""
        try:
            with open(os.path.join(folder, path)) as f:
                return len(f.read().split()) == n
        except OSError:
            return False
    return True


# ----------------------------------------------------------------------------- measuring
def kind(tool: str) -> str:
    """``xpmbuild=PATH`` (another checkout of xpmbuild, on PYTHONPATH) is an xpmbuild."""
    return tool.split("=", 1)[0]


def tool_env(tool: str):
    if "=" not in tool:
        return None
    return dict(os.environ, PYTHONPATH=os.path.abspath(tool.split("=", 1)[1]))


def timed(cmd, cwd, log, env=None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of it and its waited-for children, exit status)."""
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode


def run_series(tool, workload, n, jobs, phases, folder, env_ok=True):
    """One fresh folder, the phases in order: {phase: (wall, cpu)}."""
    setup(tool, workload, n, folder)
    log = os.path.join(folder, "bench.log")
    out = {}
    for phase in ("build", "noop", "uptodate", "plan", "change"):
        if phase == "plan":
            with open(os.path.join(folder, changed_file(workload)), "a") as f:
                f.write("changed\n")
        wall, cpu, rc = timed(command(tool, phase, n, jobs), folder, log, tool_env(tool))
        ok = rc == 0 and (phase != "build" or expected(tool, workload, n, folder))
        if not ok:
            with open(log, errors="replace") as f:
                tail = f.read()[-1500:]
            raise SystemExit(f"{tool} {workload} N={n} {phase} failed (exit {rc}); {log}:\n{tail}")
        if phase in phases:
            out[phase] = (wall, cpu)
        if phase == "build" and kind(tool) == "xpmbuild" and "build" in phases:
            out["own"] = (jobs_cpu(folder), 0.0)
    return out


def jobs_cpu(folder: str) -> float:
    """The CPU seconds of xpmbuild's jobs themselves (their wrappers' rusage in state.json),
    read after the build (not timed): the build's CPU minus this is xpmbuild's own."""
    import glob
    import json
    total = 0.0
    for path in glob.glob(os.path.join(folder, "ws", "jobs", "*", "*", "state.json")):
        with open(path) as f:
            total += ((json.load(f).get("resources") or {}).get("cpu") or 0.0)
    return total


def run_big_plan(workload, n, folder):
    os.makedirs(folder)
    setup_files = {"exp.xpm": XPM[workload]}
    for name in (["shared.txt", "one.txt"] + [f"corpus{d}.txt" for d in range(DATASETS)]):
        setup_files[name] = name + "\n"
    for name, text in setup_files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    wall, cpu, rc = timed(command("xpmbuild", "plan", n, 1), folder,
                          os.path.join(folder, "bench.log"))
    if rc != 0:
        raise SystemExit(f"xpmbuild plan {workload} N={n} failed; see {folder}/bench.log")
    return wall, cpu


def available_tools(wanted):
    tools = []
    for t in wanted:
        if t == "doit" and importlib.util.find_spec("doit") is None:
            print("# doit is not installed (pip install doit): left out", file=sys.stderr)
            continue
        if t == "make" and shutil.which("make") is None:
            print("# make is not installed: left out", file=sys.stderr)
            continue
        if t == "snakemake":
            print("# snakemake rows are not written yet: left out", file=sys.stderr)
            continue
        tools.append(t)
    return tools


def fmt(x):
    return "-" if x is None else (f"{x:.3f}s" if x < 10 else f"{x:.1f}s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="build,noop,uptodate,plan,change",
                    help="phases to report (comma-separated: build,noop,uptodate,plan,"
                         "change); the "
                         "phases before them still run (a no-op needs a build), untimed")
    ap.add_argument("--n", default="1000,10000", help="sizes, comma-separated")
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--tools", default="xpmbuild,make,doit",
                    help="tools, comma-separated; xpmbuild=PATH adds another checkout of "
                         "xpmbuild (its folder on PYTHONPATH), e.g. a baseline, paired too")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--big", action="store_true",
                    help="also xpmbuild plan at 50k, 100k, 1M jobs (fresh workspace)")
    ap.add_argument("--dir", default=None, help="where to make the folders (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the folders")
    args = ap.parse_args(argv)
    phases = [p for p in args.only.split(",") if p]
    sizes = [int(x) for x in args.n.split(",") if x]
    workloads = [w for w in args.workloads.split(",") if w]
    tools = available_tools([t for t in args.tools.split(",") if t])
    root = tempfile.mkdtemp(prefix="xpm-compare-", dir=args.dir)
    load0 = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} cpus={os.cpu_count()} -j{args.jobs} "
          f"reps={args.reps} dir={root} load={load0[0]:.2f},{load0[1]:.2f},{load0[2]:.2f}",
          flush=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from startup import site_hooks
    print(f"# python {sys.executable}; site .pth files: "
          f"{', '.join(site_hooks(sys.executable)) or 'none'}", flush=True)
    results: dict = {}          # (workload, n, phase, tool) -> [(wall, cpu)]
    try:
        for workload in workloads:
            for n in sizes:
                for rep in range(args.reps):
                    order = tools[rep % len(tools):] + tools[:rep % len(tools)]
                    for tool in order:
                        label = f"{kind(tool)}{tools.index(tool)}"
                        folder = os.path.join(root, f"{label}-{workload}-{n}-{rep}")
                        got = run_series(tool, workload, n, args.jobs, phases, folder)
                        if "own" in got:        # xpmbuild's own CPU: the build's minus its jobs'
                            jobs = got.pop("own")[0]
                            results.setdefault((workload, n, "own", tool), []).append(
                                (got["build"][1] - jobs, jobs))
                        for phase, value in got.items():
                            results.setdefault((workload, n, phase, tool), []).append(value)
                        print(f"#   {workload} N={n} rep={rep} {tool}: " + " ".join(
                            f"{p}={w:.2f}s" for p, (w, _c) in got.items())
                            + f" load={os.getloadavg()[0]:.2f}", flush=True)
        big = []
        if args.big and "plan" in phases:
            for workload in (workloads if args.workloads != "W1,W2,W3" else ["W3"]):
                for n in (50_000, 100_000, 1_000_000):
                    runs = [run_big_plan(workload, n, os.path.join(root, f"big-{workload}-{n}-{r}"))
                            for r in range(max(1, min(args.reps, 3 if n < 1_000_000 else 1)))]
                    big.append((workload, n, statistics.median(w for w, _ in runs),
                                statistics.median(c for _, c in runs)))
                    print(f"#   big plan {workload} N={n}: {big[-1][2]:.2f}s", flush=True)
        load1 = os.getloadavg()
        print_table(results, tools, workloads, sizes, phases, big, load0, load1, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def print_table(results, tools, workloads, sizes, phases, big, load0, load1, args):
    head = ["workload", "N", "phase"] + [f"{t}" for t in tools] + \
        [f"{t}/make" for t in tools if t != "make" and "make" in tools] + \
        [f"{t} cpu/job" for t in tools]
    rows = []
    for workload in workloads:
        for n in sizes:
            for phase in phases:
                med = {}
                cpu = {}
                for t in tools:
                    vals = results.get((workload, n, phase, t))
                    med[t] = statistics.median(w for w, _ in vals) if vals else None
                    cpu[t] = statistics.median(c for _, c in vals) if vals else None
                row = [workload, str(n), phase] + [fmt(med[t]) for t in tools]
                for t in tools:
                    if t != "make" and "make" in tools:
                        row.append(f"{med[t] / med['make']:.2f}x" if med[t] and med["make"]
                                   else "-")
                for t in tools:
                    row.append(f"{cpu[t] / n * 1000:.2f}ms" if cpu[t] is not None and
                               phase == "build" else "-")
                rows.append(row)
    for workload, n, wall, cpu in big:
        rows.append([workload, str(n), "plan (new)", fmt(wall)] + ["-"] * (len(head) - 4))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    print(f"\nmedians of {args.reps} paired runs, -j{args.jobs}, wall time; cpu/job: CPU of "
          "the whole build (tool and jobs) / N")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"load average before {load0[0]:.2f},{load0[1]:.2f},{load0[2]:.2f}; "
          f"after {load1[0]:.2f},{load1[1]:.2f},{load1[2]:.2f}")
    for (workload, n, phase, tool), vals in results.items():
        if phase == "own":
            own = statistics.median(o for o, _ in vals) / n * 1000
            jobs = statistics.median(j for _, j in vals) / n * 1000
            print(f"# {workload} N={n}: {tool}'s own CPU {own:.2f} ms per job, its jobs' "
                  f"(wrapper + command) {jobs:.2f} ms per job")


if __name__ == "__main__":
    main()
