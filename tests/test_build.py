"""End-to-end tests of the build engine: incremental builds, reasons, targets, the workspace.

Everything goes through the real ``xpmbuild`` command line in a subprocess, on real files.
Every job of the experiment below appends one line to ``runs.log`` next to the .xpm file
(outside the workspace), so ``proj.executions()`` is the ground truth of what ran.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe, read, read_bytes, write  # noqa: E402

EXPERIMENT = """\
arg n: int = 2
arg corpus: path = "data/corpus.txt"
arg device: str = "cpu"

task prepare {
    \"\"\"Upper-case a corpus.\"\"\"
    corpus: path
    output tokens = "tokens.txt"
    shell "echo prepare >> {here}/runs.log; tr a-z A-Z < {corpus} > {tokens}"
}

task train {
    data: prepare
    seed: int = 0
    option device: str = "cpu"
    output model = "model.txt"
    shell "echo train-{seed} >> {here}/runs.log; cat {data.tokens} > {model}; echo seed={seed} >> {model}"
}

task evaluate {
    model: train
    output metrics = "metrics.txt"
    shell "echo evaluate-{model.seed} >> {here}/runs.log; wc -l < {model.model} > {metrics}"
}

task stats {
    text: path
    output counts = "counts.txt"
    shell "echo stats >> {here}/runs.log; wc -c < {text} > {counts}; echo to-stdout; echo to-stderr >&2"
}

p = prepare(corpus=corpus)
for s in range(n) {
    t = train(data=p, seed=tag(s), device=device)
    evaluate(model=t)
}
stats(text="data/other.txt")
"""

FILES = {"data/corpus.txt": "hello world\n", "data/other.txt": "abc\n"}
ALL = ["evaluate-0", "evaluate-1", "prepare", "stats", "train-0", "train-1"]



@pytest.fixture
def proj(tmp_path):
    return Project(tmp_path, EXPERIMENT, FILES)


@pytest.fixture
def built(proj):
    """The experiment after a first, complete build."""
    proj.run()
    assert proj.executions() == ALL
    return proj


def reasons_of(proj, task, **tags):
    return proj.node(task, **tags)["reasons"]


def short(job_id):
    return job_id[:8]


def later_mtime(path, seconds=5):
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


# ---------------------------------------------------------------------- incremental builds

def test_first_run_builds_everything_second_run_nothing(proj):
    doc = proj.run_json()
    assert proj.executions() == ALL
    assert doc["summary"]["ran"] == 6 and doc["summary"]["jobs"] == 6
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    assert all(n["reasons"] == ["never built"] for n in doc["nodes"]), doc["nodes"]
    # outputs are really there and right
    assert proj.output("prepare", "tokens.txt") == b"HELLO WORLD\n"
    assert proj.output("train", "model.txt", seed=1) == b"HELLO WORLD\nseed=1\n"

    doc = proj.run_json()
    assert proj.executions() == []
    assert doc["summary"]["ran"] == 0
    assert all(n["status"] == "done" and not n["will_run"] for n in doc["nodes"])

    r = proj.run()                      # the words a person reads
    assert proj.executions() == []
    assert "0 ran" in r.stdout and "6 up to date" in r.stdout, describe(r)

    doc = proj.plan_json()
    assert doc["summary"]["will_run"] == 0
    assert [n for n in doc["nodes"] if n["will_run"]] == []


def test_editing_an_input_reruns_exactly_the_affected_jobs(built):
    proj = built
    proj.write("data/other.txt", "abcdef\n")
    doc = proj.plan_json()
    assert proj.ran() == ["stats"]
    assert reasons_of(proj, "stats") == ["input data/other.txt changed"]
    doc = proj.run_json()
    assert proj.executions() == ["stats"]
    assert doc["summary"]["ran"] == 1
    assert proj.output("stats", "counts.txt").strip() == b"7"

    proj.write("data/corpus.txt", "goodbye\n")
    doc = proj.plan_json()
    prep = proj.node("prepare")
    assert prep["status"] == "stale" and prep["reasons"] == ["input data/corpus.txt changed"]
    for s in (0, 1):
        tr = proj.node("train", seed=s)
        assert tr["will_run"] and f"waits on prepare/{short(prep['id'])}" in " ".join(tr["reasons"])
    assert not proj.node("stats")["will_run"]
    doc = proj.run_json()
    assert proj.executions() == ["evaluate-0", "evaluate-1", "prepare", "train-0", "train-1"]
    assert proj.output("train", "model.txt", seed=0) == b"GOODBYE\nseed=0\n"
    for s in (0, 1):
        assert any("dependency prepare/" in r and "changed its output tokens" in r
                   for r in reasons_of(proj, "train", seed=s)), reasons_of(proj, "train", seed=s)
    proj.run()
    assert proj.executions() == []


def test_touching_an_input_without_changing_it_runs_nothing(built):
    proj = built
    later_mtime(proj.path("data/corpus.txt"))
    later_mtime(proj.path("data/other.txt"))
    proj.plan_json()
    assert proj.ran() == []
    doc = proj.run_json()
    assert proj.executions() == []
    assert doc["summary"]["ran"] == 0
    # rewriting the same bytes (a new inode-less write, new mtime) is no change either
    proj.write("data/corpus.txt", "hello world\n")
    proj.run()
    assert proj.executions() == []


def test_early_cutoff_identical_output_does_not_rerun_dependents(built):
    proj = built
    tokens_before = proj.output("prepare", "tokens.txt")
    proj.write("data/corpus.txt", "HELLO world\n")     # upper-cased: the same tokens
    proj.plan_json()
    prep = proj.node("prepare")
    assert prep["status"] == "stale" and prep["will_run"]
    assert prep["reasons"] == ["input data/corpus.txt changed"]
    for s in (0, 1):
        tr = proj.node("train", seed=s)
        assert tr["status"] == "waiting", tr
        assert tr["reasons"] == [f"waits on prepare/{short(prep['id'])}…"], tr
    doc = proj.run_json()
    assert proj.executions() == ["prepare"]
    assert doc["summary"]["ran"] == 1
    assert proj.output("prepare", "tokens.txt") == tokens_before
    assert all(n["status"] == "done" for n in doc["nodes"])
    proj.plan_json()
    assert proj.ran() == []


def test_changing_an_option_runs_nothing(built):
    """`device` is an option: not part of identity or fingerprint."""
    proj = built
    before = {n["id"] for n in proj.plan_json()["nodes"]}
    doc = proj.plan_json("-D", "device=cuda")
    assert {n["id"] for n in doc["nodes"]} == before
    assert proj.ran() == []
    proj.run("-D", "device=cuda")
    assert proj.executions() == []


def test_changing_an_option_used_in_the_command_runs_nothing(tmp_path):
    """An `option` that appears in a shell template (the usual case: options exist to be
    passed to the action) is still left out of the fingerprint (language.md §3)."""
    proj = Project(tmp_path, """\
        arg device: str = "cpu"
        task train {
            seed: int = 0
            option device: str = "cpu"
            option workers: int = 1
            output model = "model.txt"
            shell "echo train >> {here}/runs.log; echo seed={seed} device={device} workers={workers} > /dev/null; echo {seed} > {model}"
        }
        train(seed=1, device=device)
        """)
    doc = proj.run_json()
    assert proj.executions() == ["train"]
    ids = [n["id"] for n in doc["nodes"]]
    doc = proj.plan_json("-D", "device=cuda")
    assert [n["id"] for n in doc["nodes"]] == ids
    assert proj.ran() == [], doc["nodes"]
    proj.run("-D", "device=cuda")
    assert proj.executions() == []


def test_adding_a_parameter_with_a_default_keeps_ids_and_runs_nothing(built):
    proj = built
    dirs = {t: proj.job_dirs(t) for t in ("prepare", "train", "evaluate", "stats")}
    text = EXPERIMENT.replace("    corpus: path\n",
                              "    corpus: path\n    lowercase: bool = True\n")
    text = text.replace("    seed: int = 0\n", "    seed: int = 0\n    epochs: int = 10\n"
                        "    note: str? = None\n")
    assert text != EXPERIMENT
    proj.write_xpm(text)
    doc = proj.plan_json()
    assert proj.ran() == []
    assert sorted(n["dir"] for n in doc["nodes"]) == sorted(d for v in dirs.values() for d in v)
    proj.run()
    assert proj.executions() == []
    assert {t: proj.job_dirs(t) for t in dirs} == dirs       # no new folders


def test_changed_shell_template_reruns_with_command_changed(built):
    proj = built
    proj.write_xpm(EXPERIMENT.replace("echo seed={seed} >> {model}",
                                      "echo seed={seed} v2 >> {model}"))
    proj.plan_json()
    assert proj.ran() == ["evaluate", "evaluate", "train", "train"]
    for s in (0, 1):
        assert reasons_of(proj, "train", seed=s) == ["command changed"]
    doc = proj.run_json()
    assert proj.executions() == ["evaluate-0", "evaluate-1", "train-0", "train-1"]
    assert proj.output("train", "model.txt", seed=0).endswith(b"seed=0 v2\n")
    for s in (0, 1):
        assert any(r.startswith("dependency train/") and r.endswith("changed its output model")
                   for r in reasons_of(proj, "evaluate", seed=s))


def test_missing_or_modified_output_reruns_that_job(built):
    proj = built
    proj.plan_json()
    ev1 = proj.node("evaluate", seed=1)["dir"]
    os.unlink(os.path.join(ev1, "metrics.txt"))
    proj.plan_json()
    assert proj.ran() == ["evaluate"]
    assert reasons_of(proj, "evaluate", seed=1) == ["output metrics.txt is missing"]
    proj.run()
    assert proj.executions() == ["evaluate-1"]
    assert os.path.exists(os.path.join(ev1, "metrics.txt"))

    tr0 = proj.node("train", seed=0)["dir"]
    model = os.path.join(tr0, "model.txt")
    good = read_bytes(model)
    with open(model, "ab") as f:
        f.write(b"tampered\n")
    proj.plan_json()
    assert reasons_of(proj, "train", seed=0) == ["output model.txt changed since its build"]
    proj.run()
    # rebuilt to the same bytes: its dependent stays up to date (early cut-off)
    assert proj.executions() == ["train-0"]
    assert read_bytes(model) == good
    proj.run()
    assert proj.executions() == []


def test_force_task_and_force_all(built):
    proj = built
    proj.plan_json("--force", "train")
    assert proj.ran() == ["evaluate", "evaluate", "train", "train"]
    for s in (0, 1):
        assert "forced (--force train)" in reasons_of(proj, "train", seed=s)
    doc = proj.run_json("--force", "train")
    # rebuilt to identical outputs: evaluate is not rerun
    assert proj.executions() == ["train-0", "train-1"]
    assert doc["summary"]["ran"] == 2

    proj.run("--force", "train", "--force", "stats")
    assert proj.executions() == ["stats", "train-0", "train-1"]

    doc = proj.run_json("--force-all")
    assert proj.executions() == ALL
    assert all("forced (--force-all)" in n["reasons"] for n in doc["nodes"]), doc["nodes"]

    proj.run()
    assert proj.executions() == []

    r = proj.run("--force", "nosuchtask", expect=2)
    assert "nosuchtask" in r.stderr
    assert proj.executions() == []


def test_targets_with_tag_filters_build_only_what_they_need(proj):
    doc = proj.run_json("evaluate[seed=1]")
    assert proj.executions() == ["evaluate-1", "prepare", "train-1"]
    assert sorted(n["task"] for n in doc["nodes"]) == ["evaluate", "prepare", "train"]
    assert proj.node("evaluate")["tags"] == {"seed": 1}

    proj.plan_json()
    assert proj.ran() == ["evaluate", "stats", "train"]
    assert proj.node("train", seed=0)["status"] == "new"
    assert proj.node("train", seed=1)["status"] == "done"

    proj.run("train")
    assert proj.executions() == ["train-0"]
    proj.run("evaluate[seed=1]", "stats")
    assert proj.executions() == ["stats"]

    r = proj.run("nosuchtask", expect=2)
    assert "nosuchtask" in r.stderr
    proj.run("evaluate[seed=7]")            # matches nothing: nothing to do
    assert proj.executions() == []


def test_define_overrides(built):
    proj = built
    doc = proj.run_json("-D", "n=3")
    assert proj.executions() == ["evaluate-2", "train-2"]
    assert len(proj.nodes("train")) == 3
    assert proj.output("train", "model.txt", seed=2) == b"HELLO WORLD\nseed=2\n"

    # a path arg given on the command line: a new prepare job reads the other file
    write(proj.path("data/alt.txt"), "alt text\n")
    doc = proj.run_json("-D", "corpus=data/alt.txt")
    assert proj.executions() == ["evaluate-0", "evaluate-1", "prepare", "train-0", "train-1"]
    assert len(proj.job_dirs("prepare")) == 2
    assert proj.output("train", "model.txt", seed=0) == b"ALT TEXT\nseed=0\n"

    r = proj.run("-D", "n=notanumber", expect=2)
    assert "n" in r.stderr
    assert proj.executions() == []


# ---------------------------------------------------------------------- the workspace

def test_job_folder_layout(built):
    proj = built
    doc = proj.plan_json()
    tr = proj.node("train", seed=1)
    prep = proj.node("prepare")
    d = tr["dir"]
    assert d == os.path.join(proj.ws, "jobs", "train", tr["id"])
    for name in ("params.json", "command.sh", "stdout.log", "stderr.log", "state.json",
                 "model.txt"):
        assert os.path.isfile(os.path.join(d, name)), name

    params = json.loads(read(os.path.join(d, "params.json")))
    assert params["task"] == "train" and params["id"] == tr["id"]
    assert params["params"]["seed"] == 1
    assert params["params"]["data"]["id"] == prep["id"]
    assert params["outputs"] == {"model": "model.txt"}
    assert params["tags"] == {"seed": 1}

    st = proj.state(d)
    assert st["status"] == "done" and st["exit_code"] == 0
    assert isinstance(st["started"], (int, float)) and isinstance(st["ended"], (int, float))
    assert st["started"] <= st["ended"] <= time.time() + 1
    assert st["host"] == socket.gethostname()
    assert st["launcher"] == "local"
    assert isinstance(st["launcher_id"], int) and st["launcher_id"] > 0
    assert isinstance(st["fingerprint"], str) and len(st["fingerprint"]) >= 16
    assert set(st["outputs"]) == {"model"}

    # command.sh re-runs the job by hand, from the job folder or from anywhere
    good = read_bytes(os.path.join(d, "model.txt"))
    for cwd, script in ((d, "command.sh"), (proj.root, os.path.join(d, "command.sh"))):
        os.unlink(os.path.join(d, "model.txt"))
        r = subprocess.run(["bash", script], cwd=cwd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert read_bytes(os.path.join(d, "model.txt")) == good
    assert proj.executions() == ["train-1", "train-1"]
    # rewritten by hand, identical: still up to date
    proj.run()
    assert proj.executions() == []

    # stdout and stderr are captured in the job folder
    s = proj.node("stats")["dir"]
    assert read(os.path.join(s, "stdout.log")) == "to-stdout\n"
    assert read(os.path.join(s, "stderr.log")) == "to-stderr\n"


def test_experiment_folder_lists_jobs_and_links(built):
    proj = built
    doc = proj.plan_json()
    exp = os.path.join(proj.ws, "experiments", "exp")
    lines = [json.loads(line) for line in read(os.path.join(exp, "jobs.jsonl")).splitlines()]
    assert len(lines) == 6
    by_id = {n["id"]: n for n in doc["nodes"]}
    assert {line["id"] for line in lines} == set(by_id)
    for line in lines:
        assert set(line) >= {"id", "task", "dir", "tags"}
        n = by_id[line["id"]]
        assert line["task"] == n["task"] and line["tags"] == n["tags"]
        assert os.path.realpath(line["dir"]) == os.path.realpath(n["dir"])
    links = os.listdir(os.path.join(exp, "jobs"))
    assert len(links) == 6
    targets = {os.path.realpath(os.path.join(exp, "jobs", x)) for x in links}
    assert targets == {os.path.realpath(n["dir"]) for n in doc["nodes"]}

    # --name: another experiment folder over the same job folders; nothing runs. A
    # targeted run records the whole plan (issue 7: the record is what `gc` keeps)
    proj.run("--name", "other", "evaluate[seed=0]")
    assert proj.executions() == []
    other = os.path.join(proj.ws, "experiments", "other")
    assert len(read(os.path.join(other, "jobs.jsonl")).splitlines()) == 6
    assert len(os.listdir(os.path.join(other, "jobs"))) == 6


def remove_fast_path_manifests(proj):
    """Drop the no-op fast path's manifests (.xpm/noop-*), so the full path decides."""
    meta = os.path.join(proj.ws, ".xpm")
    for name in os.listdir(meta):
        if name.startswith("noop-"):
            os.unlink(os.path.join(meta, name))


def test_deleted_index_is_rebuilt(built):
    proj = built
    meta = os.path.join(proj.ws, ".xpm")
    index = os.path.join(meta, "index.sqlite")
    assert os.path.exists(index)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(index + suffix):
            os.unlink(index + suffix)
    doc = proj.run_json()
    assert proj.executions() == []
    assert doc["summary"]["ran"] == 0
    # the whole .xpm folder (index and any other cache) gone: the full path, still a no-op
    shutil.rmtree(meta)
    doc = proj.run_json()
    assert proj.executions() == []
    assert doc["summary"]["ran"] == 0
    assert all(n["status"] == "done" for n in doc["nodes"])
    assert os.path.exists(index)
    # and it still notices changes
    proj.write("data/other.txt", "changed\n")
    proj.run()
    assert proj.executions() == ["stats"]


def test_corrupt_index_is_dropped(built):
    proj = built
    index = os.path.join(proj.ws, ".xpm", "index.sqlite")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(index + suffix):
            os.unlink(index + suffix)
    remove_fast_path_manifests(proj)
    write(index, b"this is not a database\x00\xff" * 200)
    doc = proj.run_json()
    assert proj.executions() == []
    assert doc["summary"]["ran"] == 0
    assert all(n["status"] == "done" for n in doc["nodes"])
    # garbage again, then a forced job (never the fast path): only that job runs
    write(index, b"\x00garbage" * 1000)
    proj.run("--force", "stats")
    assert proj.executions() == ["stats"]
    write(index, b"SQLite format 3\x00" + b"\xff" * 4000)   # a plausible header, then junk
    proj.write("data/corpus.txt", "something else\n")
    proj.run()
    assert proj.executions() == ["evaluate-0", "evaluate-1", "prepare", "train-0", "train-1"]


def test_unreadable_state_json_reruns_the_job(built):
    """A state.json that is not JSON (a crash of some other tool, a disk problem) is not
    a successful build: the job is rebuilt, the others are not."""
    proj = built
    d = proj.job_dir("stats")
    write(os.path.join(d, "state.json"), "{not json")
    proj.plan_json()
    assert proj.ran() == ["stats"]
    proj.run()
    assert proj.executions() == ["stats"]
    assert proj.state(d)["status"] == "done"


def test_deleted_input_is_an_error_before_anything_runs(built):
    """A missing `path` input is an error of plan and run (exit 2, at the call), not a
    stale job that fails (tests/test_path_inputs.py has the details)."""
    proj = built
    os.unlink(proj.path("data/other.txt"))
    for r in (proj.plan(expect=2), proj.run(expect=2)):
        assert "stats(text=...): input path data/other.txt" in r.stderr, describe(r)
        assert "does not exist" in r.stderr, describe(r)
    assert proj.executions() == []
    write(proj.path("data/other.txt"), "abc\n")
    proj.run()
    assert proj.executions() == []       # the same content as before: nothing to redo
    write(proj.path("data/other.txt"), "abcd\n")
    proj.run()
    assert proj.executions() == ["stats"]


def test_folder_inputs_and_outputs_are_tracked_by_names_and_contents(tmp_path):
    proj = Project(tmp_path, """\
        task index {
            src: path
            output listing = "listing"
            shell "echo index >> {here}/runs.log; mkdir -p {listing}; cp -r {src}/. {listing}/"
        }
        task count {
            idx: index
            output n = "n.txt"
            shell "echo count >> {here}/runs.log; find {idx.listing} -type f | wc -l > {n}"
        }
        count(idx=index(src="docs"))
        """, {"docs/a.txt": "a\n", "docs/sub/b.txt": "b\n"})
    proj.run()
    assert proj.executions() == ["count", "index"]
    assert proj.output("count", "n.txt").strip() == b"2"

    later_mtime(proj.path("docs/a.txt"))           # touched: nothing
    proj.run()
    assert proj.executions() == []

    write(proj.path("docs/sub/c.txt"), "c\n")      # a new file in the folder
    proj.plan_json()
    assert reasons_of(proj, "index") == ["input docs changed"]
    proj.run()
    assert proj.executions() == ["count", "index"]
    assert proj.output("count", "n.txt").strip() == b"3"

    os.rename(proj.path("docs/sub/c.txt"), proj.path("docs/sub/d.txt"))   # a rename
    proj.plan_json()
    assert reasons_of(proj, "index") == ["input docs changed"]
    proj.run()
    assert proj.executions() == ["count", "index"]   # the listing's names changed too

    write(proj.path("docs/a.txt"), "A\n")           # a content change deep inside
    proj.plan_json()
    assert reasons_of(proj, "index") == ["input docs changed"]
    proj.run()
    assert proj.executions() == ["count", "index"]
    proj.run()
    assert proj.executions() == []

    # a folder output changed by hand is noticed
    listing = os.path.join(proj.job_dir("index"), "listing")
    write(os.path.join(listing, "extra.txt"), "x\n")
    proj.plan_json()
    assert reasons_of(proj, "index") == ["output listing changed since its build"]
    proj.run()
    assert proj.executions() == ["index"]
    assert not os.path.exists(os.path.join(listing, "extra.txt"))


def test_workspace_from_environment_or_default(proj):
    env = dict(proj.env, XPM_WORKSPACE=os.path.join(proj.root, "from-env"))
    r = subprocess.run([sys.executable, "-m", "xpmbuild.cli", "run", proj.file],
                       cwd=proj.root, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, describe(r)
    assert os.path.isdir(os.path.join(proj.root, "from-env", "jobs", "prepare"))
    assert proj.executions() == ALL
    r = subprocess.run([sys.executable, "-m", "xpmbuild.cli", "run", proj.file, "--json"],
                       cwd=proj.root, env=proj.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, describe(r)
    assert json.loads(r.stdout)["workspace"] == os.path.join(proj.root, "xpm-workspace")
    assert os.path.isdir(os.path.join(proj.root, "xpm-workspace", "jobs", "prepare"))
    assert proj.executions() == ALL


def test_plan_and_dry_run_change_nothing(proj):
    doc = proj.plan_json()
    assert proj.ran() == sorted(["prepare", "train", "train", "evaluate", "evaluate", "stats"])
    assert all(n["status"] == "new" for n in doc["nodes"])
    doc = proj.run_json("-n")
    assert doc["dry_run"] and doc["summary"]["will_run"] == 6
    assert not os.path.exists(proj.ws)
    assert proj.executions() == []

    proj.run()
    proj.executions()
    proj.write("data/corpus.txt", "changed\n")
    before = {d: os.stat(os.path.join(d, "state.json")).st_mtime_ns
              for t in ("prepare", "train", "evaluate", "stats") for d in proj.job_dirs(t)}
    proj.plan()
    proj.run("-n")
    after = {d: os.stat(os.path.join(d, "state.json")).st_mtime_ns for d in before}
    assert after == before
    assert proj.executions() == []


def test_a_copied_workspace_is_judged_by_its_own_files(built):
    """BUG (engine, noop.py): the no-op fast path's manifest (.xpm/noop-*.marshal) holds
    absolute paths and its key does not include the workspace. After `cp -a ws ws2`, a
    run with `-w ws2` checks the *original* workspace's files: a deleted output in the
    copy goes unnoticed (the run says every job is done), and the --json `dir`s point
    into the original workspace. The key should include the workspace root (or the
    manifest should hold paths relative to it)."""
    proj = built
    proj.run()                                  # a complete no-op run: the manifest exists
    copy = proj.ws + "-copy"
    shutil.copytree(proj.ws, copy, symlinks=True)
    ev = os.path.join(copy, "jobs", "evaluate")
    victim = os.path.join(ev, sorted(os.listdir(ev))[0], "metrics.txt")
    os.unlink(victim)
    original, proj.ws = proj.ws, copy
    doc = proj.run_json()
    assert all(n["dir"].startswith(copy + os.sep) for n in doc["nodes"]), doc["nodes"][0]
    assert os.path.exists(victim), "the output deleted in the copied workspace was not rebuilt"
    ran = proj.executions()
    assert len(ran) == 1 and ran[0].startswith("evaluate-"), ran
    assert all(os.path.exists(os.path.join(original, "jobs", t)) for t in ("prepare", "train"))
