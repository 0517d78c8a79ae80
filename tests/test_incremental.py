"""Incremental runs (incremental.py): after a complete run, a change decides again only the
jobs whose files changed and the jobs after them; every other job is kept as it was.

The contract is that this is only faster: each test makes a twin of the project (a copy
whose workspace has no manifest or cached plan, so every command takes the full path),
applies the same change to both, and asserts that ``plan --json`` and ``run --json`` say
the same of every job, and that the same jobs executed.
"""
from __future__ import annotations

import glob
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe  # noqa: E402

EXP = """\
task part {
    i: int
    src: path
    output out = "out.txt"
    shell "cat {src} > {out}; echo {i} >> {out}; echo part{i}-$(basename {src}) >> {here}/runs.log"
}
task step {
    prev: part
    output out = "out.txt"
    shell "cat {prev.out} > {out}; echo step >> {out}; echo step{prev.i}-$(basename {prev.src}) >> {here}/runs.log"
}
task agg {
    parts: list[step]
    output out = "all.txt"
    shell "cat {parts.out} > {out}; echo agg >> {here}/runs.log"
}
ps = [part(i=i, src=s) for s in ["a.txt", "b.txt", "c.txt"] for i in range(3)]
agg(parts=[step(prev=p) for p in ps])
"""
FILES = {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"}


def caches(proj) -> list[str]:
    meta = os.path.join(proj.ws, ".xpm")
    return glob.glob(os.path.join(meta, "noop-*")) + glob.glob(os.path.join(meta, "plan-*"))


class Twins:
    """The project and its twin, which always takes the full path."""

    def __init__(self, tmp_path):
        self.a = Project(tmp_path / "a", EXP, files=FILES)
        self.b = Project(tmp_path / "b", EXP, files=FILES)
        for proj in (self.a, self.b):
            proj.run()
            proj.executions()
        assert caches(self.a), "a complete run keeps a manifest and its plan"

    def each(self, change):
        for proj in (self.a, self.b):
            change(proj)

    def _doc(self, proj, verb, expect):
        if proj is self.b:
            for path in caches(proj):
                os.unlink(path)
        r = proj.cli(verb, "--json")
        assert r.returncode == expect, describe(r)
        if expect == 2:
            return r.stderr.replace(proj.root, "ROOT")
        doc = json.loads(r.stdout.replace(proj.root, "ROOT"))
        doc["summary"].pop("seconds", None)
        doc["summary"].pop("xpmbuild_cpu_seconds", None)
        kept = doc["summary"].pop("kept", 0)
        if proj is self.b:
            assert kept == 0
        else:
            self.kept = kept
        return doc

    def same(self, verb="run", expect=0):
        """The same command on both: the same answer, the same jobs executed."""
        self.kept = 0
        got, want = self._doc(self.a, verb, expect), self._doc(self.b, verb, expect)
        assert got == want
        ran_a, ran_b = self.a.executions(), self.b.executions()
        assert ran_a == ran_b
        return got, ran_a

    def plan_then_run(self, incremental=True):
        """``incremental``: the project's plan and run keep the jobs the change does not
        concern (the twin's decide every job)."""
        plan, _ = self.same("plan")
        kept_plan = self.kept
        run, ran = self.same("run")
        kept_run = self.kept
        if incremental:     # the jobs a change concerns are decided again, the others kept
            n = len(plan["nodes"])
            assert 0 < kept_plan <= n - plan["summary"]["will_run"], (kept_plan, plan)
            assert kept_run == kept_plan
        else:
            assert kept_plan == kept_run == 0
        again, ran_again = self.same("run")      # and then nothing is left to do
        assert again["summary"]["ran"] == 0 and ran_again == []
        return plan, run, ran


def statuses(doc) -> dict:
    return {n["id"][:8] + " " + n["task"]: (n["status"], tuple(n["reasons"])) for n in doc["nodes"]}


def test_an_edited_input_reruns_its_jobs_and_what_follows(tmp_path):
    t = Twins(tmp_path)
    t.each(lambda p: p.write("a.txt", "A\n"))
    plan, run, ran = t.plan_then_run()
    assert plan["summary"]["will_run"] == 3 + 3 + 1
    assert ran == sorted(["part0-a.txt", "part1-a.txt", "part2-a.txt", "step0-a.txt",
                          "step1-a.txt", "step2-a.txt", "agg"])
    with open(glob.glob(os.path.join(t.a.ws, "jobs", "agg", "*", "all.txt"))[0]) as f:
        assert f.read().count("A\n") == 3


def test_a_touched_input_with_the_same_content_reruns_nothing(tmp_path):
    t = Twins(tmp_path)
    t.each(lambda p: os.utime(p.path("b.txt"), (1, 1)))
    plan, run, ran = t.plan_then_run()
    assert plan["summary"]["will_run"] == 0 and ran == []


@pytest.mark.parametrize("damage", ["remove_output", "edit_output", "truncate_state"])
def test_a_damaged_job_of_the_workspace_is_rebuilt(tmp_path, damage):
    t = Twins(tmp_path)

    def change(p):
        d = sorted(glob.glob(os.path.join(p.ws, "jobs", "part", "*")))[4]
        if damage == "remove_output":
            os.unlink(os.path.join(d, "out.txt"))
        elif damage == "edit_output":
            with open(os.path.join(d, "out.txt"), "a") as f:
                f.write("garbage\n")
        else:
            with open(os.path.join(d, "state.json"), "r+") as f:
                f.truncate(10)
    t.each(change)
    plan, run, ran = t.plan_then_run()
    # the part runs again and makes the same output: its step and the aggregate are kept
    assert len(ran) == 1 and ran[0].startswith("part"), ran
    assert plan["summary"]["will_run"] == 1 + 1 + 1     # the part; its step, agg wait on it


def test_a_dependency_that_changes_its_output_reruns_the_aggregate(tmp_path):
    """The aggregate's kept dependencies enter its trace from its own record
    (incremental.kept_outputs): a step rebuilt to the same output leaves it up to date,
    steps rebuilt to new outputs make it stale."""
    t = Twins(tmp_path)
    t.each(lambda p: os.unlink(sorted(glob.glob(os.path.join(p.ws, "jobs", "step", "*",
                                                             "out.txt")))[2]))
    plan, run, ran = t.plan_then_run()
    assert len(ran) == 1 and ran[0].startswith("step")
    t.each(lambda p: p.write("c.txt", "C\n"))
    plan, run, ran = t.plan_then_run()
    assert "agg" in ran and len([r for r in ran if r.startswith("part")]) == 3


def test_the_same_after_each_of_a_series_of_changes(tmp_path):
    t = Twins(tmp_path)
    changes = [     # (the change, whether the run after it is incremental)
        (lambda p: p.write("b.txt", "B\n"), True),
        (lambda p: os.unlink(sorted(glob.glob(os.path.join(p.ws, "jobs", "agg", "*",
                                                           "all.txt")))[0]), True),
        (lambda p: p.write("a.txt", "a\n"), True),                 # back to what it was
        (lambda p: p.write_xpm(EXP + "# the sources changed\n"), False),
        (lambda p: p.write("c.txt", "c2\n"), True),
        (lambda p: None, False),                # nothing at all: the no-op answers
    ]
    for change, incremental in changes:
        t.each(change)
        t.plan_then_run(incremental)


def test_a_removed_input_is_an_error_at_its_line(tmp_path):
    t = Twins(tmp_path)
    t.each(lambda p: os.unlink(p.path("c.txt")))
    err_a, _ = t.same("run", expect=2)
    assert "c.txt" in err_a and "does not exist" in err_a and "exp.xpm:" in err_a
    assert "Traceback" not in err_a
    t.each(lambda p: p.write("c.txt", "c\n"))
    plan, run, ran = t.plan_then_run()       # the manifest outlived the error
    assert ran == []                       # same content as before: nothing to do


@pytest.mark.parametrize("damage", [b"", b"not a pickle", "other"])
def test_a_damaged_cached_plan_only_costs_the_evaluation(tmp_path, damage):
    t = Twins(tmp_path)
    [cached] = glob.glob(os.path.join(t.a.ws, ".xpm", "plan-*"))
    if damage == "other":         # a well-formed pickle of something else after a good head
        import pickle
        with open(cached, "rb") as f:
            head = pickle.load(f)
        damage = pickle.dumps(head) + pickle.dumps({"not": "a plan"})
    with open(cached, "wb") as f:
        f.write(damage)
    t.each(lambda p: p.write("a.txt", "A\n"))
    plan, run, ran = t.plan_then_run(incremental=False)
    assert len(ran) == 7
    [cached] = glob.glob(os.path.join(t.a.ws, ".xpm", "plan-*"))     # written again
    t.each(lambda p: p.write("b.txt", "B\n"))
    t.plan_then_run()


def test_a_run_with_targets_and_defines_keeps_its_own_manifest(tmp_path):
    t = Twins(tmp_path)
    t.each(lambda p: p.write("a.txt", "A\n"))
    for proj in (t.a, t.b):
        r = proj.cli("run", "--json", "part")           # the parts only
        assert r.returncode == 0, describe(r)
    assert t.a.executions() == t.b.executions()
    t.each(lambda p: p.write("b.txt", "B\n"))
    for proj in (t.a, t.b):
        r = proj.cli("run", "part")
        assert r.returncode == 0, describe(r)
    assert t.a.executions() == t.b.executions() == ["part0-b.txt", "part1-b.txt",
                                                    "part2-b.txt"]
    t.plan_then_run()


# ---------------------------------------------------------------------- faults
SLOW = """\
task part {
    i: int
    src: path
    output out = "out.txt"
    shell "echo part{i} >> {here}/runs.log; sleep 0.2; cat {src} > {out}; echo {i} >> {out}"
}
task agg {
    parts: list[part]
    output out = "all.txt"
    shell "echo agg >> {here}/runs.log; cat {parts.out} > {out}"
}
agg(parts=[part(i=i, src=s) for s in ["a.txt", "b.txt"] for i in range(4)])
"""


def test_incremental_runs_started_together_run_each_job_once(tmp_path):
    """Two incremental runs at once: each job the change concerns runs once (the folder
    locks), both succeed, and what they leave is complete."""
    proj = Project(tmp_path, SLOW, files={"a.txt": "a\n", "b.txt": "b\n"})
    proj.run()
    proj.executions()
    proj.write("a.txt", "A\n")
    proj.runs_together(2, "-j", "2", "--json", timeout=120)
    ran = proj.executions()
    assert sorted(r for r in ran if r != "agg") == [f"part{i}" for i in range(4)], ran
    assert ran.count("agg") in (1, 2)     # the second may find it stale again after the first
    doc = proj.run_json()
    assert doc["summary"]["ran"] == 0 and proj.executions() == []
    agg = [n for n in doc["nodes"] if n["task"] == "agg"][0]
    with open(os.path.join(agg["dir"], "all.txt")) as f:
        assert f.read().count("A\n") == 4


def test_kill_9_during_an_incremental_run_loses_nothing(tmp_path):
    """SIGKILL while an incremental run's jobs run: the next run finishes the work,
    nothing that was done is redone, and nothing is marked done that was not."""
    from buildutil import kill_group, wait_for
    proj = Project(tmp_path, SLOW, files={"a.txt": "a\n", "b.txt": "b\n"})
    proj.run()
    proj.executions()
    proj.write("b.txt", "B\n")
    p = proj.popen("-j", "1")
    try:
        wait_for(lambda: os.path.exists(proj.path("runs.log")) and
                 len(open(proj.path("runs.log")).read().split()) >= 2, 60,
                 what="two jobs of the incremental run to start")
    finally:
        kill_group(p.pid)
        p.communicate(timeout=60)
    first = proj.executions()
    doc = proj.run_json("-j", "2")
    second = proj.executions()
    assert doc["summary"]["failed"] == 0 and all(n["status"] == "done" for n in doc["nodes"])
    parts = [r for r in first + second if r.startswith("part")]
    assert sorted(set(parts)) == [f"part{i}" for i in range(4)]
    # a part started by the killed run may run again (it never finished); none runs 3 times
    assert all(parts.count(x) <= 2 for x in set(parts))
    assert "agg" in second
    assert proj.run_json()["summary"]["ran"] == 0
    agg = [n for n in proj.last["nodes"] if n["task"] == "agg"][0]
    with open(os.path.join(agg["dir"], "all.txt")) as f:
        assert f.read().count("B\n") == 4


@pytest.mark.parametrize("field", ["owned", "offsets", "sigs", "paths", "count"])
def test_a_manifest_damaged_but_loadable_takes_the_full_path(tmp_path, field):
    """Tables of the manifest that no longer fit together (cut, or of another length)
    are the full path's case: the same answer as the twin, no traceback."""
    import marshal
    t = Twins(tmp_path)
    [path] = glob.glob(os.path.join(t.a.ws, ".xpm", "noop-*"))
    with open(path, "rb") as f:
        m = marshal.load(f)
        rest = f.read()
    if field == "count":
        m["count"] += 1
    elif field == "paths":
        m["paths"] = m["paths"].rsplit("\0", 1)[0]
    else:
        m[field] = m[field][:-4]
    with open(path, "wb") as f:
        f.write(marshal.dumps(m) + rest)
    t.each(lambda p: p.write("a.txt", "A\n"))
    t.plan_then_run(incremental=False)
