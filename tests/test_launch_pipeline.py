"""The local launch pipeline, for real: the running record written once a job has run a
little (launching.RUNNING_RECORD_AFTER), plain progress lines held at most 0.1 s. Real bash
processes, a real workspace, the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import write_xpm

DEADLINE = 60


def until(cond, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not seen within {deadline} s: {what}")


WAITS = """\
task w {
    flag: str
    output o = "o.txt"
    shell "while [ ! -e {flag} ]; do sleep 0.02; done; echo ok > {o}"
}
w(flag="FLAG")
"""


def test_a_running_job_is_said_and_recorded_with_its_pid_while_it_runs(tmp_path):
    flag = tmp_path / "go"
    f = write_xpm(tmp_path, WAITS.replace("FLAG", str(flag)))
    ws = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-m", "xpmbuild.cli", "run", str(f), "-w", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the "start" line reaches a pipe while the job still runs (not held until its end)
        import select
        ready, _, _ = select.select([proc.stderr], [], [], DEADLINE)
        assert ready, "no progress line while the job runs"
        line = proc.stderr.readline()
        assert line.startswith("start"), line
        state_file = until(lambda: next(iter(ws.glob("jobs/w/*/state.json")), None), "a record")

        def running():
            st = json.loads(state_file.read_text())
            return st if st["status"] == "running" else None
        st = until(running, "the running record")
        pid = st["launcher_id"]
        assert isinstance(pid, int) and os.path.exists(f"/proc/{pid}")
        assert [s for s, _ in st["history"]] == ["queued", "running"]
        flag.write_text("")
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    st = json.loads(state_file.read_text())
    assert st["status"] == "done" and st["launcher_id"] == pid
    assert [s for s, _ in st["history"]] == ["queued", "running", "done"]


@pytest.mark.parametrize("n", [40])
def test_many_short_jobs_each_recorded_done_with_pid_and_history(tmp_path, n):
    f = write_xpm(tmp_path, f"""\
        task t {{
            i: int
            output o = "o.txt"
            shell "echo {{i}} > {{o}}"
        }}
        for i in range({n}) {{ t(i=i) }}
        """)
    ws = tmp_path / "ws"
    r = subprocess.run([sys.executable, "-m", "xpmbuild.cli", "run", str(f), "-w", str(ws),
                        "-j", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\nstart") + r.stderr.startswith("start") == n
    assert r.stderr.count("done    t/") == n
    states = [json.loads(p.read_text()) for p in ws.glob("jobs/t/*/state.json")]
    assert len(states) == n
    for st in states:
        assert st["status"] == "done" and isinstance(st["launcher_id"], int)
        assert [s for s, _ in st["history"]] == ["queued", "running", "done"]
    outs = sorted(int(p.read_text()) for p in ws.glob("jobs/t/*/o.txt"))
    assert outs == list(range(n))
