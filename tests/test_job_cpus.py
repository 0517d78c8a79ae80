"""A local job runs on every CPU xpmbuild may use: however it is started (a spawn pinned
for speed, launchers/local.py), neither the job's shell nor any program it starts keeps a
narrower CPU mask — a training job pinned to one core would silently run many times
slower."""
from __future__ import annotations

import glob
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project  # noqa: E402

N = 120


# the same probes run in the wrapper's own shell (launchers/inplace.py) and, with a "$",
# in a subshell of it
COMMANDS = {
    "in-place": "grep Cpus_allowed_list /proc/self/status > {o}; "
                "(grep Cpus_allowed_list /proc/self/status) >> {o}",
    "subshell": "grep Cpus_allowed_list /proc/$$/status > {o}; "
                "(grep Cpus_allowed_list /proc/self/status) >> {o}",
}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: no mask to narrow")
@pytest.mark.parametrize("how", sorted(COMMANDS))
def test_every_job_and_its_programs_may_use_every_cpu(tmp_path, how):
    proj = Project(tmp_path, f"""
task probe {{
    i: int
    output o = "cpus.txt"
    shell "{COMMANDS[how]}"
}}
for i in range({N}) {{ probe(i=i) }}
""")
    proj.run("-j", "2")
    want = None
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list"):
                want = line.split(":", 1)[1].strip()
    outs = glob.glob(os.path.join(proj.ws, "jobs", "probe", "*", "cpus.txt"))
    assert len(outs) == N
    narrowed = []
    for path in outs:
        with open(path) as f:
            for line in f:
                if line.split(":", 1)[1].strip() != want:
                    narrowed.append((path, line.strip()))
    assert not narrowed, f"{len(narrowed)} programs ran on fewer CPUs than {want}: {narrowed[:3]}"
