"""The OAR launcher on a real OAR 2.5 (tests/services/oar-up.sh): the small experiment,
exit codes (OAR's raw wait status decoded), walltime, and dependencies held by xpmbuild
(OAR has no afterok). OAR refuses root: the launcher submits as ``user = XPM_OAR_USER``,
so the project lives in a folder that user can traverse (see launcherutil)."""
from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import (SMALL, cluster_project, oar_job, read, require_service,  # noqa: E402,F401
                          sh, shadow_command, wait_for)

pytestmark = [pytest.mark.service]

SETTINGS = """\
[launchers.oar]
type = "oar"
user = "{user}"
poll = 2
"""


@pytest.fixture
def oar():
    return require_service("oar")


@pytest.fixture
def project(oar, cluster_project):
    def make(xpm_text, **kw):
        return cluster_project(xpm_text, settings=SETTINGS.format(
            user=oar.get("XPM_OAR_USER", "xpmtest")), prefix="xpm-oar-", **kw)
    return make


def test_small_experiment_runs_on_oar_with_dependencies_held(project, oar):
    proj = project(SMALL)
    doc = proj.run_json("-l", "oar", timeout=240)
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    proj.check_small_done("oar")

    # the jobs ran as the submitting user, in OAR, as the recorded OAR jobs
    user = oar.get("XPM_OAR_USER", "xpmtest")
    recs = {}
    for d, st in proj.states().items():
        rec = oar_job(st["launcher_id"])
        assert rec["state"] == "Terminated", rec
        assert rec.get("owner") == user, rec
        assert rec.get("exit_code") == 0, rec
        recs[d] = rec
    # the four parallel jobs went out in one oarsub (an array)
    arrays = {recs[d].get("array_id") for d in proj.job_dirs("part")}
    assert len(arrays) == 1, arrays
    # no afterok in OAR: xpmbuild held the dependents, so each was *submitted* only after
    # its dependencies had ended
    prep = recs[proj.job_dir("prepare")]
    for d in proj.job_dirs("part"):
        assert recs[d]["submissionTime"] >= prep["stopTime"], (recs[d], prep)
    agg = recs[proj.job_dir("agg")]
    assert agg["submissionTime"] >= max(recs[d]["stopTime"] for d in proj.job_dirs("part"))

    # a second run is a no-op
    before = proj.states()
    doc = proj.run_json("-l", "oar", timeout=60)
    assert all(n["status"] == "done" and not n["will_run"] for n in doc["nodes"]), doc["nodes"]
    assert proj.states() == before


def test_exit_code_is_decoded(project):
    # `three` leaves its exit file as usual; `raw` makes it impossible to write (a folder in
    # its place), so that only OAR's raw wait status (768 = exit 3) tells how it ended
    proj = project("""\
        task three {
            output o = "o.txt"
            shell "echo failing >&2; exit 3"
        }
        task raw {
            output o = "o.txt"
            shell "mkdir .xpm-exit; exit 3"
        }
        three()
        raw()
        """)
    r = proj.run("-l", "oar", "-k", expect=1, timeout=180)
    for task in ("three", "raw"):
        st = proj.the_state(task)
        assert st["status"] == "failed", st
        assert st["exit_code"] == 3, st
        assert "exit code 3" in st.get("reason", ""), st
        assert st["launcher"] == "oar", st
        rec = oar_job(st["launcher_id"])
        assert rec["state"] == "Terminated" and rec["exit_code"] == 768, rec
    assert "failing" in read(os.path.join(proj.job_dir("three"), "stderr.log"))
    assert "exit code 3" in r.stdout + r.stderr


@pytest.mark.slow
def test_walltime_is_reported(project):
    proj = project("""\
        task forever {
            requires time="0:00:15"
            output o = "o.txt"
            shell "sleep 200; touch {o}"
        }
        forever()
        """)
    t0 = time.monotonic()
    r = proj.run("-l", "oar", expect=1, timeout=180)
    took = time.monotonic() - t0
    st = proj.the_state("forever")
    assert st["status"] == "failed", st
    assert "walltime" in st.get("reason", "") or "time limit" in st.get("reason", ""), st
    rec = oar_job(st["launcher_id"])
    assert rec["state"] == "Error", rec
    assert any("WALLTIME" in e.get("type", "") for e in rec.get("events") or []), rec
    assert rec["walltime"] == 15, rec          # what the task asked, in seconds
    assert took < 120, took
    assert "time limit" in r.stdout + r.stderr or "walltime" in r.stdout + r.stderr


# runs the real runuser; after an oarsub, kills the xpmbuild that ran it (its parent)
# before it records the job id (the shim is root's: the submission runs as the OAR user)
KILL_AFTER_OARSUB = """#!/bin/sh
{real} "$@"; rc=$?
case " $* " in *" oarsub "*) kill -9 $PPID;; esac
exit $rc
"""


def oar_jobs_of(job_dir: str) -> list[dict]:
    """The OAR jobs (ended ones too) launched in ``job_dir`` by xpmbuild (named xpm-...)."""
    import json
    out = sh("oarstat", "-f", "-J", "--sql", "job_name like 'xpm-%'").stdout.strip()
    data = json.loads(out) if out else {}
    return [dict(v, id=k) for k, v in data.items() if v.get("launchingDirectory") == job_dir]


def test_a_submission_killed_before_its_id_was_recorded_is_found_by_name(project):
    """Killed between oarsub and the record of the job id, the run leaves a record that
    says queued without an id; the next run finds the OAR job by its name (the script's,
    which lists the folder) and re-attaches to it: the job runs once, never submitted twice
    into the same folder."""
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 3; echo slept > {o}"
        }
        nap()
        """)
    env = shadow_command(proj, "runuser", KILL_AFTER_OARSUB)
    r = proj.run("-l", "oar", expect=None, timeout=60)
    assert r.returncode == -9, r.stderr             # killed right after oarsub
    st = proj.the_state("nap")
    assert st["status"] == "queued" and not st.get("launcher_id"), st
    job_dir = proj.job_dir("nap")
    submitted = wait_for(lambda: oar_jobs_of(job_dir), 30, what="the OAR job")
    assert len(submitted) == 1 and submitted[0]["name"].startswith("xpm-nap-"), submitted
    proj.env = env
    r = proj.run("-l", "oar", timeout=180)
    final = proj.the_state("nap")
    assert final["status"] == "done", (final, r.stderr)
    assert final["launcher_id"] == submitted[0]["id"], (final, submitted)
    assert len(oar_jobs_of(job_dir)) == 1, oar_jobs_of(job_dir)        # not submitted twice
    assert read(os.path.join(job_dir, "runs.log")) == "ran\n"
