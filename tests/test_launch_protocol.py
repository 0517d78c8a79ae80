"""The launch protocol under kill -9 (recovery.py, launchers/local.py, scheduler._launch).

A job's record and its folder's lock exist before the job can run; the job's wrapper keeps
the lock for its whole life and records the exit code whatever the command does (``exec``,
``cd``), so after a kill -9 of xpmbuild at any instant nothing runs twice, nothing
finished is lost, and nothing is marked done that was not.

Jobs here block on a ``go`` file next to the experiment, so a test decides when they end
(no timing), and log ``start``/``end`` lines with their job folder to ``runs.log``.
"""
from __future__ import annotations

import os
import random
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, alive, describe, kill_group, read, wait_for, write  # noqa: E402

# the go file lies outside the experiment's folder: a file the command names inside it
# would be tracked as code (code.py), and its appearance would rebuild the job
WAIT_GO = "while [ ! -e {here}/../go ]; do sleep 0.02; done"

PYJOB = """\
import os, time

def log(word):
    with open(os.path.join(HERE, "runs.log"), "a") as f:
        f.write(f"{word} {os.environ['XPM_JOB_DIR']} {os.getpid()}\\n")

HERE = os.path.dirname(os.path.abspath(__file__))

def work(i, out=None, x=None, y=None, block=False):
    log("start")
    while block and not os.path.exists(os.path.join(HERE, "..", "go")):
        time.sleep(0.02)
    time.sleep((i % 5) * 0.01)
    with open("out.txt", "w") as f:
        f.write(f"py {i}\\n")
    log("end")
"""


def log_lines(proj):
    try:
        return [line.split() for line in read(proj.path("runs.log")).splitlines() if line]
    except FileNotFoundError:
        return []


def runs_per_job(proj):
    starts, ends = {}, {}
    for word, d, _pid in log_lines(proj):
        (starts if word == "start" else ends).setdefault(os.path.basename(d), []).append(d)
    return starts, ends


def started(proj, n):
    return sum(1 for w, *_ in log_lines(proj) if w == "start") >= n


class Run:
    def __init__(self, proj, *args):
        self.p = proj.popen(*args)

    def kill9(self):
        kill_group(self.p.pid, signal.SIGKILL)
        self.p.communicate(timeout=30)


def job_pids(proj):
    return [int(pid) for w, _d, pid in log_lines(proj) if w == "start"]


# ----------------------------------------------------------------------------- defects

@pytest.mark.parametrize("action", [
    f'shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; {WAIT_GO}; echo ok > {{o}}; '
    'exec true"',
    f'shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; cd /; {WAIT_GO}; '
    'echo ok > $XPM_JOB_DIR/{o}"',
], ids=["exec", "cd"])
def test_a_shell_job_that_execs_or_cds_still_records_its_end_after_kill9(tmp_path, action):
    proj = Project(tmp_path / "exp", f"""\
task t {{
    output o = "o.txt"
    {action}
}}
t()
""")
    run = Run(proj)
    wait_for(lambda: started(proj, 1), 30, what="the job to start")
    run.kill9()
    write(proj.path("../go"), "")
    d = proj.job_dir("t")
    wait_for(lambda: (proj.state(d) or {}).get("status") == "done", 30,
             what="the job to record its own result")
    assert not os.path.exists("/.xpm-exit") or os.path.getmtime("/.xpm-exit") < time.time() - 60
    assert read(os.path.join(d, ".xpm-exit")).strip() == "0"
    doc = proj.run_json()
    assert [n["status"] for n in doc["nodes"]] == ["done"]
    assert len(log_lines(proj)) == 1, "the job ran again"


def test_a_python_action_records_its_end_after_kill9(tmp_path):
    proj = Project(tmp_path / "exp", """\
task t {
    i: int
    block: bool = True
    output out = "out.txt"
    python "job:work"
}
t(i=1)
""", files={"job.py": PYJOB})
    run = Run(proj)
    wait_for(lambda: started(proj, 1), 30, what="the job to start")
    run.kill9()
    write(proj.path("../go"), "")
    d = proj.job_dir("t")
    wait_for(lambda: (proj.state(d) or {}).get("status") == "done", 30,
             what="the python job to record its own result")
    proj.run()
    starts, ends = runs_per_job(proj)
    assert [len(v) for v in starts.values()] == [1], "the job ran again"


def test_kill9_right_after_a_wide_batch_is_spawned_runs_nothing_twice(tmp_path):
    """kill -9 as soon as the first of 40 jobs starts: the others of the batch are being
    spawned. The next run, started at once, must wait for every one of them."""
    proj = Project(tmp_path / "exp", f"""\
task t {{
    i: int
    output o = "o.txt"
    shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; {WAIT_GO}; echo {{i}} > {{o}}; echo end $XPM_JOB_DIR $$ >> {{here}}/runs.log"
}}
for i in range(40) {{ t(i=i) }}
""")
    run = Run(proj, "-j", "40")
    wait_for(lambda: started(proj, 1), 30, what="a job to start")
    run.kill9()
    second = Run(proj, "-j", "40")
    # the second run must not start any job the first one started
    time_started = len(job_pids(proj))
    write(proj.path("../go"), "")
    out, err = second.p.communicate(timeout=120)
    assert second.p.returncode == 0, out + err
    starts, ends = runs_per_job(proj)
    assert len(starts) == 40 and all(len(v) == 1 for v in starts.values()), \
        {k: len(v) for k, v in starts.items() if len(v) != 1}
    assert all(len(v) == 1 for v in ends.values()) and len(ends) == 40
    assert time_started >= 1
    for d in proj.job_dirs("t"):
        assert proj.state(d)["status"] == "done"


def test_a_record_exists_before_the_job_runs(tmp_path):
    """Every job that has started has a record saying so, and its folder is locked."""
    proj = Project(tmp_path / "exp", f"""\
task t {{
    i: int
    shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; {WAIT_GO}"
}}
for i in range(10) {{ t(i=i) }}
""")
    run = Run(proj, "-j", "10")
    try:
        wait_for(lambda: started(proj, 10), 30, what="the jobs to start")
        run.kill9()
        import fcntl
        for _w, d, _pid in log_lines(proj):
            st = proj.state(d)
            assert st and st["status"] in ("queued", "running"), (d, st)
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
    finally:
        write(proj.path("../go"), "")
    proj.run()
    assert len(log_lines(proj)) == 10


# ----------------------------------------------------------------------------- the campaign

DAG = f"""\
task leaf {{
    i: int
    output o = "o.txt"
    shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; sleep 0.0$(( {{i}} % 4 )); echo {{i}} > {{o}}; echo end $XPM_JOB_DIR $$ >> {{here}}/runs.log"
}}
task mid {{
    a: leaf
    b: leaf
    output o = "o.txt"
    shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; cat {{a.o}} {{b.o}} > {{o}}; echo end $XPM_JOB_DIR $$ >> {{here}}/runs.log"
}}
task py {{
    i: int
    x: mid
    output out = "out.txt"
    python "job:work"
}}
task top {{
    x: py
    y: mid
    output o = "o.txt"
    shell "echo start $XPM_JOB_DIR $$ >> {{here}}/runs.log; cat {{x.out}} {{y.o}} > {{o}}; echo end $XPM_JOB_DIR $$ >> {{here}}/runs.log"
}}
leaves = []
for i in range(100) {{ leaves = leaves + [leaf(i=i)] }}
mids = []
for k in range(50) {{ mids = mids + [mid(a=leaves[2 * k], b=leaves[2 * k + 1])] }}
pys = []
for k in range(30) {{ pys = pys + [py(i=k, x=mids[k])] }}
for k in range(20) {{ top(x=pys[k], y=mids[49 - k]) }}
"""


@pytest.mark.slow
def test_kill9_campaign_on_a_200_job_dag(tmp_path):
    """xpmbuild is SIGKILLed at random moments (and right after wide batches start) over
    20 trials of a 200-job DAG of shell and python jobs, with the next run started at once
    while the killed run's jobs go on; then a final run. Every job ran exactly once, none
    twice at once, every record says done, every output is there and right."""
    rng = random.Random(20261201)
    kills = 0
    for trial in range(20):
        proj = Project(tmp_path / f"t{trial}", DAG, files={"job.py": PYJOB})
        for _round in range(rng.randint(1, 3)):
            run = Run(proj, "-j", str(rng.choice([4, 16, 40])))
            if rng.random() < 0.5:      # right after a batch starts
                n = len(job_pids(proj)) + rng.randint(1, 30)
                try:
                    wait_for(lambda: started(proj, n) or run.p.poll() is not None, 60,
                             interval=0.005, what=f"{n} jobs to start")
                except AssertionError:
                    pass
            else:
                deadline = time.monotonic() + rng.uniform(0.0, 1.5)
                while time.monotonic() < deadline and run.p.poll() is None:
                    time.sleep(0.005)
            if run.p.poll() is None:
                kills += 1
            run.kill9()
        r = proj.run("-j", "8", timeout=300, expect=None)
        assert r.returncode == 0, f"trial {trial}: " + describe(r)
        starts, ends = runs_per_job(proj)
        twice = {k: v for k, v in starts.items() if len(v) != 1}
        assert not twice, f"trial {trial}: jobs started more than once: {twice}"
        assert len(starts) == 200 and len(ends) == 200, (trial, len(starts), len(ends))
        for task, n in (("leaf", 100), ("mid", 50), ("py", 30), ("top", 20)):
            dirs = proj.job_dirs(task)
            assert len(dirs) == n
            for d in dirs:
                st = proj.state(d)
                assert st["status"] == "done", (trial, d, st)
                out = "out.txt" if task == "py" else "o.txt"
                assert os.path.getsize(os.path.join(d, out)) > 0
        # and it is all up to date: nothing runs again
        doc = proj.run_json()
        assert all(n["status"] == "done" for n in doc["nodes"])
        assert runs_per_job(proj)[0] == starts
        for pid in job_pids(proj):
            assert not alive(pid)
    assert kills >= 20
