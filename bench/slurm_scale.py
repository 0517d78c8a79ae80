"""How the Slurm launcher scales: N independent trivial jobs on the local Slurm.

Two ways of measuring, both against the real Slurm of tests/services (started if needed):

* ``api`` (default): xpmbuild.launchers.slurm.SlurmLauncher directly, on N job folders
  holding a trivial command.sh. Its ``commands`` and ``polls`` counters give the number
  of Slurm commands issued to submit, and per poll while waiting.
* ``cli``: ``xpmbuild run -l slurm`` on an experiment of N independent jobs, watched from
  outside: time from the start of the command until every state.json says queued or running
  (or already done), and until the command exits.

    python bench/slurm_scale.py                 # N = 10000 in arrays of 1000, api, 180 s
    python bench/slurm_scale.py --parallelism 50 --window 120
    python bench/slurm_scale.py --n 200 --mode both

One line per figure: submission time, cluster commands per minute while waiting, and
xpmbuild's CPU seconds (submitting, waiting). Targets: all N jobs submitted in seconds (job
arrays of <= array_max), one squeue per poll whatever N plus one sacct per batch of ended
jobs. The local node has 2 CPUs, so running 10000 jobs through takes far longer than the
window: that is Slurm's pace, not xpmbuild's; the rest is cancelled at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def line(label: str, value: str):
    print(f"{label}: {value}", flush=True)


def cpu_seconds() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bench_api(n: int, partition: str, poll: float, root: str, array_max: int,
              parallelism: int | None, window: float):
    from xpmbuild.launchers.base import LaunchRequest
    from xpmbuild.launchers.slurm import SlurmLauncher
    from xpmbuild.workspace import EXIT_FILE
    ws = os.path.join(root, "ws")
    items = []
    for i in range(n):
        d = os.path.join(ws, "jobs", "trivial", f"{i:06d}")
        os.makedirs(d)
        with open(os.path.join(d, "command.sh"), "w") as f:
            f.write(f"echo {i} > out.txt\n")
        items.append(LaunchRequest(f"job{i}", d, {}, {}, None, None, "trivial"))
    launcher = SlurmLauncher(name="slurm", partition=partition, poll=poll, array_max=array_max,
                             array_parallelism=parallelism)
    launcher.bind(ws)
    # instrumentation only: which Slurm command, when, and how long it takes
    calls: list[tuple[float, str, float]] = []
    run = launcher._run

    def timed_run(argv, **kw):
        t = time.monotonic()
        try:
            return run(argv, **kw)
        finally:
            calls.append((t, argv[0], time.monotonic() - t))
    launcher._run = timed_run

    cpu0 = cpu_seconds()
    t0 = time.monotonic()
    handles = launcher.start_many(items)
    t_submit = time.monotonic() - t0
    cpu_submit = cpu_seconds() - cpu0
    errors = [h for h in handles if isinstance(h, Exception)]
    if errors:
        line("submit errors", f"{len(errors)}: {errors[0]}")
        return
    sbatches = sum(1 for c in calls if c[1] == "sbatch")
    arrays = len({str(h.launcher_id).split("_")[0] for h in handles})
    line("jobs", str(n))
    line("api: time to submit all", f"{t_submit:.2f} s ({sbatches} sbatch calls, {arrays} "
         f"job arrays of <= {array_max}, throttle %{parallelism or '-'}); xpmbuild CPU "
         f"{cpu_submit:.2f} s")

    ended = []
    cpu1 = cpu_seconds()
    t1 = time.monotonic()
    first = len(calls)
    try:
        while launcher.tracked and time.monotonic() - t1 < window:
            ended.extend(launcher.wait(min(5.0, window - (time.monotonic() - t1))))
    except KeyboardInterrupt:
        launcher.cancel()
        raise
    waited = time.monotonic() - t1
    cpu_wait = cpu_seconds() - cpu1
    during = calls[first:]
    by_cmd: dict[str, int] = {}
    for _, c, _ in during:
        by_cmd[c] = by_cmd.get(c, 0) + 1
    bad = [e for e in ended if e.exit_code != 0 or e.status]
    line("api: waited", f"{waited:.0f} s (poll = {poll:g} s): {len(ended) - len(bad)} done, "
         f"{len(bad)} not, {len(launcher.tracked)} still queued/running")
    line("api: cluster commands while waiting",
         f"{len(during)} ({', '.join(f'{k} {v}' for k, v in sorted(by_cmd.items()))}) = "
         f"{len(during) / max(waited, 1e-9) * 60:.1f} per minute")
    cost = sorted(d for _, c, d in during if c == "squeue")
    line("api: squeue time", f"{cost[len(cost) // 2] * 1000:.0f} ms median" if cost else "-")
    line("api: xpmbuild CPU while waiting", f"{cpu_wait:.2f} s "
         f"({cpu_wait / max(waited, 1e-9) * 100:.1f} % of one core)")
    ok_files = sum(os.path.exists(os.path.join(h.job_dir, EXIT_FILE)) for h in handles)
    line("api: exit files", str(ok_files))
    launcher.cancel()


XPM = """\
task trivial {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
for i in range(N) {
    trivial(i=i)
}
"""


def bench_cli(n: int, partition: str, poll: float, root: str):
    proj = os.path.join(root, "cli")
    os.makedirs(proj)
    xpm = os.path.join(proj, "scale.xpm")
    with open(xpm, "w") as f:
        f.write(XPM.replace("range(N)", f"range({n})"))
    with open(os.path.join(proj, "xpmbuild.toml"), "w") as f:
        f.write(f'[launchers.slurm]\ntype = "slurm"\npartition = "{partition}"\npoll = {poll}\n')
    ws = os.path.join(proj, "ws")
    env = dict(os.environ, XPM_SETTINGS_USER=os.devnull + "-none", PYTHONUNBUFFERED="1")
    env.pop("XPM_WORKSPACE", None)
    # output to files, not pipes: the --json document of N jobs would fill a pipe we do not
    # read while we watch the workspace
    out_f = open(os.path.join(root, "cli.out"), "w+")
    err_f = open(os.path.join(root, "cli.err"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "xpmbuild.cli", "run", xpm, "-w", ws,
                          "-l", "slurm", "--json"], cwd=proj, env=env,
                         stdout=out_f, stderr=err_f, text=True, start_new_session=True)
    jobs_dir = os.path.join(ws, "jobs", "trivial")
    t_submitted = None
    seen: set = set()
    try:
        while p.poll() is None:
            if t_submitted is None and os.path.isdir(jobs_dir):
                for d in os.listdir(jobs_dir):
                    if d in seen:
                        continue
                    try:
                        with open(os.path.join(jobs_dir, d, "state.json")) as f:
                            st = json.load(f)
                    except (OSError, ValueError):
                        continue
                    if st.get("launcher_id") and st.get("status") in ("queued", "running",
                                                                      "done"):
                        seen.add(d)
                if len(seen) == n:
                    t_submitted = time.monotonic() - t0
            time.sleep(0.05)
    except KeyboardInterrupt:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(timeout=60)
        raise
    total = time.monotonic() - t0
    out_f.seek(0)
    err_f.seek(0)
    out, err = out_f.read(), err_f.read()
    out_f.close()
    err_f.close()
    try:
        summary = json.loads(out)["summary"]
    except (ValueError, KeyError):
        summary = {"error": (err or out)[-300:]}
    line("cli: time to all queued/running (from the command's start)",
         f"{t_submitted:.2f} s" if t_submitted is not None else "not seen")
    line("cli: total time to done", f"{total:.1f} s (exit {p.returncode}, {summary})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="number of jobs (default 10000)")
    ap.add_argument("--array-max", type=int, default=1000, help="tasks per array (1000)")
    ap.add_argument("--parallelism", type=int, default=None,
                    help="array throttle %%K (default: none)")
    ap.add_argument("--window", type=float, default=180.0, help="seconds to wait for the "
                    "jobs before cancelling the rest (api; default 180)")
    ap.add_argument("--mode", choices=["api", "cli", "both"], default="api")
    ap.add_argument("--poll", type=float, default=30.0, help="the launcher's poll "
                    "interval, seconds (default 30, the launcher's default)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = ap.parse_args()

    from tests.services.harness import ServiceUnavailable, service_env
    try:
        env = service_env("slurm")
    except ServiceUnavailable as e:
        sys.exit(f"Slurm is not available here: {e}")
    partition = env.get("XPM_SLURM_PARTITION", "debug")
    root = tempfile.mkdtemp(prefix="xpm-slurm-scale-", dir="/tmp")
    os.chmod(root, 0o755)
    os.chdir(root)          # the jobs' WorkDir: how the cleanup below finds them
    try:
        if args.mode in ("api", "both"):
            bench_api(args.n, partition, args.poll, root, args.array_max, args.parallelism,
                      args.window)
        if args.mode in ("cli", "both"):
            if args.mode == "cli":
                line("jobs", str(args.n))
            bench_cli(args.n, partition, args.poll, root)
    finally:
        # nothing of ours left in the queue
        r = subprocess.run(["squeue", "-h", "-o", "%A|%Z"], capture_output=True, text=True)
        ours = sorted({ln.split("|")[0] for ln in r.stdout.splitlines()
                       if ln.split("|")[-1].startswith(root)})
        if ours:
            subprocess.run(["scancel", *ours], capture_output=True)
        if args.keep:
            line("workspace", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
