"""The Slurm launcher when the cluster misbehaves, on the real Slurm of tests/services/:
the controller stopped mid-run (an outage is waited out, never turned into results), sbatch
during an outage, jobs cancelled from outside, dependents Slurm cancels, and how often the
cluster is asked (a PATH shim in front of the real commands counts the calls)."""
from __future__ import annotations

import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import (CallLog, cluster_project, describe, kill_group,  # noqa: E402,F401
                          read, require_service, sacct_jobs, sh, slurm_jobs, slurm_outage,
                          shadow_command, squeue_state, wait_for, wait_slurm_ended,
                          wait_state)

pytestmark = [pytest.mark.service]

SETTINGS = """\
[launchers.slurm]
type = "slurm"
partition = "{partition}"
poll = {poll}
"""

# N jobs of one task (one array); 2 CPUs on the test node: 2 run, the others pend
ARRAY = """\
task work {{
    i: int
    output o = "o.txt"
    shell "echo ran >> runs.log; sleep {sleep}; echo {{i}} > {{o}}; date +%s.%N > t_end"
}}
for i in range({n}) {{
    work(i=tag(i))
}}
"""


@pytest.fixture
def slurm():
    return require_service("slurm")


@pytest.fixture
def project(slurm, cluster_project):
    def make(xpm_text, poll=2, **kw):
        return cluster_project(xpm_text, settings=SETTINGS.format(
            partition=slurm.get("XPM_SLURM_PARTITION", "debug"), poll=poll),
            prefix="xpm-slurmf-", **kw)
    return make


def _each_ran_once(proj, n):
    dirs = proj.job_dirs("work")
    assert len(dirs) == n, dirs
    for d in dirs:
        st = proj.state(d)
        assert st["status"] == "done", (d, st)
        assert read(os.path.join(d, "runs.log")) == "ran\n", d
    # the accounting holds exactly one Slurm job per xpmbuild job
    acct = wait_for(lambda: (lambda j: j if len(j) >= n and "[" not in "".join(j) else None)(
        sacct_jobs(proj.root)), 60, 1, what="sacct to list the jobs")
    assert len(acct) == n, acct
    assert sorted(proj.state(d)["launcher_id"] for d in dirs) == acct


@pytest.mark.slow
def test_controller_outage_with_pending_array_tasks_is_waited_out(project):
    n = 6
    proj = project(ARRAY.format(n=n, sleep=12))
    p = proj.background("-l", "slurm")
    # mid-run: the first tasks ended, others run, the rest pend
    def mid_run():
        states = [j["state"] for j in slurm_jobs(proj.root)]
        return "COMPLETED" in states and "PENDING" in states
    wait_for(mid_run, 120, 0.3, what="ended, running and pending array tasks")
    with slurm_outage():
        time.sleep(20)          # the outage itself (what the test is about), not a wait
        assert p.poll() is None, describe_proc(p)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    _each_ran_once(proj, n)
    # it said on screen that the cluster did not answer
    assert "not answer" in out + err, f"{out}\n{err}"


def describe_proc(p):
    out, err = p.communicate(timeout=30)
    return f"xpmbuild ended during the outage: exit {p.returncode}\n{out}\n{err}"


@pytest.mark.slow
def test_sbatch_during_an_outage_is_retried_not_a_failure(project):
    proj = project(ARRAY.format(n=2, sleep=1))
    log = CallLog(proj.root)
    proj.env = log.env(proj.env)
    with slurm_outage():
        p = proj.background("-l", "slurm")
        # sbatch fails (no controller) and is tried again, with back-off
        wait_for(lambda: len(log.calls("sbatch")) >= 2, 120, 0.5, what="a second sbatch")
        assert p.poll() is None, describe_proc(p)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    _each_ran_once(proj, 2)
    assert "does not answer" in out + err, f"{out}\n{err}"


def test_a_pending_task_cancelled_from_outside_is_cancelled(project):
    proj = project(ARRAY.format(n=4, sleep=8))
    p = proj.background("-l", "slurm", "-k")
    pending = wait_for(lambda: [j["id"] for j in slurm_jobs(proj.root)
                                if j["state"] == "PENDING" and "[" not in j["id"]], 90, 0.3,
                       what="a pending array task")
    victim = pending[-1]
    sh("scancel", victim)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 1, f"exit {p.returncode}\n{out}\n{err}"
    by_id = {proj.state(d)["launcher_id"]: proj.state(d) for d in proj.job_dirs("work")}
    assert by_id[victim]["status"] == "cancelled", by_id[victim]
    assert "cancelled in Slurm" in by_id[victim]["reason"], by_id[victim]
    others = [st["status"] for lid, st in by_id.items() if lid != victim]
    assert others == ["done"] * 3, by_id


def test_a_reattached_job_records_queued_then_running(project):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 8; echo slept > {o}"
        }
        nap()
        """)
    # the node is busy: the job pends until the blocker ends
    blocker = sh("sbatch", "--parsable", "-c", "2", "-o", "/dev/null", "--chdir", "/tmp",
                 "--wrap", "sleep 15").stdout.strip()
    try:
        p = proj.background("-l", "slurm")
        st = wait_state(proj, "nap", lambda s: s.get("launcher_id"), 60, proc=p,
                        what="the job to be submitted")
        kill_group(p.pid, signal.SIGKILL)
        p.communicate(timeout=10)
        assert squeue_state(st["launcher_id"]) == "PENDING"
        assert proj.the_state("nap")["status"] == "queued"
        p = proj.background("-l", "slurm")
        wait_state(proj, "nap", lambda s: s["status"] == "running", 90, proc=p,
                   what="the re-attached job's record to say running")
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
        final = proj.the_state("nap")
        assert final["status"] == "done" and final["launcher_id"] == st["launcher_id"], final
    finally:
        sh("scancel", blocker, check=False)


def test_detached_dependent_cancelled_by_slurm_is_recorded_as_dependency_failed(project):
    proj = project("""\
        task bad {
            output o = "o.txt"
            shell "exit 3"
        }
        task after {
            b: bad
            output o = "o.txt"
            shell "touch {o}"
        }
        after(b=bad())
        """)
    proj.run("-l", "slurm", "--detach", timeout=60)
    ids = [str(st["launcher_id"]) for st in proj.states().values()]
    ended = wait_slurm_ended(ids, timeout=120)
    after_id = str(proj.the_state("after")["launcher_id"])
    assert ended[after_id] == "CANCELLED", ended
    doc = proj.status_json()
    node = [n for n in doc["nodes"] if n["task"] == "after"][0]
    assert node["status"] == "failed", node
    assert any("dependency failed" in r for r in node["reasons"]), node
    # ... and that is on record now (squeue forgets the job after MinJobAge)
    st = proj.the_state("after")
    assert st["status"] == "failed" and "dependency failed" in st["reason"], st
    assert proj.the_state("bad")["status"] == "failed"


@pytest.mark.slow
def test_status_during_an_outage_does_not_call_detached_jobs_lost(project):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "sleep 60; echo slept > {o}"
        }
        nap()
        """)
    proj.run("-l", "slurm", "--detach", timeout=60)
    lid = proj.the_state("nap")["launcher_id"]
    wait_for(lambda: squeue_state(lid) == "RUNNING", 60, 0.3, what="the job to run")
    with slurm_outage():
        doc = proj.status_json(timeout=180)
    node = doc["nodes"][0]
    assert node["status"] in ("queued", "running"), node
    assert any("did not answer" in r for r in node["reasons"]), node
    assert proj.the_state("nap")["status"] in ("queued", "running")
    sh("scancel", lid, check=False)


KILL_AFTER_SBATCH = """#!/bin/sh
# runs the real sbatch, then kills the xpmbuild that ran it before it records the job id
out=$({real} "$@"); rc=$?
echo "$out"
kill -9 $PPID
exit $rc
"""


def test_a_submission_killed_before_its_id_was_recorded_is_found_by_name(project):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 15; echo slept > {o}"
        }
        nap()
        """)
    env = shadow_command(proj, "sbatch", KILL_AFTER_SBATCH)
    r = proj.run("-l", "slurm", expect=None, timeout=60)
    assert r.returncode == -9, describe(r)              # killed right after sbatch
    st = proj.the_state("nap")
    assert st["status"] == "queued" and not st.get("launcher_id"), st
    submitted = wait_for(lambda: slurm_jobs(proj.root), 30, what="the Slurm job")
    assert len(submitted) == 1, submitted
    proj.env = env
    r = proj.run("-l", "slurm", timeout=120)
    final = proj.the_state("nap")
    assert final["status"] == "done", (final, describe(r))
    assert final["launcher_id"] == submitted[0]["id"], (final, submitted)
    assert len(slurm_jobs(proj.root)) == 1, slurm_jobs(proj.root)     # not submitted twice
    assert read(os.path.join(proj.job_dir("nap"), "runs.log")) == "ran\n"


def _batches(times, gap=1.5):
    """How many groups of nearby instants (jobs that ended together)."""
    n, last = 0, None
    for t in sorted(times):
        if last is None or t - last > gap:
            n += 1
        last = t
    return n


@pytest.mark.slow
def test_polling_is_polite_with_the_default_poll(project, slurm, cluster_project):
    # the default poll (30 s): no `poll` in the settings
    n = 50
    proj = cluster_project(ARRAY.format(n=n, sleep=5), prefix="xpm-slurmf-", settings=f"""\
[launchers.slurm]
type = "slurm"
partition = "{slurm.get('XPM_SLURM_PARTITION', 'debug')}"
""")
    log = CallLog(proj.root)
    proj.env = log.env(proj.env)
    t0 = time.time()
    r = proj.run("-l", "slurm", timeout=900)
    took = time.time() - t0
    assert r.returncode == 0, describe(r)
    dirs = proj.job_dirs("work")
    assert all(proj.state(d)["status"] == "done" for d in dirs)
    ends = [float(read(os.path.join(d, "t_end"))) for d in dirs]
    batches = _batches(ends)
    squeues = [t for t, _, _ in log.calls("squeue")]
    saccts = [t for t, _, _ in log.calls("sacct")]
    gaps = [b - a for a, b in zip(squeues, squeues[1:])]
    note = (f"{took:.0f} s, {len(squeues)} squeue, {len(saccts)} sacct, {batches} batches "
            f"of ended jobs, {len(log.calls('sbatch'))} sbatch")
    print(note)
    assert took > 90, note                 # the run was long enough to tell
    assert all(g >= 29 for g in gaps), (gaps, note)      # squeue at most every 30 s
    assert len(squeues) <= took / 30 + 1, note
    assert len(squeues) + len(saccts) <= took / 30 + 1 + batches, note
    assert len(log.calls("sbatch")) <= 2, note           # one array


def test_resources_come_from_one_sacct_when_jobs_end(project):
    proj = project(ARRAY.format(n=2, sleep=3))
    log = CallLog(proj.root)
    proj.env = log.env(proj.env)
    proj.run("-l", "slurm", timeout=120)
    for d in proj.job_dirs("work"):
        res = proj.state(d).get("resources")
        assert res and set(res) <= {"wall", "cpu", "max_rss"}, res
        assert 3 <= res["wall"] < 60, res
        assert res.get("max_rss", 1) > 0 and res.get("cpu", 0) >= 0, res
    saccts = [a for _, _, a in log.calls("sacct")]
    assert saccts and all("-j" in a.split() for a in saccts), saccts     # never a plain sacct
    assert all("Elapsed,TotalCPU,MaxRSS" in a for a in saccts), saccts
