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
    assert len(manifests(proj)) == 1    # the run's
    from_run = proj.plan().stdout       # answered by the run's manifest
    for m in manifests(proj):
        os.unlink(m)
    full = proj.plan().stdout           # the full path, which writes the plan's manifest
    assert len(manifests(proj)) == 1
    from_plan = proj.plan().stdout
    assert from_run == full == from_plan
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


@pytest.mark.parametrize("how", ["option", "setting", "route"])
def test_the_launcher_that_would_run_them_is_part_of_the_answer(tmp_path, how):
    """Regression: a manifest written by a run on `local` answered `run -l other --json`
    (and a run after the settings' launcher or routes changed) naming `local`. The launcher
    and the routing settings are part of the manifest's key: the answer is the full path's."""
    import json
    proj = Project(tmp_path, TEXT.format(n=2), files={"in.txt": "x\n"})
    proj.write("xpmbuild.toml", '[launchers.other]\ntype = "local"\n')
    proj.run()
    args = ["--json"]
    if how == "option":
        args += ["-l", "other"]
    elif how == "setting":
        proj.write("xpmbuild.toml", 'launcher = "other"\n[launchers.other]\ntype = "local"\n')
    else:
        proj.write("xpmbuild.toml", '[launchers.other]\ntype = "local"\n'
                                    '[tasks.t]\nlauncher = "other"\n')
    first = json.loads(proj.run(*args).stdout)      # no manifest for this routing: full
    assert [n["launcher"] for n in first["nodes"]] == ["other", "other"]
    assert first["summary"]["ran"] == 0
    again = json.loads(proj.run(*args).stdout)      # from the manifest it wrote
    assert again["nodes"] == first["nodes"]
    plan = json.loads(proj.plan(*args).stdout)
    assert [n["launcher"] for n in plan["nodes"]] == ["other", "other"]


def test_a_plan_right_after_a_run_is_answered_by_the_runs_manifest(tmp_path):
    """The run's manifest checks every file the plan's would (and the experiment's record):
    the first plan after a run is a no-op too, the same table and JSON as the full path."""
    import json
    proj = Project(tmp_path, TEXT.format(n=60), files={"in.txt": "x\n"})
    proj.run()
    assert len(manifests(proj)) == 1
    fast_table, fast_json = proj.plan().stdout, json.loads(proj.plan("--json").stdout)
    assert len(manifests(proj)) == 1            # answered: no plan of its own was made
    for m in manifests(proj):
        os.unlink(m)
    assert proj.plan().stdout == fast_table
    assert json.loads(proj.plan("--json").stdout) == fast_json
    proj.run()                                  # the run's manifest again
    proj.write("in.txt", "changed\n")           # then an input changes: not a no-op
    assert "60 of 60 jobs" in proj.plan().stdout.replace("\n", " ")


def test_a_manifest_cut_after_its_check_part_still_answers_right(tmp_path):
    """The nodes follow the check part in the manifest and are read only when the answer
    lists them: cut there, a run is still answered (it only counts them) and a --json
    (which needs them) takes the full path, with the same document."""
    import json
    import marshal
    proj = Project(tmp_path, TEXT.format(n=3), files={"in.txt": "x\n"})
    proj.run()
    for m in manifests(proj):
        os.unlink(m)
    full = json.loads(proj.run("--json").stdout)     # the full path's no-op; writes it
    [path] = manifests(proj)
    with open(path, "rb") as f:
        head = marshal.load(f)
        cut = f.tell()
    assert "nodes_json" not in head and head["count"] == 3
    with open(path, "r+b") as f:
        f.truncate(cut)
    assert proj.run().stdout == "3 jobs: 3 done (0 ran, 3 up to date), 0 failed, 0 skipped\n"
    again = json.loads(proj.run("--json").stdout)
    assert again["nodes"] == full["nodes"] and again["summary"]["ran"] == 0
    with open(path, "rb") as f:         # the full path wrote it whole again
        marshal.load(f)
        assert json.loads(marshal.load(f)) == full["nodes"]
