"""Shared helpers for the end-to-end tests of the build engine.

Everything goes through the real path: real ``.xpm`` files and inputs in a temporary
folder, the real ``xpmbuild`` command line in a subprocess, the real workspace on disk.

    proj = Project(tmp_path, XPM_TEXT, files={"corpus.txt": "hello\n"})
    r = proj.run()                        # CompletedProcess; r.returncode, r.stdout, r.stderr
    doc = proj.run_json()                 # the parsed ``--json`` document
    proj.node("prepare")["reasons"]       # a node of the last JSON document
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

XPMBUILD = [sys.executable, "-m", "xpmbuild.cli"]


def clean_env(**extra) -> dict:
    """The environment for xpmbuild subprocesses: no user settings, no inherited workspace
    or GPUs, so that the machine running the tests does not change what they see."""
    env = dict(os.environ)
    for k in ("XPM_WORKSPACE", "CUDA_VISIBLE_DEVICES"):
        env.pop(k, None)
    env["XPM_SETTINGS_USER"] = os.devnull + "-no-such-settings.toml"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def default_signals():
    """Run in a child before exec: SIGINT and SIGTERM back to their default dispositions,
    whatever the test run inherited (a shell's ``cmd &`` starts it with SIGINT ignored, and
    a Python started with SIGINT ignored never raises KeyboardInterrupt), so that the
    interrupt tests do not depend on who launched them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write(path, text: str | bytes, dedent=True):
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if isinstance(text, bytes):
        with open(path, "wb") as f:
            f.write(text)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text) if dedent else text)


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def xpmbuild(*args, cwd, timeout=60, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(XPMBUILD + [str(a) for a in args], cwd=str(cwd), env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def describe(r: subprocess.CompletedProcess) -> str:
    return (f"exit {r.returncode}\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}")


class Project:
    """An experiment folder: one .xpm file, its input files, and a workspace next to it."""

    def executions(self) -> list[str]:
        """Jobs that executed since the last call (sorted), from the runs.log the test
        experiments append to; then clears it."""
        path = self.path("runs.log")
        try:
            lines = read(path).split()
        except FileNotFoundError:
            return []
        os.unlink(path)
        return sorted(lines)

    def __init__(self, root, xpm_text: str, files: dict | None = None, name="exp.xpm",
                 env=None):
        self.root = str(root)
        self.file = os.path.join(self.root, name)
        self.ws = os.path.join(self.root, "ws")
        self.env = env or clean_env()
        self.last: dict | None = None
        self.write_xpm(xpm_text)
        for rel, text in (files or {}).items():
            write(self.path(rel), text)

    # ------------------------------------------------------------------ files
    def path(self, rel) -> str:
        return os.path.join(self.root, rel)

    def write_xpm(self, text: str):
        write(self.file, text)

    def write(self, rel, text, dedent=False):
        write(self.path(rel), text, dedent=dedent)

    # ------------------------------------------------------------------ commands
    def cli(self, command, *args, timeout=60) -> subprocess.CompletedProcess:
        return xpmbuild(command, self.file, "-w", self.ws, *args, cwd=self.root,
                        timeout=timeout, env=self.env)

    def run(self, *args, expect=0, timeout=60) -> subprocess.CompletedProcess:
        r = self.cli("run", *args, timeout=timeout)
        if expect is not None:
            assert r.returncode == expect, describe(r)
        return r

    def plan(self, *args, expect=0) -> subprocess.CompletedProcess:
        r = self.cli("plan", *args)
        if expect is not None:
            assert r.returncode == expect, describe(r)
        return r

    def _json(self, r) -> dict:
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            raise AssertionError("--json did not print one JSON document\n" + describe(r))
        self.last = doc
        return doc

    def run_json(self, *args, expect=0, timeout=60) -> dict:
        return self._json(self.run("--json", *args, expect=expect, timeout=timeout))

    def plan_json(self, *args, expect=0) -> dict:
        return self._json(self.plan("--json", *args, expect=expect))

    def popen(self, *args, **kw) -> subprocess.Popen:
        """``xpmbuild run`` in the background, in its own session (own process group)."""
        kw.setdefault("preexec_fn", default_signals)
        return subprocess.Popen(XPMBUILD + ["run", self.file, "-w", self.ws] +
                                [str(a) for a in args], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, **kw)

    def runs_together(self, n: int, *args, timeout=60, started=None) -> list[tuple[str, str]]:
        """``n`` runs started at once; each must exit 0. Their (stdout, stderr); none is
        left running whatever happens. ``started(procs)``: called once they are started
        (e.g. to release them together)."""
        procs = [self.popen(*args) for _ in range(n)]
        try:
            if started is not None:
                started(procs)
            results = [p.communicate(timeout=timeout) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    kill_group(p.pid)
        for p, (out, err) in zip(procs, results):
            assert p.returncode == 0, f"exit {p.returncode}\n{out[-2000:]}\n{err[-3000:]}"
        return results

    # ------------------------------------------------------------------ the JSON document
    def nodes(self, task=None, doc=None) -> list[dict]:
        doc = doc or self.last
        return [n for n in doc["nodes"] if task is None or n["task"] == task]

    def node(self, task, doc=None, **tags) -> dict:
        found = [n for n in self.nodes(task, doc)
                 if all(n["tags"].get(k) == v for k, v in tags.items())]
        assert len(found) == 1, f"{len(found)} nodes of {task} {tags}: {found}"
        return found[0]

    def ran(self, doc=None) -> list[str]:
        """Task names (sorted) of the jobs that would run (plan) or that ran (run)."""
        doc = doc or self.last
        if doc["dry_run"]:
            return sorted(n["task"] for n in doc["nodes"] if n["will_run"])
        return sorted(n["task"] for n in doc["nodes"] if n["will_run"] and n["status"] == "done")

    # ------------------------------------------------------------------ the workspace
    def job_dirs(self, task) -> list[str]:
        d = os.path.join(self.ws, "jobs", task)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, x) for x in os.listdir(d))

    def job_dir(self, task) -> str:
        dirs = self.job_dirs(task)
        assert len(dirs) == 1, f"{len(dirs)} job folders of {task}: {dirs}"
        return dirs[0]

    def state(self, job_dir) -> dict | None:
        try:
            return json.loads(read(os.path.join(job_dir, "state.json")))
        except FileNotFoundError:
            return None

    def output(self, task, rel, **tags) -> bytes:
        d = self.node(task, **tags)["dir"] if tags else self.job_dir(task)
        return read_bytes(os.path.join(d, rel))


# ---------------------------------------------------------------------- processes

def proc_state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, Z...), None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """A process exists and is not a zombie (a zombie's children are gone, it runs nothing)."""
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(entry))
    return out


def wait_for(pred, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def kill_group(pgid: int, sig=9):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
