"""Nothing outside the workspace is touched; faults during a run are recorded, not crashed
on; experiment records are true and cleaning is safe; tags, namespaces and definitions.
All through the real CLI, real .xpm files and the real workspace."""
from __future__ import annotations

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, kill_group, read, wait_for, write, xpmbuild  # noqa: E402


def no_traceback(r):
    assert "Traceback" not in r.stdout + r.stderr, describe(r)


# ----------------------------------------------------------------------------- links

def test_clearing_outputs_never_follows_a_link_out_of_the_job_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "data" / "precious.txt", "keep me\n")
    write(elsewhere / "model.bin", "keep me too\n")
    proj = Project(tmp_path / "exp", f"""\
task t {{
    n: int = 1
    output d = "sub/data"
    output m = "sub/model.bin"
    shell "rmdir sub; ln -s {elsewhere} sub"
}}
t()
""")
    r = proj.run(expect=1)
    no_traceback(r)
    st = proj.state(proj.job_dir("t"))
    assert st["status"] == "failed"
    assert "link leading outside the job folder" in st["reason"], st
    assert str(elsewhere) in st["reason"]
    # the rebuild clears the outputs: the link goes, what it points to stays
    r = proj.run(expect=1)
    no_traceback(r)
    assert read(elsewhere / "data" / "precious.txt") == "keep me\n"
    assert read(elsewhere / "model.bin") == "keep me too\n"


def test_a_link_inside_the_job_folder_is_a_fine_output(tmp_path):
    proj = Project(tmp_path / "exp", """\
task t {
    output d = "out"
    shell "mkdir -p real out && echo x > real/f && ln -s ../real/f out/f"
}
t()
""")
    proj.run()
    assert proj.state(proj.job_dir("t"))["status"] == "done"
    proj.run()
    assert proj.plan_json()["nodes"][0]["will_run"] is False


# ----------------------------------------------------------------------------- faults

FAULTS = """\
task ok {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
task rmself {
    shell "cd /; rm -rf $XPM_JOB_DIR"
}
task tofile {
    shell "cd /; rm -rf $XPM_JOB_DIR; echo not a folder > $XPM_JOB_DIR"
}
rmself()
tofile()
for i in range(3) { ok(i=i) }
"""


def test_a_job_that_removes_or_replaces_its_folder_fails_and_the_run_goes_on(tmp_path):
    proj = Project(tmp_path / "exp", FAULTS)
    r = proj.run("-k", "-j", "1", expect=1)
    no_traceback(r)
    doc = proj.run_json("-k", expect=1)
    by_task = {}
    for n in doc["nodes"]:
        by_task.setdefault(n["task"], []).append(n)
    assert all(n["status"] == "done" for n in by_task["ok"])
    rm = by_task["rmself"][0]
    assert rm["status"] == "failed" and "removed" in " ".join(rm["reasons"]), rm
    # its record was made again and says so
    st = proj.state(rm["dir"])
    assert st["status"] == "failed" and "removed" in st["reason"], st
    tf = by_task["tofile"][0]
    assert tf["status"] == "failed", tf
    assert os.path.isfile(tf["dir"])
    # a folder that is a file: a clear reason, never a traceback, in run, plan and status
    r = proj.run("-k", expect=1)
    no_traceback(r)
    assert "is not a folder" in r.stdout + r.stderr, describe(r)
    for cmd in ("plan", "status"):
        r = xpmbuild(cmd, *((proj.file,) if cmd == "plan" else ()), "-w", proj.ws,
                     cwd=proj.root, env=proj.env)
        no_traceback(r)


# ----------------------------------------------------------------------------- records

SWEEP = """\
arg lr: float = 0.1
task prepare {
    output o = "o.txt"
    shell "echo prepare >> {here}/runs.log; echo data > {o}"
}
task train {
    data: prepare
    lr: float
    output m = "m.txt"
    shell "echo train >> {here}/runs.log; echo {lr} > {m}"
}
train(data=prepare(), lr=tag(lr))
"""


def record_ids(proj, name="exp"):
    path = os.path.join(proj.ws, "experiments", name, "jobs.jsonl")
    return {json.loads(line)["id"] for line in read(path).splitlines()}


def test_a_no_op_run_records_its_plan(tmp_path):
    proj = Project(tmp_path, SWEEP)
    first = {n["id"] for n in proj.run_json("-D", "lr=0.1")["nodes"]}
    second = {n["id"] for n in proj.run_json("-D", "lr=0.2")["nodes"]}
    assert record_ids(proj) == second
    proj.executions()
    proj.run("-D", "lr=0.1")           # nothing to do: the fast path
    assert proj.executions() == []
    assert record_ids(proj) == first
    # and `jobs clean --orphans` proposes exactly the other train job
    r = proj.cli("run", "--help")       # noqa: the command exists
    r = xpmbuild("jobs", "clean", "--orphans", "-n", "-w", proj.ws, cwd=proj.root,
                 env=proj.env)
    assert r.returncode == 0, describe(r)
    lines = [x for x in r.stdout.splitlines() if x.startswith("would remove")]
    assert len(lines) == 1 and "train/" in lines[0], r.stdout
    assert (second - first).pop()[:8] in lines[0]


def gc(proj, *args, expect=0):
    r = xpmbuild("gc", "-w", proj.ws, *args, cwd=proj.root, env=proj.env)
    assert r.returncode == expect, describe(r)
    return r


def test_gc_removes_only_what_no_latest_plan_uses(tmp_path):
    proj = Project(tmp_path, SWEEP)
    old = {n["task"]: n for n in proj.run_json("-D", "lr=0.1")["nodes"]}
    new = {n["task"]: n for n in proj.run_json("-D", "lr=0.2")["nodes"]}
    doc = json.loads(gc(proj, "--dry-run", "--json").stdout)
    assert [g["id"] for g in doc["garbage"]] == [old["train"]["id"]]
    assert doc["bytes"] > 0 and doc["kept"] == 2
    # off a terminal without --yes: says what it would do, removes nothing
    r = gc(proj, expect=1)
    assert "--yes" in r.stdout + r.stderr
    assert os.path.isdir(old["train"]["dir"])
    r = gc(proj, "--yes")
    assert "removed 1 job folder" in r.stdout, r.stdout
    assert not os.path.exists(old["train"]["dir"])
    assert os.path.isdir(new["train"]["dir"]) and os.path.isdir(new["prepare"]["dir"])
    proj.executions()
    proj.run("-D", "lr=0.2")
    assert proj.executions() == []


def test_gc_never_touches_a_running_job(tmp_path):
    proj = Project(tmp_path / "exp", """\
task block {
    shell "while [ ! -e {here}/../go ]; do sleep 0.02; done"
}
block()
""")
    p = proj.popen()
    try:
        wait_for(lambda: proj.job_dirs("block") and
                 (proj.state(proj.job_dirs("block")[0]) or {}).get("status") == "running",
                 30, what="the job to run")
        d = proj.job_dirs("block")[0]
        import shutil
        shutil.rmtree(os.path.join(proj.ws, "experiments"))     # no plan uses it any more
        r = gc(proj, "--yes")
        assert "kept block/" in r.stdout and "running" in r.stdout, r.stdout
        assert os.path.isdir(d)
    finally:
        write(tmp_path / "go", "")
        p.communicate(timeout=60)
        kill_group(p.pid, signal.SIGKILL)


def test_status_shows_tags_from_the_job_folder_without_an_experiment_record(tmp_path):
    proj = Project(tmp_path, SWEEP)
    proj.run()
    import shutil
    shutil.rmtree(os.path.join(proj.ws, "experiments"))
    r = xpmbuild("jobs", "list", "--json", "-w", proj.ws, cwd=proj.root, env=proj.env)
    assert r.returncode == 0, describe(r)
    train = [n for n in json.loads(r.stdout)["nodes"] if n["task"] == "train"]
    assert train[0]["tags"] == {"lr": 0.1}, train


# ----------------------------------------------------------------------------- projects

PROJECT = """\
task train {
    lr: float
    output m = "m.txt"
    shell "echo ACTION {lr} > {m}"
}
train(lr=0.1)
"""


def test_two_projects_with_a_same_named_task_do_not_overwrite_each_other(tmp_path):
    ws = tmp_path / "shared-ws"
    a = Project(tmp_path / "a", PROJECT.replace("ACTION", "project-a"))
    b = Project(tmp_path / "b", PROJECT.replace("ACTION", "project-b"))
    a.ws = b.ws = str(ws)
    a.run()
    d = a.job_dir("train")
    r = b.run(expect=1)
    no_traceback(r)
    out = r.stdout + r.stderr
    assert "namespace" in out and str(a.file) in out, describe(r)
    assert read(os.path.join(d, "m.txt")) == "project-a 0.1\n"
    plan = b.plan_json(expect=None)
    assert "namespace" in plan["nodes"][0]["reasons"][0]
    # a namespace in b's settings: its own job ids, a's job is left alone
    write(tmp_path / "b" / "xpmbuild.toml", 'namespace = "b"\n')
    doc = b.run_json()
    assert doc["nodes"][0]["id"] != os.path.basename(d)
    assert read(os.path.join(doc["nodes"][0]["dir"], "m.txt")) == "project-b 0.1\n"
    assert a.plan_json()["nodes"][0]["will_run"] is False
    r = xpmbuild("check", b.file, cwd=b.root, env=b.env)
    assert r.returncode == 0
