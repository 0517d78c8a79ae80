"""The no-op fast path of `plan` (cli/fastpath.py): when nothing changed it draws the same
table as the full path, and any change sends it back to the full path."""
from __future__ import annotations

import glob
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project  # noqa: E402

TEXT = """\
arg n: int = {n}
task t {{
    i: int
    data: path = "in.txt"
    output o = "o.txt"
    shell "cat {{data}} > {{o}}; echo {{i}} >> {{o}}"
}}
for i in range(n) {{ t(i=tag(i)) }}
"""


def manifests(proj):
    return glob.glob(os.path.join(proj.ws, ".xpm", "noop-*"))


@pytest.mark.parametrize("n", [3, 50, 51, 60])  # 50: report.PLAN_DONE_ROWS
def test_fast_table_is_the_full_table(tmp_path, n):
    proj = Project(tmp_path, TEXT.format(n=n), files={"in.txt": "x\n"})
    proj.run()
    proj.plan()                         # writes the plan's manifest
    assert len(manifests(proj)) == 2    # the run's and the plan's
    fast = proj.plan().stdout
    for m in manifests(proj):
        os.unlink(m)
    full = proj.plan().stdout
    assert fast == full
    assert f"0 of {n} jobs" in full.replace("\n", " ")


def test_a_changed_input_is_never_answered_from_the_manifest(tmp_path):
    proj = Project(tmp_path, TEXT.format(n=3), files={"in.txt": "x\n"})
    proj.run()
    proj.plan()
    proj.write("in.txt", "changed\n")
    out = proj.plan().stdout
    assert "3 of 3 jobs" in out.replace("\n", " ") and "in.txt changed" in out
    r = proj.plan("-D", "n=4")          # another command line: its own manifest (none)
    assert "4 of 4 jobs" in r.stdout.replace("\n", " ")


def test_a_plan_of_new_jobs_then_a_run_records_their_fingerprints(tmp_path):
    """A plan decides never-built jobs without tracing them; the run that follows still
    records each job's fingerprint and trace, and the next plan finds them up to date."""
    import json
    proj = Project(tmp_path, TEXT.format(n=2), files={"in.txt": "x\n"})
    doc = json.loads(proj.plan("--json").stdout)
    assert [n["reasons"] for n in doc["nodes"]] == [["never built"]] * 2
    proj.run()
    for n in doc["nodes"]:
        with open(os.path.join(n["dir"], "state.json")) as f:
            state = json.load(f)
        assert state["status"] == "done" and state["fingerprint"]
        assert state["trace"]["inputs"] and state["trace"]["action"]
    for m in manifests(proj):
        os.unlink(m)
    doc = json.loads(proj.plan("--json").stdout)
    assert doc["summary"] == {"done": 2, "jobs": 2, "will_run": 0}


def test_fast_json_is_the_full_json(tmp_path):
    """plan --json and run --json from the manifest: the same document as the full path
    (each node's launcher included)."""
    import json
    proj = Project(tmp_path, TEXT.format(n=3), files={"in.txt": "x\n"})
    proj.run()
    proj.plan("--json")
    fast_plan, fast_run = proj.plan("--json").stdout, proj.run("--json").stdout
    for m in manifests(proj):
        os.unlink(m)
    full_plan = json.loads(proj.plan("--json").stdout)
    assert json.loads(fast_plan) == full_plan
    assert all(n["launcher"] == "local" for n in full_plan["nodes"])
    full_run = json.loads(proj.run("--json").stdout)
    fast = json.loads(fast_run)
    assert fast["nodes"] == full_run["nodes"]
