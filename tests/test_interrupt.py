"""End-to-end tests of interruption: Ctrl-C / SIGTERM of ``xpmbuild run``, and kill -9 of
xpmbuild (and of its job) in the middle of a build, followed by another run.

``xpmbuild run`` is started in its own session (its own process group, like a shell job);
the local launcher starts each job in a session of its own, so a kill -9 of xpmbuild
leaves the job running. The job's duration is read from a file next to the .xpm (not an
input of the job), so a test can shorten the next attempt without changing the job.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import (XPMBUILD, Project, alive, group_members, kill_group,  # noqa: E402
                       proc_state, read, wait_for)

EXPERIMENT = """\
task slow {
    output o = "o.txt"
    shell "echo slow >> {here}/runs.log; echo started > {o}.part; sleep $(cat {here}/duration); echo finished >> {o}.part; mv {o}.part {o}"
}
task after {
    d: slow
    output o = "o.txt"
    shell "echo after >> {here}/runs.log; cat {d.o} > {o}; echo after >> {o}"
}
after(d=slow())
"""


class Exp(Project):
    def executions(self) -> list[str]:
        try:
            return sorted(read(self.path("runs.log")).split())
        except FileNotFoundError:
            return []

    def slow_state(self):
        dirs = self.job_dirs("slow")
        return self.state(dirs[0]) if dirs else None

    def start_until_running(self, *args):
        """Start ``xpmbuild run`` in the background; return it and the running state."""
        p = self.popen(*args)
        self.procs.append(p)

        def running():
            if p.poll() is not None:
                raise AssertionError("xpmbuild ended early\n" + p.stdout.read() + p.stderr.read())
            st = self.slow_state()
            return st if st and st.get("status") == "running" else None
        st = wait_for(running, 20, what="the slow job to be running")
        pid = st["launcher_id"]
        assert isinstance(pid, int) and alive(pid), st
        # the job really started (its first line is written)
        wait_for(lambda: os.path.exists(os.path.join(self.job_dirs("slow")[0], "o.txt.part")),
                 10, what="the job's first output")
        return p, st


@pytest.fixture
def proj(tmp_path):
    proj = Exp(tmp_path, EXPERIMENT, {"duration": "30\n"})
    proj.procs = []
    yield proj
    # leave nothing behind, whatever happened
    for p in proj.procs:
        if p.poll() is None:
            kill_group(p.pid)
            p.wait(5)
    for d in proj.job_dirs("slow"):
        st = proj.state(d) or {}
        if isinstance(st.get("launcher_id"), int):
            kill_group(st["launcher_id"])


def no_job_processes(pid):
    return not alive(pid) and not group_members(pid)


def test_interrupt_does_not_depend_on_the_sigint_disposition_of_the_test_run(proj):
    """BUG (tests): a test run started with SIGINT ignored (``pytest &`` from a script)
    passed that on to the xpmbuild it started, and a Python started with SIGINT ignored
    never sees Ctrl-C: the interrupt tests failed. Their children reset it (preexec_fn)."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)     # as under `pytest &`
    try:
        p, st = proj.start_until_running()
    finally:
        signal.signal(signal.SIGINT, old)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
    assert proj.slow_state()["status"] == "cancelled"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_cancels_the_running_job(proj, sig):
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    t0 = time.monotonic()
    os.killpg(p.pid, sig)                       # what a terminal's Ctrl-C does
    out, err = p.communicate(timeout=20)
    elapsed = time.monotonic() - t0
    assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
    assert elapsed < 8, f"xpmbuild took {elapsed:.1f}s to stop"
    # the job (bash and its sleep) is gone
    wait_for(lambda: no_job_processes(pid), 5, what="the job's processes to be gone")

    d = proj.job_dirs("slow")[0]
    st = proj.state(d)
    assert st["status"] == "cancelled", st
    assert not os.path.exists(os.path.join(d, "o.txt"))
    # nothing is marked done that did not finish
    for task in ("slow", "after"):
        for jd in proj.job_dirs(task):
            assert (proj.state(jd) or {}).get("status") != "done"

    doc = proj.plan_json()
    slow = proj.node("slow")
    assert slow["will_run"] and slow["status"] == "cancelled", slow
    assert any("cancelled" in r for r in slow["reasons"]), slow

    # the next run reruns it (quickly this time) and finishes the build
    proj.write("duration", "0\n")
    doc = proj.run_json()
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.executions() == ["after", "slow", "slow"]
    assert proj.output("after", "o.txt") == b"started\nfinished\nafter\n"


@pytest.mark.slow
def test_kill9_of_xpmbuild_then_rerun_reattaches_to_the_running_job(proj):
    proj.write("duration", "2\n")
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)
    p.wait(10)
    assert alive(pid), "the job should survive its xpmbuild (own session)"

    t0 = time.monotonic()
    doc = proj.run_json(timeout=60)
    assert time.monotonic() - t0 > 0.5       # it waited for the job, it did not skip it
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    # the job ran once: re-attached, not started a second time
    assert proj.executions() == ["after", "slow"]
    st = proj.slow_state()
    assert st["status"] == "done" and st["exit_code"] == 0, st
    assert st["launcher_id"] == pid
    assert proj.output("after", "o.txt") == b"started\nfinished\nafter\n"
    proj.run()
    assert proj.executions() == ["after", "slow"]


def test_kill9_of_xpmbuild_job_finishes_alone_then_rerun(proj):
    proj.write("duration", "1\n")
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)
    p.wait(10)
    wait_for(lambda: not alive(pid), 15, what="the job to finish")
    doc = proj.run_json()
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.executions() == ["after", "slow"]         # not run again
    assert proj.slow_state()["status"] == "done"
    assert proj.output("after", "o.txt") == b"started\nfinished\nafter\n"


def test_job_records_its_own_result_when_xpmbuild_is_gone(proj):
    """BUG (engine, launchers/base.py wrapper_script + scheduler): launchers.md says "The
    result is written by the job itself (exit code and output hashes into state.json,
    atomically) so it is known even if xpmbuild was not running when the job ended". The
    wrapper only writes `.xpm-exit`; state.json keeps saying `running` forever, and
    `plan` (build.dry_run, which never looks at `.xpm-exit`) says the finished job is
    `lost` and will run again — while `run` then does not run it (plan and run disagree)."""
    proj.write("duration", "1\n")
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)
    p.wait(10)
    wait_for(lambda: not alive(pid), 15, what="the job to finish")
    time.sleep(0.2)
    st = proj.slow_state()
    assert st["status"] == "done" and st["exit_code"] == 0, st
    proj.plan_json()
    slow = proj.node("slow")
    assert slow["status"] == "done" and not slow["will_run"], slow


def test_plan_reports_an_orphaned_job_as_running(proj):
    """BUG (engine, build.py dry_run): after xpmbuild was killed, its job still runs in
    its own session, and `run` re-attaches to it (launchers.md) — but `plan` reports it as
    `lost` with "last build did not finish", i.e. as a job that would be started again.
    The job is running; `plan` should say so."""
    proj.write("duration", "3\n")
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)
    p.wait(10)
    assert alive(pid)
    proj.plan_json()
    slow = proj.node("slow")
    assert alive(pid), "the check came too late"
    assert slow["status"] == "running", slow


@pytest.mark.slow
def test_kill9_of_xpmbuild_and_its_job_then_rerun(proj):
    proj.write("duration", "30\n")
    p, st = proj.start_until_running()
    pid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)
    kill_group(pid, signal.SIGKILL)
    p.wait(10)
    # wait until the dead job is reaped by init, so that only the workspace tells its story
    # (the not-yet-reaped case is the next test)
    try:
        wait_for(lambda: proc_state(pid) is None, 10, what="the killed job to be reaped")
    except AssertionError:
        pytest.skip("killed processes are not reaped on this machine (PID 1 does not reap)")
    proj.plan_json()
    slow = proj.node("slow")
    assert slow["will_run"] and slow["status"] not in ("done", "running"), slow
    assert any("did not finish" in r or "lost" in r for r in slow["reasons"]), slow

    proj.write("duration", "0\n")
    doc = proj.run_json()
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.executions() == ["after", "slow", "slow"]
    assert proj.output("after", "o.txt") == b"started\nfinished\nafter\n"


DRIVER = r"""
import ctypes, glob, json, os, signal, subprocess, sys, time
# Become a child subreaper: the killed job is re-parented here and stays a zombie until
# we reap it -- as under an init that reaps slowly, or PID 1 of a container that never does.
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
cmd, ws = json.loads(sys.argv[1]), sys.argv[2]
p = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
deadline = time.time() + 20
st = None
while time.time() < deadline:
    for f in glob.glob(os.path.join(ws, "jobs", "slow", "*", "state.json")):
        try:
            st = json.load(open(f))
        except ValueError:
            st = None
    if st and st.get("status") == "running" and glob.glob(os.path.join(ws, "jobs", "slow", "*", "o.txt.part")):
        break
    time.sleep(0.05)
else:
    p.kill(); sys.exit("never running")
os.killpg(p.pid, signal.SIGKILL)
os.killpg(st["launcher_id"], signal.SIGKILL)
p.wait()
time.sleep(0.3)
open(os.path.join(os.path.dirname(ws), "duration"), "w").write("0\n")
r = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
print(json.dumps({"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr,
                  "zombie": open(f"/proc/{st['launcher_id']}/stat").read().split()[2]
                  if os.path.exists(f"/proc/{st['launcher_id']}") else None}))
while True:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    time.sleep(0.01)
"""


def test_kill9_of_both_then_immediate_rerun_with_the_dead_job_not_yet_reaped(proj):
    """BUG (engine, launchers/local.py LocalLauncher.recover): a killed job that is dead
    but not yet reaped (a zombie: its parent xpmbuild was killed and init has not reaped
    it yet — under many inits that takes a while, and in a container whose PID 1 never
    reaps it lasts forever) still has a /proc entry with the same start time, so
    `recover` re-attaches to it, it "ends" at once without an exit code, and the run
    fails with "the job ended without recording an exit code" instead of rerunning it.
    A zombie (state Z in /proc/PID/stat) should count as gone."""
    cmd = XPMBUILD + ["run", proj.file, "-w", proj.ws]
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cmd), proj.ws],
                       cwd=proj.root, env=proj.env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["zombie"] == "Z", "the scenario did not happen: the job was not a zombie"
    assert res["rc"] == 0, res["stdout"] + res["stderr"]
    doc = json.loads(res["stdout"])
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert proj.executions() == ["after", "slow", "slow"]


@pytest.mark.slow
def test_interrupt_also_stops_a_job_that_ignores_sigterm(tmp_path):
    """BUG (engine, launchers/local.py cancel/kill_after): Ctrl-C sends SIGTERM to the
    job's process group; the wrapper bash (the group leader, the pid in `launcher_id`)
    dies of it, so kill_after sees the job as ended and never sends SIGKILL — but the job
    itself ignores SIGTERM (`trap '' TERM`, as some training scripts do) and goes on
    running, orphaned, while state.json says `cancelled`; it can even finish later and
    write its outputs and `.xpm-exit` into the folder, or run twice at once with the
    next `xpmbuild run`. After the grace period every process of the group should be
    killed (SIGKILL to the group if any member is left, not only the leader)."""
    proj = Exp(tmp_path, EXPERIMENT.replace('shell "echo slow', 'shell "trap \'\' TERM; echo slow'),
               {"duration": "30\n"})
    proj.procs = []
    try:
        p, st = proj.start_until_running()
        pid = st["launcher_id"]
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
        assert proj.slow_state()["status"] == "cancelled"
        try:
            wait_for(lambda: no_job_processes(pid), 3, what="the job's processes to be gone")
        except AssertionError:
            left = group_members(pid)
            raise AssertionError(f"processes of the cancelled job still run: {left}: " + ", ".join(
                read(f"/proc/{x}/cmdline").replace("\0", " ") for x in left)) from None
    finally:
        for d in proj.job_dirs("slow"):
            st = proj.state(d) or {}
            if isinstance(st.get("launcher_id"), int):
                kill_group(st["launcher_id"])
