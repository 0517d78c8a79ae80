"""Retries and routing on a real Slurm (tests/services/slurm-up.sh), through the real CLI:
a job that hits its Slurm time limit (TIMEOUT) is resubmitted with its time escalated and
succeeds on its second attempt; one run sends one task to Slurm and the others to the
local launcher, with dependencies across them."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import cluster_project, read, require_service, squeue_state  # noqa: E402,F401

pytestmark = [pytest.mark.service]

SETTINGS = """\
[launchers.slurm]
type = "slurm"
partition = "{partition}"
poll = 2
"""


@pytest.fixture
def project(cluster_project):
    env = require_service("slurm")

    def make(xpm_text, extra=""):
        return cluster_project(xpm_text, settings=SETTINGS.format(
            partition=env.get("XPM_SLURM_PARTITION", "debug")) + extra,
            prefix="xpm-retry-slurm-")
    return make


@pytest.mark.slow
def test_timeout_on_slurm_is_retried_with_escalated_time_and_succeeds(project):
    # attempt 1 sleeps past its 1 minute; attempt 2 needs 70 s: more than the first
    # limit, less than the escalated one (2 minutes)
    proj = project("""\
        task train {
            requires time="1m", retries=1, on_retry={"time": 2}
            output model = "model.txt"
            shell "echo $XPM_ATTEMPT >> attempts; if [ $XPM_ATTEMPT = 1 ]; then sleep 300; else sleep 70; fi; cat attempts > {model}"
        }
        train()
        """)
    proj.run("-l", "slurm", timeout=600)
    d = proj.job_dir("train")
    st = proj.the_state("train")
    assert st["status"] == "done", st
    assert read(os.path.join(d, "model.txt")).split() == ["1", "2"]
    first, second = st["attempts"]
    assert first["cause"] == "TIMEOUT" and first["status"] == "failed", first
    assert squeue_state(first["launcher_id"]) == "TIMEOUT"
    assert second["status"] == "done" and second["requires"] == {"time": "120s"}, second
    assert first["launcher_id"] != second["launcher_id"]
    assert os.path.exists(os.path.join(d, "stdout.1.log"))


def test_one_run_prepares_locally_trains_on_slurm_and_evaluates_locally(project):
    proj = project("""\
        task prepare {
            output data = "data.txt"
            shell "date +%s.%N > t_end; echo data > {data}"
        }
        task train {
            data: prepare
            output model = "model.txt"
            shell "date +%s.%N > t_start; cat {data.data} > {model}; env | grep -c '^SLURM_JOB_ID=' > on_slurm; date +%s.%N > t_end"
        }
        task evaluate {
            model: train
            output m = "m.txt"
            shell "date +%s.%N > t_start; cat {model.model} > {m}"
        }
        evaluate(model=train(data=prepare()))
        """, extra='\n[tasks.train]\nlauncher = "slurm"\n')
    plan = proj.plan_json()
    assert {n["task"]: n["launcher"] for n in plan["nodes"]} == \
        {"prepare": "local", "train": "slurm", "evaluate": "local"}
    proj.run(timeout=300)
    launchers = {t: proj.the_state(t)["launcher"] for t in ("prepare", "train", "evaluate")}
    assert launchers == {"prepare": "local", "train": "slurm", "evaluate": "local"}
    assert read(os.path.join(proj.job_dir("train"), "on_slurm")).strip() == "1"
    assert proj.timestamp(proj.job_dir("train"), "t_start") >= \
        proj.timestamp(proj.job_dir("prepare"), "t_end")
    assert proj.timestamp(proj.job_dir("evaluate"), "t_start") >= \
        proj.timestamp(proj.job_dir("train"), "t_end")
    assert read(os.path.join(proj.job_dir("evaluate"), "m.txt")) == "data\n"
