"""Commands run in the wrapper's own shell (launchers/inplace.py): what may, and that such a
job keeps every guarantee of the launch protocol — its exit record after a kill -9 of
xpmbuild (written by the job itself, on the inherited lock), its SIGTERM recorded as 143,
and no program it starts holding its folder's lock.

Jobs here block until a ``go`` file appears next to the experiment (no timing)."""
from __future__ import annotations

import os
import re
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, kill_group, read, wait_for, write  # noqa: E402

from xpmbuild.launchers.inplace import environment_allows, runs_in_place  # noqa: E402

# outside the experiment's folder: not taken for code files (code.py); `test`, not `[`
WAIT_GO = "until test -e {here}/../go; do sleep 0.02; done"


@pytest.mark.parametrize("text", [
    "echo 1 > out.txt",
    "python train.py --lr 0.001 --name 'a b' > model.txt 2>&1",
    "cat '../../prep/1a2b/tokens.txt' 'x y.txt' > all.txt && wc -l all.txt >&2",
    "cd sub; make -j 2 all; exit 3",
    "until test -e go; do sleep 0.02; done\necho ok > o.txt",
    "python -m pkg.exec_tools --exec-mode fast > log.txt",
    "a |& b; c &> d.log; e 2>&1 | tee f",
    "if [ -e x.txt ]; then cat x.txt > o; fi; [[ -s o ]] || exit 4",
])
def test_commands_that_may_run_in_place(text):
    assert runs_in_place(text)


@pytest.mark.parametrize("text", [
    "exec python train.py",                 # the shell replaced: no EXIT trap
    "ex''ec python train.py",               # the same word, once quotes are removed
    "x=1 'exec' true",
    "echo hi; exec >log 2>&1; run",
    "trap 'rm -f tmp' EXIT; run",           # the wrapper's trap replaced
    "eval run", "source env.sh; run", ". venv/bin/activate && run", "builtin echo",
    "command -v python", "enable -n echo", "alias x=y",
    "echo() { :; }; run", "function kill { :; }",
    "IFS=: run", "for IFS in a; do run; done", "export XPM_JOB_DIR=/tmp", "getopts a XPM_X",
    "printf -v rc x", "read line < f", "set -x; run", "ulimit -f 0; run", "umask 777",
    "server &", "a & b", "(cd sub && run)", "{ run; }", "run $(nproc)", "$CMD args",
    "run `date`", "e\\xec true", "e?ec true", "./*", "run <<EOF\nx\nEOF", "coproc run",
    "run # exec",
    "[ab] x", "x [ab]", "ls ]x", "[[a]] x",
])
def test_commands_that_take_the_subshell(text):
    assert not runs_in_place(text)


def test_an_environment_with_shell_functions_or_bash_env_takes_the_subshell():
    assert environment_allows({"PATH": "/bin", "HOME": "/root"})
    assert not environment_allows({"PATH": "/bin", "BASH_FUNC_echo%%": "() { :; }"})
    assert not environment_allows({"BASH_ENV": "/etc/profile"})


def _exp(tmp_path, end: str) -> Project:
    return Project(tmp_path / "exp", f"""\
task t {{
    output o = "o.txt"
    shell "echo start >> {{here}}/../runs.log; {WAIT_GO}; {end}"
}}
t()
""")


def _running_wrapper(proj) -> tuple[str, int, str]:
    """(job folder, wrapper pid, wrapper script) once the job runs."""
    wait_for(lambda: proj.job_dirs("t") and
             (proj.state(proj.job_dir("t")) or {}).get("launcher_id"), 30,
             what="the job's running record")
    d = proj.job_dir("t")
    pid = proj.state(d)["launcher_id"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        script = f.read().split(b"\0")[2].decode()
    return d, pid, script


def _in_place(d: str, script: str) -> bool:
    action = read(os.path.join(d, "command.sh")).rstrip("\n").splitlines()[-1]
    assert runs_in_place(action), action
    return "{ set -eu -o pipefail; . ./command.sh; } 9>&-" in script


@pytest.mark.parametrize("end, status, code", [
    ("echo ok > {o}", "done", 0),
    ("exit 3", "failed", 3),
    ("false; echo never > {o}", "failed", 1),          # set -e inside the group
], ids=["done", "exit3", "set-e"])
def test_an_in_place_job_records_its_own_end_after_kill9(tmp_path, end, status, code):
    proj = _exp(tmp_path, end)
    p = proj.popen()
    try:
        d, _pid, script = _running_wrapper(proj)
        assert _in_place(d, script), script
        kill_group(p.pid, signal.SIGKILL)
        p.communicate(timeout=30)
    finally:        # the job ends whatever happened above (never left waiting)
        write(proj.path("../go"), "")
    # recorded by the job itself (xpmbuild.finish on the lock it inherited on fd 9)
    wait_for(lambda: (proj.state(d) or {}).get("status") == status, 30,
             what=f"the job to record its own end as {status}")
    st = proj.state(d)
    assert st["exit_code"] == code, st
    assert read(os.path.join(d, ".xpm-exit")).strip() == str(code)
    assert "resources" in st, st
    doc = proj.run_json(expect=0 if status == "done" else 1)
    if status == "done":
        assert [n["status"] for n in doc["nodes"]] == ["done"]
        assert read(proj.path("../runs.log")).split() == ["start"], "the job ran again"


def test_a_sigterm_to_an_in_place_job_is_recorded_as_143(tmp_path):
    proj = _exp(tmp_path, "echo ok > {o}")
    p = proj.popen()
    try:
        d, pid, script = _running_wrapper(proj)
        assert _in_place(d, script), script
        os.killpg(pid, signal.SIGTERM)      # the job's own process group, as `kill` would
        p.communicate(timeout=60)
    finally:        # the job ends whatever happened above (never left waiting)
        write(proj.path("../go"), "")
    st = proj.state(d)
    assert st["status"] == "failed" and st["exit_code"] == 143, st
    assert read(os.path.join(d, ".xpm-exit")).strip() == "143"


@pytest.mark.parametrize("extra", ["", "; echo $HOME > /dev/null"], ids=["in-place", "subshell"])
def test_programs_a_job_starts_do_not_hold_its_folders_lock(tmp_path, extra):
    proj = Project(tmp_path / "exp", f"""\
task t {{
    output o = "o.txt"
    shell "ls -l /proc/self/fd > {{o}}{extra}"
}}
t()
""")
    proj.run()
    d = proj.job_dir("t")
    assert runs_in_place(read(os.path.join(d, "command.sh")).splitlines()[-1]) == (not extra)
    targets = re.findall(r"-> (.*)$", read(os.path.join(d, "o.txt")), re.M)
    assert targets, read(os.path.join(d, "o.txt"))
    assert os.path.realpath(d) not in [os.path.realpath(t) for t in targets]


# a DAG of in-place jobs only (no `$`: they log their names, not their folders and pids)
CAMPAIGN = """\
task leaf {
    i: int
    output o = "o.txt"
    shell "echo start leaf{i} >> {here}/../runs.log; sleep 0.01; echo {i} > {o}; echo end leaf{i} >> {here}/../runs.log"
}
task mid {
    k: int
    a: leaf
    b: leaf
    output o = "o.txt"
    shell "echo start mid{k} >> {here}/../runs.log; cat {a.o} {b.o} > {o}; echo end mid{k} >> {here}/../runs.log"
}
leaves = [leaf(i=i) for i in range(60)]
for k in range(30) { mid(k=k, a=leaves[2 * k], b=leaves[2 * k + 1]) }
"""


@pytest.mark.slow
def test_kill9_campaign_on_in_place_jobs_runs_each_once(tmp_path):
    """xpmbuild SIGKILLed at random moments over 10 trials of a 90-job DAG whose commands
    all run in place, the next run started at once while the killed run's jobs go on:
    every job ran exactly once, every record says done, every output is right."""
    import random
    import time
    rng = random.Random(20261202)
    kills = 0
    for trial in range(10):
        root = tmp_path / f"t{trial}"
        proj = Project(root / "exp", CAMPAIGN)
        log = str(root / "runs.log")
        for _round in range(rng.randint(1, 3)):
            p = proj.popen("-j", str(rng.choice([2, 8, 30])))
            deadline = time.monotonic() + rng.uniform(0.0, 1.2)
            while time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.005)
            if p.poll() is None:
                kills += 1
            kill_group(p.pid, signal.SIGKILL)
            p.communicate(timeout=30)
        proj.run("-j", "8", timeout=300)
        words = read(log).split("\n")
        starts = [w.split()[1] for w in words if w.startswith("start ")]
        assert sorted(starts) == sorted(set(starts)), f"trial {trial}: a job ran twice"
        assert len(starts) == 90, (trial, len(starts))
        for d in proj.job_dirs("leaf") + proj.job_dirs("mid"):
            assert proj.state(d)["status"] == "done", (trial, d, proj.state(d))
            assert runs_in_place(read(os.path.join(d, "command.sh")).splitlines()[-1])
        assert sorted(int(read(os.path.join(d, "o.txt"))) for d in proj.job_dirs("leaf")) \
            == list(range(60))
        doc = proj.run_json()
        assert all(n["status"] == "done" for n in doc["nodes"])
        assert len([w for w in read(log).split("\n") if w.startswith("start ")]) == 90
    assert kills >= 5
