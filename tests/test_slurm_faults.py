"""The Slurm launcher when the cluster misbehaves, on the real Slurm of tests/services/:
the controller stopped mid-run (an outage is waited out, never turned into results), sbatch
during an outage, jobs cancelled from outside, dependents Slurm cancels, and how often the
cluster is asked (a PATH shim in front of the real commands counts the calls)."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import (cluster_project, describe, read, require_service,  # noqa: E402,F401
                          sacct_jobs, sh, slurm_jobs, slurm_outage, squeue_state, wait_for,
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
    shell "echo ran >> runs.log; sleep {sleep}; echo {{i}} > {{o}}"
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
