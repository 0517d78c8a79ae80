"""The local launch pipeline, for real: jobs spawned by a thread (launchers/spawner.py), the
running record written once a job has run a little (launching.RUNNING_RECORD_AFTER), plain
progress lines held at most 0.1 s. Real bash processes, a real workspace, the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import write_xpm
from xpmbuild.launchers import local
from xpmbuild.launchers.base import LaunchRequest
from xpmbuild.launchers.local import LocalLauncher
from xpmbuild.launchers.spawner import Spawner

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


def _request(tmp_path, name, command):
    d = tmp_path / name
    d.mkdir()
    (d / "command.sh").write_text(command)
    return LaunchRequest(name, str(d))


def _wait_all(launcher, n):
    ended = []
    end = time.monotonic() + DEADLINE
    while len(ended) < n and time.monotonic() < end:
        ended += launcher.wait(1.0)
    return ended


def test_a_job_cancelled_before_its_spawn_was_collected_is_stopped(tmp_path):
    launcher = LocalLauncher(slots=2)
    try:
        h = launcher.start(_request(tmp_path, "a", "echo started > started; sleep 600\n"))
        assert h.launcher_id is None            # spawned by the thread, not collected yet
        launcher.cancel([h])
        ended = launcher.kill_after(10.0)
    finally:
        launcher.close()
    assert [e.handle.key for e in ended] == ["a"]
    assert ended[0].exit_code in (143, -15, 137, -9)
    pid = h.launcher_id
    assert isinstance(pid, int)
    until(lambda: not os.path.exists(f"/proc/{pid}"), "the job's process gone")


def test_a_spawn_that_fails_is_an_ended_job_and_gives_its_resources_back(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(local, "BASH", str(tmp_path / "no-such-bash"))
    launcher = LocalLauncher(slots=2)
    try:
        launcher.start(_request(tmp_path, "a", "true\n"))
        ended = _wait_all(launcher, 1)
    finally:
        launcher.close()
    assert len(ended) == 1 and ended[0].status == "failed"
    assert "cannot start bash" in ended[0].reason
    assert launcher.running() == 0


def test_the_spawner_reports_in_order_pids_and_errors(tmp_path):
    sp = Spawner()
    try:
        for i in range(5):
            path = "/bin/true" if i != 2 else str(tmp_path / "missing")
            sp.submit(i, path, [path], dict(os.environ), [])
        got = []
        end = time.monotonic() + DEADLINE
        while len(got) < 5 and time.monotonic() < end:
            got += sp.collect(wait=1.0)
    finally:
        sp.close()
    assert [t for t, _ in got] == [0, 1, 2, 3, 4]
    assert isinstance(got[2][1], OSError)
    for t, pid in got:
        if t != 2:
            assert os.waitpid(pid, 0)[1] == 0
    assert sp.pending == 0


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
