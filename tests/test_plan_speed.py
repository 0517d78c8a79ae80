"""What the plan's speed-ups must keep exactly as it was (issue 13).

- fingerprints hashed in one call are the digests recorded before (a workspace built by an
  earlier version stays up to date);
- the index caches each record with a digest of its bytes: a row damaged on disk or
  written without one (an older version) is not used, the job folder's record is read;
  a row read back intact is used without reading the file;
- an up-to-date decision keeps neither trace nor rendered text, a stale one keeps both
  (the launch needs them), and so does one that waits on a submitted dependency;
- a plan lists each task's folder once instead of looking for every job's record: jobs
  built, never built, and a task "folder" that is a file all get their right status.

Through the real command line on a real workspace where the behaviour is the user's; the
rebuilder and the index alone where the property is theirs.
"""
from __future__ import annotations

import json
import marshal
import os
import sqlite3
import sys

import xxhash

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read  # noqa: E402
from test_rebuild_unit import World  # noqa: E402

from xpmbuild.rebuild import PENDING, fingerprint_of  # noqa: E402

EXPERIMENT = """\
arg n: int = 3
task a {
    i: int
    src: path
    output o = "o.txt"
    shell "echo a >> {here}/runs.log; cat {src} > {o}; echo {i} >> {o}"
}
task b {
    parts: list[a]
    output o = "o.txt"
    shell "echo b >> {here}/runs.log; for d in {parts}; do cat $d/o.txt; done > {o}"
}
parts = []
for i in range(n) {
    if i == 0 {
        parts = parts + [a(i=i, src="one.txt")]
    } else {
        parts = parts + [a(i=i, src="shared.txt")]
    }
}
b(parts=parts)
"""


def project(tmp_path) -> Project:
    return Project(tmp_path, EXPERIMENT, files={"one.txt": "one\n", "shared.txt": "shared\n"})


def index_rows(p: Project) -> dict:
    db = sqlite3.connect(os.path.join(p.ws, ".xpm", "index.sqlite"))
    try:
        return dict(db.execute("SELECT id, state FROM job_states"))
    finally:
        db.close()


def set_index_row(p: Project, job_id: str, blob: bytes):
    db = sqlite3.connect(os.path.join(p.ws, ".xpm", "index.sqlite"))
    try:
        assert db.execute("UPDATE job_states SET state = ? WHERE id = ?",
                          (blob, job_id)).rowcount == 1
        db.commit()
    finally:
        db.close()


# ---------------------------------------------------------------------- fingerprints

# computed by the fingerprint of before (one update per piece): recorded fingerprints of
# existing workspaces must still match
PINNED = [
    (("abc", {"action": "x", "inputs": {}, "deps": {}}), "d70fe9748018f7e2145dfc1567183ae2"),
    (("abc", {"action": "x", "inputs": {"/a": "h", "/b": None},
              "deps": {"d1": {"o": "h1", "p": "h2"}, "d0": None, "d2": {}},
              "code": {"/c": "k"}}), "033855d2781eb030eb5e59aa86bcb45e"),
    (("é", {"action": "ü", "inputs": {"/\udcff": "h"}, "deps": {}}),
     "6de53f3fb5b40baff87353884bcc3ea4"),
]


def test_fingerprints_are_the_digests_recorded_before():
    for (job_id, trace), digest in PINNED:
        assert fingerprint_of(job_id, trace) == digest


# ---------------------------------------------------------------------- the index

def test_index_rows_carry_a_digest_and_a_damaged_row_is_not_used(tmp_path):
    p = project(tmp_path)
    p.run()
    assert p.executions() == ["a", "a", "a", "b"]
    rows = index_rows(p)
    assert len(rows) == 4
    for blob in rows.values():
        assert xxhash.xxh3_64_digest(blob[8:]) == blob[:8]
        assert marshal.loads(blob[8:])["status"] == "done"
    # a byte of one row's record flipped on disk: its digest no longer matches
    b_dir = p.job_dir("b")
    b_id = os.path.basename(b_dir)
    blob = bytearray(rows[b_id])
    blob[20] ^= 0xFF
    set_index_row(p, b_id, bytes(blob))
    doc = p.plan_json("b")              # not the no-op command: the decisions are made
    assert p.node("b", doc)["status"] == "done" and not p.node("b", doc)["will_run"]
    r = p.run()
    assert p.executions() == [], describe(r)


def test_a_row_without_digest_is_not_trusted_the_record_is_read(tmp_path):
    """An index row in the format of before (the marshal bytes alone), even one holding a
    well-formed record, is not used: the job folder's own record decides."""
    p = project(tmp_path)
    p.run()
    p.executions()
    b_id = os.path.basename(p.job_dir("b"))
    other = dict(json.loads(read(os.path.join(p.job_dir("b"), "state.json"))),
                 status="failed", exit_code=3)
    set_index_row(p, b_id, marshal.dumps(other))
    doc = p.plan_json("b")
    assert p.node("b", doc)["status"] == "done", doc
    # the plan cached the file's record again, with its digest
    blob = index_rows(p)[b_id]
    assert xxhash.xxh3_64_digest(blob[8:]) == blob[:8]
    assert marshal.loads(blob[8:])["status"] == "done"


def test_an_intact_row_is_used_without_reading_the_record(tmp_path):
    """The point of the digest: a row read back intact is the record (no file read, no
    second check). Shown by a row that says otherwise than the file, with a valid digest."""
    p = project(tmp_path)
    p.run()
    p.executions()
    b_id = os.path.basename(p.job_dir("b"))
    other = dict(json.loads(read(os.path.join(p.job_dir("b"), "state.json"))),
                 status="failed", exit_code=3)
    body = marshal.dumps(other)
    set_index_row(p, b_id, xxhash.xxh3_64_digest(body) + body)
    doc = p.plan_json("b")
    assert p.node("b", doc)["status"] == "failed"
    assert p.node("b", doc)["reasons"] == ["last build failed (exit 3)"]


# ---------------------------------------------------------------------- decisions

def test_an_up_to_date_decision_keeps_no_trace_nor_text(tmp_path):
    w = World(tmp_path)
    d = w.decide("prepare")
    assert d.stale and d.trace is not None and "tok.py" in d.action
    w.build("prepare")
    d = w.decide("prepare")
    assert not d.stale and d.trace is None and d.action is None
    assert d.fingerprint == w.states["prepare"]["fingerprint"]
    with open(os.path.join(tmp_path, "corpus.txt"), "w") as f:
        f.write("changed\n")
    w.rb.forget_inputs()
    d = w.decide("prepare")             # stale again: what the launch writes is there
    assert d.stale and d.reasons == ["input corpus.txt changed"]
    assert d.trace["inputs"] and "tok.py" in d.action


def test_a_decision_waiting_on_a_submitted_dependency_keeps_its_trace(tmp_path):
    """Up to date by its own trace, but a dependency is submitted and not built (a
    detached run): it is submitted after it, so its record needs the trace."""
    w = World(tmp_path)
    w.build("prepare")
    w.build("train")
    train = w.jobs["train"]
    dep = w.jobs["prepare"]
    d = w.rb.decide(train, w.dir("train"), w.states["train"], {dep.id: PENDING}, w.plan.root)
    assert d.stale and d.waits == [dep]
    assert d.trace is not None and d.trace["deps"] == {dep.id: None}
    assert d.action is not None and "echo" in d.action


# ---------------------------------------------------------------------- plan statuses

def test_a_plan_sees_built_and_never_built_jobs_after_an_edit(tmp_path):
    p = project(tmp_path)
    p.run()
    p.executions()
    p.write("one.txt", "one, edited\n")
    p.write_xpm(EXPERIMENT.replace("arg n: int = 3", "arg n: int = 5"))
    doc = p.plan_json()
    statuses = sorted((n["task"], n["status"], n["will_run"], tuple(n["reasons"]))
                      for n in doc["nodes"])
    a_stale = [s for s in statuses if s[1] == "stale"]
    assert a_stale == [("a", "stale", True, ("input one.txt changed",))]
    assert [s[1] for s in statuses if s[0] == "a"].count("done") == 2
    assert [s[1] for s in statuses if s[0] == "a"].count("new") == 2
    assert [s for s in statuses if s[0] == "b"][0][1] == "new"
    r = p.run()
    assert p.executions() == ["a", "a", "a", "b"], describe(r)


def test_a_plan_where_a_task_folder_is_a_file(tmp_path):
    p = project(tmp_path)
    os.makedirs(os.path.join(p.ws, "jobs"))
    with open(os.path.join(p.ws, "jobs", "a"), "w") as f:
        f.write("not a folder\n")
    doc = p.plan_json()
    assert sorted(n["status"] for n in doc["nodes"]) == ["new"] * 4
    r = p.plan()
    assert "Traceback" not in r.stdout + r.stderr


# ---------------------------------------------------------------------- shared reasons

GRID = """\
task prepare {
    corpus: path
    output tokens = "tokens.txt"
    shell "cat {corpus} > {tokens}"
}
task train {
    data: prepare
    seed: int
    output model = "model.txt"
    shell "cat {data.tokens} > {model}; echo {seed} >> {model}"
}
for c in ["c0.txt", "c1.txt"] {
    data = prepare(corpus=c)
    for seed in range(3) {
        train(data=data, seed=seed)
    }
}
"""


def test_a_plan_shares_equal_reasons_and_says_each_exactly(tmp_path):
    from xpmbuild.build import build
    from xpmbuild.language import evaluate
    p = Project(tmp_path, GRID, files={"c0.txt": "zero\n", "c1.txt": "one\n"})
    doc = p.plan_json()
    preps = {n["id"]: n for n in p.nodes("prepare", doc)}
    for n in p.nodes("train", doc):
        (dep,) = n["deps"]
        assert n["reasons"] == ["never built", f"waits on prepare/{dep[:8]}…"], n
        assert n["status"] == "new" and n["will_run"] and dep in preps
    # in memory: the trains waiting on one prepare hold one list of reasons
    result = build(evaluate(p.file), p.ws, dry_run_only=True)
    trains = [n for n in result.nodes if n.job.task.name == "train"]
    by_dep: dict = {}
    for n in trains:
        by_dep.setdefault(n.job.deps[0].id, []).append(n.reasons)
    assert len(by_dep) == 2
    for lists in by_dep.values():
        assert all(lst is lists[0] for lst in lists)
    assert trains[0].reasons is not trains[-1].reasons


def test_reasons_of_their_own_are_not_shared(tmp_path):
    """After a build, a seed replaced by another: the new job's reason names the job it
    replaces (a reason with arguments: its own words), said exactly."""
    p = Project(tmp_path, GRID, files={"c0.txt": "zero\n", "c1.txt": "one\n"})
    p.run()
    p.write_xpm(GRID.replace("range(3)", "range(1, 4)"))
    p.write("c0.txt", "zero, edited\n")           # c0's prepare will run: its trains wait
    doc = p.plan_json()
    stale = [n for n in p.nodes("prepare", doc) if n["will_run"]]
    assert len(stale) == 1 and stale[0]["reasons"] == ["input c0.txt changed"]
    waited = stale[0]["id"]
    new = [n for n in p.nodes("train", doc) if n["status"] == "new"]
    assert len(new) == 2
    for n in new:
        assert n["reasons"][0].startswith("differs from train/"), n
        assert n["reasons"][0].endswith(" in seed (0 → 3)"), n
        if n["deps"] == [waited]:
            assert n["reasons"][1:] == [f"waits on prepare/{waited[:8]}…"], n
        else:
            assert len(n["reasons"]) == 1, n
    assert sorted(len(n["reasons"]) for n in new) == [1, 2]


def test_a_plan_imports_no_scheduler_and_its_nodes_say_what_a_run_would(tmp_path):
    """``plan`` decides with plan nodes and never imports the scheduler or a launcher; its
    JSON is the one a node of a run would give (same fields)."""
    import subprocess
    p = Project(tmp_path, GRID, files={"c0.txt": "zero\n", "c1.txt": "one\n"})
    code = ("import sys, json\n"
            "from xpmbuild.build import build\n"
            "from xpmbuild.language import evaluate\n"
            f"r = build(evaluate({p.file!r}), {p.ws!r}, dry_run_only=True)\n"
            "print(json.dumps([sorted(m for m in sys.modules if m.startswith('xpmbuild.')"
            " and ('sched' in m or 'launch' in m)), r.to_json()['summary']]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=p.env, cwd=p.root, timeout=60)
    assert out.returncode == 0, out.stderr
    modules, summary = json.loads(out.stdout)
    assert modules == []
    assert summary == {"new": 8, "jobs": 8, "will_run": 8}
    doc = p.plan_json()
    assert all(set(n) == {"id", "task", "dir", "status", "reasons", "deps", "tags",
                          "will_run", "launcher"} for n in doc["nodes"])
    run = p.run_json()
    assert [set(n) for n in run["nodes"]] == [set(n) for n in doc["nodes"]]
    doc = p.plan_json("train")                    # up to date: no reasons, an empty list
    assert all(n["reasons"] == [] and n["status"] == "done" for n in doc["nodes"])
