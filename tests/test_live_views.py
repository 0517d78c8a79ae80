"""Live terminal views with real runs: `status --watch` (a frame per interval off a
terminal), `jobs log --follow`, and the run's progress on a pseudo-terminal naming the
running jobs with their elapsed time, its Ctrl-C question not drawn over."""
from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time

from buildutil import XPMBUILD, clean_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")

XPM = '''
arg gate: str = "gate"
task train {
    seed: int = 0
    gate: str
    output log = "log.txt"
    shell """
        echo "line 1 of {seed}"
        echo "warning 1 of {seed}" >&2
        while [ ! -e {gate} ]; do sleep 0.05; done
        echo "line 2 of {seed}"
        echo done > {log}
    """
}
for seed in range(2) {
    train(seed=tag(seed), gate=gate)
}
'''


class Reader:
    """Collects a stream (a pipe or a pty's master) in a thread; ``wait_for`` polls it."""

    def __init__(self, fd_or_file):
        self.data = b""
        self.lock = threading.Lock()
        self.src = fd_or_file
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                chunk = os.read(self.src, 65536) if isinstance(self.src, int) \
                    else self.src.read1(65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.data += chunk

    def text(self, plain=True) -> str:
        with self.lock:
            t = self.data.decode("utf-8", "replace")
        return ANSI.sub("", t) if plain else t

    def wait_for(self, cond, what, proc=None, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.text()
            if cond(t):
                return t
            if proc is not None and proc.poll() is not None and not self.thread.is_alive() \
                    and not cond(self.text()):
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} in:\n{self.text()}")


def _setup(tmp_path):
    (tmp_path / "exp.xpm").write_text(XPM)
    return tmp_path / "ws", tmp_path / "gate"


def _start_run(tmp_path, ws, gate, **kw):
    return subprocess.Popen(XPMBUILD + ["run", "exp.xpm", "-w", str(ws), "-j", "2",
                                        "-D", f"gate={gate}"], cwd=tmp_path,
                            env=clean_env(), **kw)


def _wait_running(ws, n=2, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [os.path.join(d, "stdout.log") for d, _, files in os.walk(ws / "jobs")
                if "stdout.log" in files]
        if len(logs) >= n and all("line 1" in open(p).read() for p in logs):
            return
        time.sleep(0.05)
    raise AssertionError("the jobs did not start")


def test_status_watch_shows_a_running_job_then_done(tmp_path):
    ws, gate = _setup(tmp_path)
    run = _start_run(tmp_path, ws, gate, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watch = None
    try:
        _wait_running(ws)
        watch = subprocess.Popen(XPMBUILD + ["status", "--watch", "-w", str(ws), "--interval",
                                             "0.2"], cwd=tmp_path, env=clean_env(COLUMNS="200"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = Reader(watch.stdout)
        text = out.wait_for(lambda t: re.search(r"▸ train/\w{8} \[seed=\d\]  running \d+s", t),
                            "running job with its elapsed time", watch)
        assert "running (2):" in text

        def last_frame(t):
            frames = re.split(r"── \d\d:\d\d:\d\d ─+", t)
            return frames[-2] if len(frames) > 2 else ""    # the last complete one
        gate.write_text("")
        frame = last_frame(out.wait_for(
            lambda t: "done" in last_frame(t) and "running" not in last_frame(t),
            "frame with the jobs done", watch))
        assert re.search(r"train\s*│\s*2\s*│\s*2", frame), frame
        assert run.wait(timeout=60) == 0
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0          # Ctrl-C ends the watch, exit 0
        assert b"Traceback" not in watch.stderr.read()
    finally:
        gate.write_text("")
        for p in (run, watch):
            if p is not None and p.poll() is None:
                p.kill()


def test_status_watch_shows_the_last_failure_with_its_stderr(tmp_path):
    (tmp_path / "f.xpm").write_text('task boom {\n    shell "echo it broke here >&2; exit 4"\n}'
                                    '\nboom()\n')
    ws = tmp_path / "ws"
    r = subprocess.run(XPMBUILD + ["run", "f.xpm", "-w", str(ws)], cwd=tmp_path,
                       env=clean_env(), capture_output=True, timeout=60)
    assert r.returncode == 1
    watch = subprocess.Popen(XPMBUILD + ["status", "--watch", "-w", str(ws), "--interval", "0.2"],
                             cwd=tmp_path, env=clean_env(COLUMNS="200"), stdout=subprocess.PIPE)
    try:
        text = Reader(watch.stdout).wait_for(lambda t: "│ it broke here" in t, "stderr tail",
                                             watch)
        assert re.search(r"✗ boom/\w{8}: exit code 4", text), text
    finally:
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0


def test_jobs_log_follow_until_the_job_ends_and_ctrl_c(tmp_path):
    ws, gate = _setup(tmp_path)
    run = _start_run(tmp_path, ws, gate, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    follows = []
    try:
        _wait_running(ws)
        job = sorted(os.listdir(ws / "jobs" / "train"))[0]
        seed = open(ws / "jobs" / "train" / job / "stdout.log").read().split()[-1]
        f = subprocess.Popen(XPMBUILD + ["jobs", "log", job[:8], "-w", str(ws), "--follow"],
                             cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        stopped = subprocess.Popen(XPMBUILD + ["jobs", "log", job[:8], "-w", str(ws), "-f",
                                               "--stdout"], cwd=tmp_path, env=clean_env(),
                                   stdout=subprocess.PIPE)
        follows = [f, stopped]
        out, err, out2 = Reader(f.stdout), Reader(f.stderr), Reader(stopped.stdout)
        out.wait_for(lambda t: f"line 1 of {seed}" in t, "first line", f)
        err.wait_for(lambda t: f"warning 1 of {seed}" in t, "the job's stderr", f)
        out2.wait_for(lambda t: "line 1" in t, "first line (--stdout)", stopped)
        assert f.poll() is None                     # the job still runs: still following
        stopped.send_signal(signal.SIGINT)          # Ctrl-C: exit 0
        assert stopped.wait(timeout=30) == 0
        gate.write_text("")                         # the job goes on and ends
        assert f.wait(timeout=60) == 0              # ... and the follow ends with it
        out.thread.join(10)
        assert out.text() == f"line 1 of {seed}\nline 2 of {seed}\n"
        assert run.wait(timeout=60) == 0
    finally:
        gate.write_text("")
        for p in [run] + follows:
            if p.poll() is None:
                p.kill()


def test_run_on_a_terminal_names_running_jobs_and_asks_without_drawing_over(tmp_path):
    ws, gate = _setup(tmp_path)
    master, slave = pty.openpty()
    env = clean_env(TERM="xterm-256color", COLUMNS="200", LINES="50")
    proc = subprocess.Popen(XPMBUILD + ["run", "exp.xpm", "-w", str(ws), "-j", "2", "-D",
                                        f"gate={gate}"], cwd=tmp_path, env=env, stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    term = Reader(master)
    try:
        # the running jobs, by name and tags, with their elapsed time ticking
        term.wait_for(lambda t: len(re.findall(r"▸ train/\w{8} \[seed=\d\]  \((\d+)s\)", t))
                      >= 2, "running jobs in the progress display", proc)
        term.wait_for(lambda t: re.search(r"▸ train/\w{8} \[seed=\d\]  \(([1-9]\d*)s\)", t),
                      "an elapsed time that grows", proc)
        proc.send_signal(signal.SIGINT)
        term.wait_for(lambda t: "Interrupted: cancel the 2 running jobs" in t, "the question",
                      proc)
        asked = len(term.text(plain=False))
        # a frame of the live display is drawn ten times a second; none comes after the
        # question while it waits for the answer
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.1)
        after = term.text(plain=False)[asked:]
        assert "building" not in after and "▸" not in after, repr(after)
        os.write(master, b"y\n")
        assert proc.wait(timeout=60) == 130
    finally:
        gate.write_text("")
        if proc.poll() is None:
            proc.kill()
        term.thread.join(10)
        os.close(master)


def test_status_watch_on_a_terminal_is_a_live_view(tmp_path):
    ws, gate = _setup(tmp_path)
    run = _start_run(tmp_path, ws, gate, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    master, slave = pty.openpty()
    watch = None
    try:
        _wait_running(ws)
        watch = subprocess.Popen(XPMBUILD + ["status", "--watch", "-w", str(ws), "--interval",
                                             "0.2"], cwd=tmp_path,
                                 env=clean_env(TERM="xterm-256color", COLUMNS="200"),
                                 stdin=slave, stdout=slave, stderr=slave,
                                 start_new_session=True)
        os.close(slave)
        slave = None
        term = Reader(master)
        term.wait_for(lambda t: "running (2):" in t, "the running jobs", watch)
        gate.write_text("")
        # redrawn in place (cursor moves, no frame separators) until the jobs are done
        def done(t):
            tail = t.split("▸")[-1]
            return re.search(r"┃\s*done\s*┃\s*total", tail) and \
                re.search(r"train\s*│\s*2\s*│\s*2", tail)
        text = term.wait_for(done, "the jobs done", watch)
        assert "── " not in text
        assert "\x1b[1A" in term.text(plain=False) or "\x1b[2K" in term.text(plain=False)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
        assert "Traceback" not in term.text()
        assert run.wait(timeout=60) == 0
    finally:
        gate.write_text("")
        if slave is not None:
            os.close(slave)
        for p in (run, watch):
            if p is not None and p.poll() is None:
                p.kill()
        os.close(master)
