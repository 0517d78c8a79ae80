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

PROBE = r"""
import json, runpy, sys
sys.argv = ["xpmbuild"] + json.loads(sys.argv[1])
try:
    runpy.run_module("xpmbuild.cli", run_name="__main__")
except SystemExit:
    pass
heavy = ("networkx", "starlette", "uvicorn", "xpmbuild.monitor", "xpmbuild.launchers.slurm", "xpmbuild.launchers.oar", "sh")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy)),
      file=sys.stderr)
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
