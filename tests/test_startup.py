"""Start-up stays cheap: `--help`, `run` and `plan` import neither networkx nor the
cluster launchers (measured with the real entry point in a fresh interpreter)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, clean_env  # noqa: E402

# the modules are listed by an exit function: a run or plan ends with os._exit once
# they have run (cli.quick_exit), so nothing after run_module would run
PROBE = r"""
import atexit, json, runpy, sys
sys.argv = ["xpmbuild"] + json.loads(sys.argv[1])
heavy = ("networkx", "starlette", "uvicorn", "xpmbuild.monitor", "xpmbuild.launchers.slurm", "xpmbuild.launchers.oar", "sh")
atexit.register(lambda: print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0]
                                                in heavy or m in heavy)), file=sys.stderr))
runpy.run_module("xpmbuild.cli", run_name="__main__")
"""


def imported(args, cwd):
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd,
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    return json.loads(p.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["--help", "run", "plan", "run-again"])
def test_no_heavy_import(tmp_path, command):
    proj = Project(tmp_path, """\
task t {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
for i in range(3) { t(i=i) }
""")
    if command == "--help":
        args = ["--help"]
    else:
        if command == "run-again":
            proj.run()
        args = [command.split("-")[0], proj.file, "-w", proj.ws]
    assert imported(args, proj.root) == []


LIGHT = r"""
import atexit, json, runpy, sys
sys.argv = ["xpmbuild"] + json.loads(sys.argv[1])
heavy = ("click", "rich", "rich_click", "lark", "xpmbuild.language", "xpmbuild.cli.common")
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in heavy or m in heavy
    or m.startswith("xpmbuild.language"))), file=sys.stderr))
runpy.run_module("xpmbuild.cli", run_name="__main__")
"""


def light_imports(args, cwd):
    p = subprocess.run([sys.executable, "-c", LIGHT, json.dumps(args)], cwd=cwd,
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    return p.stdout, json.loads(p.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["--version", "run-noop", "run-noop-attached",
                                     "plan-json-noop"])
def test_answered_before_click(tmp_path, command):
    """`--version` and a no-op run (or plan --json) import neither click, rich nor the
    language: they are answered from the no-op manifest by stats alone."""
    proj = Project(tmp_path, """\
task t {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
for i in range(3) { t(i=i) }
""")
    if command == "--version":
        out, mods = light_imports(["--version"], proj.root)
        assert out == "xpmbuild, version 0.1.0\n"
    else:
        proj.run()
        args = ["run", proj.file, "-w", proj.ws]
        if command == "run-noop-attached":        # click's short forms: -wDIR -j2
            args = ["run", proj.file, "-w" + proj.ws, "-j2"]
        if command == "plan-json-noop":
            args = ["plan", proj.file, "-w", proj.ws, "--json"]
            proj.plan("--json")      # the plan's own manifest
        out, mods = light_imports(args, proj.root)
        if command.startswith("run-noop"):
            assert out == "3 jobs: 3 done (0 ran, 3 up to date), 0 failed, 0 skipped\n"
        else:
            assert json.loads(out)["summary"] == {"done": 3, "jobs": 3, "will_run": 0}
    assert mods == []


def test_options_beyond_the_fast_reader_take_the_full_path(tmp_path):
    """What the fast reader does not know (--force, a bad -j, --help) is click's to
    answer: the same answers as before."""
    proj = Project(tmp_path, """\
task t {
    i: int
    output o = "o.txt"
    shell "echo {i} > {o}"
}
for i in range(2) { t(i=i) }
""")
    proj.run()
    r = proj.run("--force", "t")
    assert "2 ran" in r.stdout
    r = proj.run("-j", "0", expect=2)
    assert "-j" in r.stderr
    r = proj.run("-D", "nope", expect=2)
    assert "expected NAME=VALUE" in r.stderr
    r = proj.run("-D", "x=1", expect=2)
    assert "no arg 'x'" in r.stderr
    r = proj.run("--help")
    assert "--force" in r.stdout


INCREMENTAL = r"""
import atexit, json, runpy, sys
sys.argv = ["xpmbuild"] + json.loads(sys.argv[1])
costly = ("dataclasses", "inspect", "typing", "urllib", "socket", "ast", "shutil", "pathlib",
          "tempfile", "lark", "click", "rich")
before = set(sys.modules)       # (an editable install's finder imports some at start)
atexit.register(lambda: print(json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in costly and m not in before)),
    file=sys.stderr))
runpy.run_module("xpmbuild.cli", run_name="__main__")
"""


def test_incremental_run_imports_little(tmp_path):
    """A run after one input changed (incremental.py: the cached plan, one job decided
    again) imports none of the stdlib modules that cost milliseconds each and that it has
    no use for (dataclasses and inspect, typing, urllib, socket, ast, shutil, pathlib...)."""
    proj = Project(tmp_path, """\
task t {
    i: int
    src: path
    output o = "o.txt"
    shell "cat {src} > {o}; echo {i} >> {o}"
}
for i in range(3) { t(i=i, src="in%d.txt" % i) }
""")
    for i in range(3):
        proj.write(f"in{i}.txt", "a\n")
    proj.run()
    proj.write("in0.txt", "b\n")
    p = subprocess.run([sys.executable, "-c", INCREMENTAL,
                        json.dumps(["run", proj.file, "-w", proj.ws, "--json"])],
                       cwd=proj.root, capture_output=True, text=True, env=clean_env(),
                       timeout=60)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)["summary"]
    assert (summary["ran"], summary.get("kept")) == (1, 2)      # the incremental path
    assert json.loads(p.stderr.strip().splitlines()[-1]) == []
