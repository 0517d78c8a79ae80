"""Code is part of the fingerprint (code.py), and a new job says how it differs from the
nearest job of its task (neighbours.py) — through the real CLI and workspace."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project  # noqa: E402

SHELL = """\
task prepare {
    n: int
    output o = "o.txt"
    shell "echo prepare >> {here}/runs.log; python3 {here}/prepare.py {n} > {o}"
}
task literal {
    output o = "o.txt"
    shell "echo literal >> {here}/runs.log; cd {here} && bash scripts/run.sh > $XPM_JOB_DIR/{o}"
}
prepare(n=1)
literal()
"""

PREPARE = """\
import sys
import helpers
from lib import util
print(helpers.scale(int(sys.argv[1])) + util.OFFSET)
"""


def shell_project(tmp_path):
    return Project(tmp_path, SHELL, files={
        "prepare.py": PREPARE,
        "helpers.py": "def scale(n):\n    return 2 * n\n",
        "lib/__init__.py": "",
        "lib/util.py": "OFFSET = 1\n",
        "scripts/run.sh": "echo run\n",
        "unrelated.py": "X = 1\n"})


def reasons_of(proj, task):
    return proj.node(task)["reasons"]


def test_editing_a_script_named_by_here_rebuilds_with_the_file_named(tmp_path):
    proj = shell_project(tmp_path)
    proj.run()
    assert proj.output("prepare", "o.txt") == b"3\n"
    assert proj.executions() == ["literal", "prepare"]
    proj.run()
    assert proj.executions() == []            # the no-op path saw nothing change

    proj.write("prepare.py", PREPARE.replace("+ util.OFFSET", "+ util.OFFSET + 10"))
    proj.plan_json()
    assert reasons_of(proj, "prepare") == ["code prepare.py changed"]
    assert not proj.node("literal")["will_run"]
    proj.run()
    assert proj.executions() == ["prepare"]
    assert proj.output("prepare", "o.txt") == b"13\n"


def test_local_imports_are_tracked_transitively_and_comments_rebuild(tmp_path):
    proj = shell_project(tmp_path)
    proj.run()
    proj.executions()
    proj.write("lib/util.py", "OFFSET = 5\n")
    proj.plan_json()
    assert reasons_of(proj, "prepare") == ["code lib/util.py changed"]
    proj.run()
    assert proj.output("prepare", "o.txt") == b"7\n"
    proj.write("helpers.py", "# a comment\ndef scale(n):\n    return 2 * n\n")
    proj.plan_json()
    assert reasons_of(proj, "prepare") == ["code helpers.py changed"]   # documented choice
    proj.run()
    proj.executions()
    # a file nobody imports changes nothing
    proj.write("unrelated.py", "X = 2\n")
    proj.run()
    assert proj.executions() == []


def test_a_literal_relative_path_is_tracked(tmp_path):
    proj = shell_project(tmp_path)
    proj.run()
    proj.executions()
    proj.write("scripts/run.sh", "echo run twice\n")
    proj.plan_json()
    assert reasons_of(proj, "literal") == ["code scripts/run.sh changed"]
    assert not proj.node("prepare")["will_run"]
    proj.run()
    assert proj.executions() == ["literal"]


PYTHON = """\
task count {
    n: int
    output out = "out.txt"
    python "pkg.count:main"
}
count(n=3)
"""


def test_a_python_action_tracks_its_module_and_what_it_imports(tmp_path):
    proj = Project(tmp_path, PYTHON, files={
        "pkg/__init__.py": "",
        "pkg/count.py": ("from . import words\nfrom pkg.numbers import double\n\n"
                         "def main(n, out):\n    out.write_text(words.WORD * double(n))\n"),
        "pkg/words.py": "WORD = 'a'\n",
        "pkg/numbers.py": "def double(n):\n    return 2 * n\n"})
    proj.run()
    assert proj.output("count", "out.txt") == b"aaaaaa"
    for rel, text, out in (("pkg/words.py", "WORD = 'b'\n", b"bbbbbb"),
                           ("pkg/numbers.py", "def double(n):\n    return 3 * n\n", b"bbbbbbbbb"),
                           ("pkg/count.py", None, None)):
        if text is None:
            text = open(proj.path(rel)).read() + "# edited\n"
        proj.write(rel, text)
        proj.plan_json()
        assert reasons_of(proj, "count") == [f"code {rel} changed"], rel
        proj.run()
        if out is not None:
            assert proj.output("count", "out.txt") == out
    # running it left __pycache__ folders: they change nothing
    proj.plan_json()
    assert not proj.node("count")["will_run"]


def test_a_new_job_names_the_parameter_that_changed(tmp_path):
    text = """\
config opt {
    lr: float = 0.001
    momentum: float = 0.9
}
task train {
    o: opt
    seed: int
    output m = "m.txt"
    shell "echo {o.lr} {seed} > {m}"
}
for seed in range(2) { train(o=opt(lr=LR), seed=seed) }
"""
    proj = Project(tmp_path, text.replace("LR", "0.001"))
    doc = proj.run_json()
    assert all(n["reasons"] == ["never built"] for n in doc["nodes"])
    old = {n["tags"].get("seed", i): n["id"] for i, n in enumerate(doc["nodes"])}
    proj.write_xpm(text.replace("LR", "0.0001"))
    proj.plan_json()
    for i, n in enumerate(proj.nodes("train")):
        assert n["status"] == "new"
        assert n["reasons"] == [f"differs from train/{old[i][:8]}… in o.lr (0.001 → 0.0001)"], n


def test_uses_adds_files_and_folders_to_the_fingerprint(tmp_path):
    proj = Project(tmp_path, """\
task run {
    uses "scripts/", "conf.yaml"
    output o = "o.txt"
    shell "echo run >> {here}/runs.log; cd {here} && bash scripts/main.sh > $XPM_JOB_DIR/{o}"
}
run()
""", files={"scripts/main.sh": "bash scripts/lib/part.sh\n",
            "scripts/lib/part.sh": "echo part\n", "conf.yaml": "a: 1\n"})
    proj.run()
    assert proj.executions() == ["run"]
    proj.write("scripts/lib/part.sh", "echo part two\n")
    proj.plan_json()
    assert proj.node("run")["reasons"] == ["code scripts changed"]
    proj.run()
    assert proj.output("run", "o.txt") == b"part two\n"
    proj.write("conf.yaml", "a: 2\n")
    proj.plan_json()
    assert proj.node("run")["reasons"] == ["code conf.yaml changed"]
    proj.run()
    proj.executions()
    # a new file in a used folder rebuilds, through the no-op fast path too
    proj.write("scripts/new.sh", "echo new\n")
    proj.run()
    assert proj.executions() == ["run"]


def test_a_fifo_in_a_used_folder_is_hashed_by_its_type_never_opened(tmp_path):
    """code.py hashed code folders with a walk of its own, which opened a FIFO and hung;
    it now uses hashing.py's folder hash, with __pycache__ and compiled files left out."""
    proj = Project(tmp_path, """\
task run {
    uses "scripts/"
    output o = "o.txt"
    shell "echo run >> {here}/runs.log; echo x > {o}"
}
run()
""", files={"scripts/a.sh": "echo a\n"})
    os.mkfifo(proj.path("scripts/pipe"))
    proj.run(timeout=60)
    assert proj.executions() == ["run"]
    os.makedirs(proj.path("scripts/__pycache__"))
    proj.write("scripts/__pycache__/x.pyc", "junk")
    proj.plan_json()
    assert not proj.node("run")["will_run"]
    proj.write("scripts/a.sh", "echo b\n")
    proj.plan_json()
    assert proj.node("run")["reasons"] == ["code scripts changed"]
