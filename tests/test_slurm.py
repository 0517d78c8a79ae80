"""The Slurm launcher on a real Slurm (tests/services/slurm-up.sh): submission, job arrays,
resource options, failures, time limits, cancellation, --detach with afterok, re-attaching
after xpmbuild was killed. Everything through the real ``xpmbuild`` command line and the
real Slurm commands (no stand-ins for the Slurm commands)."""
from __future__ import annotations

import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import (SMALL, SMALL_TASKS, cluster_project, describe,  # noqa: E402,F401
                          job_env, kill_group, read, require_service, scontrol_job, sh,
                          slurm_jobs, squeue_state, wait_for, wait_slurm_ended, wait_state)

pytestmark = [pytest.mark.service]

SETTINGS = """\
[launchers.slurm]
type = "slurm"
partition = "{partition}"
poll = 2
"""


@pytest.fixture
def slurm():
    env = require_service("slurm")
    return env


@pytest.fixture
def project(slurm, cluster_project):
    def make(xpm_text, **kw):
        return cluster_project(xpm_text, settings=SETTINGS.format(
            partition=slurm.get("XPM_SLURM_PARTITION", "debug")), prefix="xpm-slurm-", **kw)
    return make


def test_small_experiment_runs_on_slurm_with_one_array(project):
    proj = project(SMALL)
    doc = proj.run_json("-l", "slurm", timeout=180)
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    proj.check_small_done("slurm")

    # the four parallel jobs went out as ONE job array: ids BASE_0..BASE_3
    ids = sorted(proj.state(d)["launcher_id"] for d in proj.job_dirs("part"))
    bases = {i.split("_")[0] for i in ids}
    assert len(bases) == 1, ids
    base = bases.pop()
    assert ids == [f"{base}_{k}" for k in range(4)], ids
    # ... and each ran as the array element its record names
    for d in proj.job_dirs("part"):
        seen = job_env(d)
        lid = proj.state(d)["launcher_id"]
        assert seen["SLURM_ARRAY_JOB_ID"] == base, seen
        assert f"{base}_{seen['SLURM_ARRAY_TASK_ID']}" == lid, (seen, lid)
    # prepare and agg are plain jobs, distinct from the array
    singles = [proj.the_state(t)["launcher_id"] for t in ("prepare", "agg")]
    assert all("_" not in s for s in singles) and base not in singles, singles
    # Slurm itself saw exactly these jobs, all COMPLETED
    submitted = slurm_jobs(proj.root)
    assert sorted(j["id"] for j in submitted) == sorted(ids + singles), submitted
    assert {j["state"] for j in submitted} == {"COMPLETED"}, submitted

    # a second run is a no-op: nothing ran, nothing was submitted
    states_before = {d: st for d, st in proj.states().items()}
    doc = proj.run_json("-l", "slurm", timeout=60)
    assert all(n["status"] == "done" and not n["will_run"] for n in doc["nodes"]), doc["nodes"]
    assert proj.states() == states_before
    assert len(slurm_jobs(proj.root)) == len(submitted)


def test_requires_become_sbatch_options(project):
    proj = project("""\
        task big {
            requires cpus=2, mem="100M", time="5m"
            output o = "o.txt"
            shell "nproc > {o}; sleep 3"
        }
        big()
        """)
    p = proj.background("-l", "slurm")
    st = wait_state(proj, "big", lambda s: s.get("launcher_id"), 60, proc=p,
                    what="the job to be submitted")
    lid = st["launcher_id"]
    # while it is pending or running: squeue's %C (cpus) %m (memory) %l (time limit)
    line = wait_for(lambda: sh("squeue", "-h", "-j", lid, "-o", "%C %m %l").stdout.strip(),
                    10, what="squeue to list the job")
    assert line.split() == ["2", "100M", "5:00"], line
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, f"{out}\n{err}"
    # scontrol agrees (the job stays known MinJobAge after it ended)
    job = scontrol_job(lid)
    assert job["NumCPUs"] == "2" and job["CPUs/Task"] == "2", job
    assert job["MinMemoryNode"] == "100M", job
    assert job["TimeLimit"] == "00:05:00", job
    assert job["JobState"] == "COMPLETED", job
    assert proj.output("big", "o.txt").strip() == b"2"     # the cgroup gave it 2 cpus


def test_exit_code_is_reported(project):
    proj = project("""\
        task bad {
            output o = "o.txt"
            shell "echo going to fail >&2; exit 3"
        }
        task after {
            b: bad
            output o = "o.txt"
            shell "touch {o}"
        }
        after(b=bad())
        """)
    r = proj.run("-l", "slurm", expect=1, timeout=120)
    st = proj.the_state("bad")
    assert st["status"] == "failed", st
    assert st["exit_code"] == 3, st
    assert "exit code 3" in (st.get("reason") or ""), st
    assert st["launcher"] == "slurm" and st["launcher_id"], st
    assert squeue_state(st["launcher_id"]) == "FAILED"
    assert "going to fail" in read(os.path.join(proj.job_dir("bad"), "stderr.log"))
    # the dependent never ran
    for d in proj.job_dirs("after"):
        assert (proj.state(d) or {}).get("status") != "done"
    assert "exit code 3" in r.stdout + r.stderr


@pytest.mark.slow
def test_time_limit_is_reported_as_timeout(project):
    proj = project("""\
        task forever {
            requires time="1m"
            output o = "o.txt"
            shell "sleep 200; touch {o}"
        }
        forever()
        """)
    t0 = time.monotonic()
    r = proj.run("-l", "slurm", expect=1, timeout=200)
    took = time.monotonic() - t0
    st = proj.the_state("forever")
    assert st["status"] == "failed", st
    reason = st.get("reason") or ""
    assert "TIMEOUT" in reason or "time limit" in reason, st
    assert squeue_state(st["launcher_id"]) == "TIMEOUT"
    assert 55 < took < 150, took        # killed by its 1 minute limit, not by the sleep
    assert "time limit" in (r.stdout + r.stderr).lower() or "TIMEOUT" in r.stdout + r.stderr
    assert not os.path.exists(os.path.join(proj.job_dir("forever"), "o.txt"))


LONG = """\
task long {
    output o = "o.txt"
    shell "sleep 300; touch {o}"
}
task after {
    l: long
    output o = "o.txt"
    shell "touch {o}"
}
after(l=long())
"""


def _running_long(proj):
    """Start ``xpmbuild run`` in the background; return it and the long job's state once
    Slurm runs the job."""
    p = proj.background("-l", "slurm")
    st = wait_state(proj, "long", lambda s: s.get("launcher_id"), 60, proc=p,
                    what="the long job to be submitted")
    wait_for(lambda: squeue_state(st["launcher_id"]) == "RUNNING", 60, 0.3,
             what="Slurm to run the long job")
    return p, st


def test_state_and_status_say_running_while_slurm_runs_the_job(project):
    # lifecycle words are the same everywhere: once Slurm runs the job, the record and
    # `xpmbuild status` (from another terminal) say running, not queued
    proj = project(LONG)
    p, st = _running_long(proj)
    try:
        wait_state(proj, "long", lambda s: s["status"] == "running", 15, proc=p,
                   what="state.json to say running (it still says "
                        f"{proj.the_state('long')['status']!r})")
        doc = proj.status_json()
        node = [n for n in doc["nodes"] if n["task"] == "long"][0]
        assert node["status"] == "running", node
    finally:
        os.killpg(p.pid, signal.SIGINT)
        p.communicate(timeout=60)


def _check_cancelled(proj, st):
    lid = st["launcher_id"]
    wait_for(lambda: squeue_state(lid) == "CANCELLED", 30, 0.3,
             what=f"Slurm job {lid} to be CANCELLED")
    final = proj.the_state("long")
    assert final["status"] in ("cancelled", "failed"), final
    assert final["status"] != "done"
    assert final["launcher_id"] == lid
    for d in proj.job_dirs("after"):
        assert (proj.state(d) or {}).get("status") != "done"
    return final


def test_jobs_kill_cancels_the_slurm_job(project):
    proj = project(LONG)
    p, st = _running_long(proj)
    short = f"long/{st['id'][:8]}"
    r = proj.cmd("jobs", "kill", short, "-w", proj.ws, timeout=60, expect=0)
    assert "cancelled" in r.stdout, describe(r)
    out, err = p.communicate(timeout=60)      # the run sees the cancellation and ends
    assert p.returncode != 0, f"{out}\n{err}"
    final = _check_cancelled(proj, st)
    assert final["status"] == "cancelled", final


def test_interrupt_cancels_the_slurm_job(project):
    proj = project(LONG)
    p, st = _running_long(proj)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
    final = _check_cancelled(proj, st)
    assert final["status"] == "cancelled", final


def test_interrupt_with_leave_running_keeps_the_job_and_the_next_run_reattaches(project):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 10; echo slept > {o}"
        }
        nap()
        """)
    p = proj.background("-l", "slurm", "--leave-running")
    st = wait_state(proj, "nap", lambda s: s.get("launcher_id"), 60, proc=p,
                    what="the job to be submitted")
    lid = st["launcher_id"]
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, f"exit {p.returncode}\n{out}\n{err}"
    assert squeue_state(lid) in ("PENDING", "RUNNING"), squeue_state(lid)   # left alone
    assert proj.the_state("nap")["status"] in ("queued", "running")
    r = proj.run("-l", "slurm", timeout=120)
    final = proj.the_state("nap")
    assert final["status"] == "done" and final["launcher_id"] == lid, (final, describe(r))
    assert [j["id"] for j in slurm_jobs(proj.root)] == [lid]
    assert read(os.path.join(proj.job_dir("nap"), "runs.log")) == "ran\n"


def test_detach_submits_the_graph_with_afterok(project):
    proj = project(SMALL.replace("seq 10 10 40 > {data}", "sleep 4; seq 10 10 40 > {data}"))
    t0 = time.monotonic()
    r = proj.run("-l", "slurm", "--detach", timeout=60)
    took = time.monotonic() - t0
    assert took < 15, f"--detach took {took:.1f}s: it must not wait for the jobs"
    states = proj.states()
    assert sum(SMALL_TASKS.values()) == len(states), states
    ids = {}
    for d, st in states.items():
        assert st["status"] in ("queued", "running"), st
        assert st["launcher"] == "slurm" and st["launcher_id"], st
        ids[d] = str(st["launcher_id"])
    # the dependents wait on their dependencies with afterok (while prepare sleeps)
    prep = ids[proj.job_dir("prepare")]
    for d in proj.job_dirs("part"):
        job = scontrol_job(ids[d])
        assert job["Dependency"].startswith(f"afterok:{prep.split('_')[0]}"), job
    agg = scontrol_job(ids[proj.job_dir("agg")])
    dep = agg["Dependency"]
    assert dep.startswith("afterok:"), agg
    for d in proj.job_dirs("part"):
        assert ids[d].split("_")[0] in dep, (ids[d], dep)

    # nobody watches: wait for Slurm to run them all, then `status` reconciles
    ended = wait_slurm_ended(list(ids.values()), timeout=150)
    assert set(ended.values()) == {"COMPLETED"}, ended
    doc = proj.status_json()
    assert doc["summary"].get("done") == len(ids), doc["summary"]
    assert {n["status"] for n in doc["nodes"]} == {"done"}, doc["nodes"]
    for d, st in proj.states().items():
        assert st["status"] == "done" and st.get("exit_code") == 0, (d, st)
    proj.check_small_done("slurm")
    # and the next run has nothing to do, submits nothing
    before = len(slurm_jobs(proj.root))
    doc = proj.run_json("-l", "slurm", timeout=60)
    assert all(n["status"] == "done" and not n["will_run"] for n in doc["nodes"]), doc["nodes"]
    assert len(slurm_jobs(proj.root)) == before


def test_detach_then_status_records_results_in_dependency_order(project, slurm):
    # nodes where the jobs cannot record their own result (no xpmbuild at that `python`, as
    # on a cluster reached through ssh): `xpmbuild status` records them from the exit files.
    # A dependent's record must carry its dependencies' real outputs, whatever the order
    # status reads the folders in (agg/, part/, prepare/ sort before their dependencies),
    # so that the next run has nothing to do.
    proj = project(SMALL)
    proj.write_settings(SETTINGS.format(partition=slurm.get("XPM_SLURM_PARTITION", "debug"))
                        # an interpreter without xpmbuild: the job cannot record itself
                        + f'python = "{sys.executable} -I -S"\n')
    proj.run("-l", "slurm", "--detach", timeout=60)
    ids = [str(st["launcher_id"]) for st in proj.states().values()]
    ended = wait_slurm_ended(ids, timeout=150)
    assert set(ended.values()) == {"COMPLETED"}, ended
    wait_for(lambda: all(os.path.exists(os.path.join(d, ".xpm-exit")) for d in proj.states()),
             10, what="the exit files")
    assert {st["status"] for st in proj.states().values()} == {"queued"}   # nobody recorded
    doc = proj.status_json()
    assert {n["status"] for n in doc["nodes"]} == {"done"}, doc["nodes"]
    for d, st in proj.states().items():
        assert st["status"] == "done", (d, st)
    proj.check_small_done("slurm")
    part = proj.state(proj.job_dirs("part")[0])
    prep_outputs = proj.the_state("prepare")["outputs"]
    assert part["trace"]["deps"] == {proj.the_state("prepare")["id"]:
                                     {k: v[3] for k, v in prep_outputs.items()}}, part["trace"]
    doc = proj.run_json("-l", "slurm", timeout=60)
    stale = [(n["task"], n["reasons"]) for n in doc["nodes"] if n["will_run"]]
    assert not stale, stale


def test_detach_prints_the_slurm_job_ids(project):
    # launchers.md: `--detach` "submits every stale job at once ..., prints the Slurm job ids,
    # and exits"
    proj = project(SMALL)
    r = proj.run("-l", "slurm", "--detach", timeout=60)
    printed = r.stdout + r.stderr
    missing = [(d.split("/jobs/")[1][:20], st["launcher_id"]) for d, st in proj.states().items()
               if str(st["launcher_id"]) not in printed]
    assert not missing, f"job ids not printed: {missing}\n{describe(r)}"


def test_detach_beyond_max_jobs_is_refused_before_anything_is_submitted(project, slurm):
    """max_jobs says how many jobs may be queued or running at once on a launcher (the
    rest wait in xpmbuild); a detached run leaves no xpmbuild to wait in, so one that would
    submit more is refused with exit 2, naming the setting, before anything is submitted;
    within the limit it goes out."""
    proj = project("""\
        task t {
            i: int
            output o = "o.txt"
            shell "echo {i} > {o}"
        }
        for i in range(3) { t(i=i) }
        """)
    proj.write_settings(SETTINGS.format(partition=slurm.get("XPM_SLURM_PARTITION", "debug"))
                        + "max_jobs = 2\n")
    r = proj.run("-l", "slurm", "--detach", expect=2, timeout=60)
    assert "would submit 3 jobs at once to launcher slurm, whose max_jobs is 2" in r.stderr, \
        describe(r)
    assert "Traceback" not in r.stderr
    assert slurm_jobs(proj.root) == [] and proj.states() == {}, proj.states()
    # a selection within the limit is submitted
    proj.write_settings(SETTINGS.format(partition=slurm.get("XPM_SLURM_PARTITION", "debug"))
                        + "max_jobs = 3\n")
    proj.run("-l", "slurm", "--detach", timeout=60)
    states = proj.states()
    assert len(states) == 3 and all(st.get("launcher_id") for st in states.values()), states


def test_restarted_run_reattaches_instead_of_resubmitting(project):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 15; echo slept > {o}"
        }
        nap()
        """)
    p = proj.background("-l", "slurm")
    st = wait_state(proj, "nap", lambda s: s.get("launcher_id") and
                    s["status"] in ("queued", "running"), 60, proc=p,
                    what="the job to be queued or running")
    lid = st["launcher_id"]
    kill_group(p.pid, signal.SIGKILL)         # xpmbuild dies; the Slurm job does not
    p.communicate(timeout=10)
    assert squeue_state(lid) in ("PENDING", "RUNNING"), squeue_state(lid)
    assert proj.the_state("nap")["status"] in ("queued", "running")

    r = proj.run("-l", "slurm", timeout=120)
    final = proj.the_state("nap")
    assert final["status"] == "done", (final, describe(r))
    assert final["launcher_id"] == lid, final          # the same Slurm job
    submitted = slurm_jobs(proj.root)
    assert [j["id"] for j in submitted] == [lid], submitted     # no second submission
    assert read(os.path.join(proj.job_dir("nap"), "runs.log")) == "ran\n"
    assert proj.output("nap", "o.txt") == b"slept\n"
    assert "re-attached" in r.stdout + r.stderr or lid in r.stdout + r.stderr, describe(r)
