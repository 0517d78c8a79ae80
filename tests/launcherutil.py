"""Helpers for the launcher tests that run jobs on the real services (Slurm, OAR, sshd).

Everything goes through the real path: the ``xpmbuild`` command line in a subprocess, the
real cluster commands (``squeue``, ``scontrol``, ``sacct``, ``oarstat``), the real workspace.

The project folder (the .xpm, its ``xpmbuild.toml`` and the workspace ``ws``) is made with
``tempfile.mkdtemp(dir="/tmp")`` and mode 755: OAR jobs run as an ordinary user, who must be
able to reach the job folders (pytest's ``tmp_path`` under ``/tmp/pytest-of-root`` is mode 700).

    proj = cluster_project(SMALL, settings=SLURM_SETTINGS)   # fixture: a factory
    proj.run("-l", "slurm", timeout=120)
    proj.state(proj.job_dir("prepare"))["launcher_id"]
    slurm_jobs(proj.root)            # every Slurm job submitted from this project

At teardown the factory cancels every cluster job the project left queued or running
(``scancel``/``oardel``), kills the background ``xpmbuild`` processes it started, and removes
the folder.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))
from tests.services.harness import require_service  # noqa: E402,F401
from buildutil import (XPMBUILD, Project, clean_env, describe, kill_group,  # noqa: E402,F401
                       read, wait_for, write)

# ---------------------------------------------------------------------- the small experiment
# [env] of the launcher tests' settings: check_small_done checks that the jobs saw it
ENV_SETTINGS = """
[env]
XPM_T_ENV = "from settings: 'a' $b"
"""
ENV_VALUE = "from settings: 'a' $b"

# prepare → part ×4 (parallel, each depending on prepare) → agg (depending on the four).
# Each job records when it started and ended (``date +%s.%N``) in its own folder; the four
# parts record the Slurm and SSH variables they saw (job.env), so tests can check what ran
# where and in which order.
SMALL = """\
task prepare {
    output data = "data.txt"
    shell "date +%s.%N > t_start; seq 10 10 40 > {data}; date +%s.%N > t_end"
}
task part {
    data: prepare
    i: int
    output o = "o.txt"
    shell "date +%s.%N > t_start; env | grep -E '^(SLURM_JOB_ID|SLURM_ARRAY_JOB_ID|SLURM_ARRAY_TASK_ID|SSH_CONNECTION|XPM_T_ENV)=' > job.env || true; sed -n {i}p {data.data} > {o}; sleep 1; date +%s.%N > t_end"
}
task agg {
    a: part
    b: part
    c: part
    d: part
    output total = "total.txt"
    shell "date +%s.%N > t_start; cat {a.o} {b.o} {c.o} {d.o} > {total}; date +%s.%N > t_end"
}
p = prepare()
agg(a=part(data=p, i=tag(1)), b=part(data=p, i=tag(2)), c=part(data=p, i=tag(3)), d=part(data=p, i=tag(4)))
"""
SMALL_TOTAL = b"10\n20\n30\n40\n"
SMALL_TASKS = {"prepare": 1, "part": 4, "agg": 1}

TERMINAL_SLURM = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                  "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def sh(*argv, timeout=60, check=True, env=None) -> subprocess.CompletedProcess:
    """Run a command (a cluster client); fail the test with its output when it fails."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                       env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))}: exit {r.returncode}\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def job_env(job_dir) -> dict[str, str]:
    """The variables a ``part`` job of SMALL recorded (job.env)."""
    path = os.path.join(job_dir, "job.env")
    return dict(line.split("=", 1) for line in read(path).splitlines() if "=" in line)


def quiet_env(**extra) -> dict:
    """``clean_env`` without the variables of an ssh session that pytest may run in, so a
    job that sees SSH_CONNECTION was started through the test's own sshd."""
    env = clean_env(**extra)
    for k in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "SSH_AUTH_SOCK"):
        env.pop(k, None)
    return env


class ClusterProject(Project):
    """A project in a world-traversable folder under /tmp, with its ``xpmbuild.toml``."""

    def __init__(self, xpm_text: str, settings: str = "", files=None, env=None, prefix="xpm-"):
        root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chmod(root, 0o755)
        super().__init__(root, xpm_text, files=files, env=env or quiet_env())
        self.procs: list[subprocess.Popen] = []
        if settings:
            self.write_settings(settings)

    def write_settings(self, text: str):
        """Write ``xpmbuild.toml`` (with the ``[env]`` table of ENV_SETTINGS)."""
        write(self.path("xpmbuild.toml"), text + ENV_SETTINGS)

    def cmd(self, *args, timeout=60, expect=None) -> subprocess.CompletedProcess:
        """``xpmbuild ARGS`` (no file, no -w: give them) from the project folder."""
        r = subprocess.run(XPMBUILD + [str(a) for a in args], cwd=self.root, env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if expect is not None:
            assert r.returncode == expect, describe(r)
        return r

    def status_json(self, timeout=60) -> dict:
        r = self.cmd("status", "-w", self.ws, "--json", timeout=timeout, expect=0)
        return json.loads(r.stdout)

    def background(self, *args) -> subprocess.Popen:
        p = self.popen(*args)
        self.procs.append(p)
        return p

    # ------------------------------------------------------------------ the workspace
    def states(self, task=None) -> dict[str, dict]:
        """{job folder: state.json} of every job folder (of ``task``), missing states skipped."""
        out = {}
        tasks = [task] if task else (os.listdir(os.path.join(self.ws, "jobs"))
                                     if os.path.isdir(os.path.join(self.ws, "jobs")) else [])
        for t in tasks:
            for d in self.job_dirs(t):
                st = self.state(d)
                if st is not None:
                    out[d] = st
        return out

    def the_state(self, task) -> dict:
        st = self.state(self.job_dir(task))
        assert st is not None, f"no state.json for {task}"
        return st

    def timestamp(self, job_dir, name) -> float:
        return float(read(os.path.join(job_dir, name)).strip())

    def check_small_done(self, launcher: str):
        """The small experiment ran to its end with ``launcher``: outputs and records."""
        for task, n in SMALL_TASKS.items():
            dirs = self.job_dirs(task)
            assert len(dirs) == n, (task, dirs)
            for d in dirs:
                st = self.state(d)
                assert st and st["status"] == "done", (d, st)
                assert st["launcher"] == launcher, st
                assert st.get("launcher_id"), st
                assert st.get("exit_code") == 0, st
        assert self.output("agg", "total.txt") == SMALL_TOTAL
        parts = sorted(read(os.path.join(d, "o.txt")) for d in self.job_dirs("part"))
        assert parts == ["10\n", "20\n", "30\n", "40\n"]
        if "XPM_T_ENV" in read(self.path("xpmbuild.toml")):
            for d in self.job_dirs("part"):       # [env] of the settings reached the jobs
                assert job_env(d).get("XPM_T_ENV") == ENV_VALUE, job_env(d)
        # the order held: the four after prepare, the aggregate after the four
        prep_end = self.timestamp(self.job_dir("prepare"), "t_end")
        starts = [self.timestamp(d, "t_start") for d in self.job_dirs("part")]
        ends = [self.timestamp(d, "t_end") for d in self.job_dirs("part")]
        assert min(starts) >= prep_end
        assert self.timestamp(self.job_dir("agg"), "t_start") >= max(ends)

    # ------------------------------------------------------------------ cleanup
    def active_cluster_jobs(self) -> list[tuple[str, str]]:
        """(launcher type, launcher id) of the jobs recorded as queued or running."""
        try:
            import tomllib
            with open(self.path("xpmbuild.toml"), "rb") as f:
                launchers = tomllib.load(f).get("launchers", {})
        except (OSError, ValueError, ImportError):
            launchers = {}
        out = []
        for st in self.states().values():
            if st.get("status") in ("queued", "running") and st.get("launcher_id"):
                name = st.get("launcher")
                kind = (launchers.get(name) or {}).get("type", name)
                out.append((kind, str(st["launcher_id"])))
        return out

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                kill_group(p.pid)
            try:
                p.communicate(timeout=10)
            except Exception:
                pass
        cancel_cluster_jobs(self.root, self.active_cluster_jobs())
        shutil.rmtree(self.root, ignore_errors=True)


def shadow_command(proj: Project, name: str, text: str) -> dict:
    """Put an executable ``name`` (``text``, a script) first on the project's PATH, in
    front of the real one (e.g. a wrapper that kills xpmbuild right after the real
    ``sbatch``); returns the environment as it was, to put back."""
    shim = os.path.join(proj.root, "kill-bin")
    write(os.path.join(shim, name), text.format(real=shutil.which(name)), dedent=False)
    os.chmod(os.path.join(shim, name), 0o755)
    env = proj.env
    proj.env = dict(env, PATH=shim + os.pathsep + env["PATH"])
    return env


@pytest.fixture
def cluster_project():
    """A factory of :class:`ClusterProject`; everything is cleaned up at teardown."""
    made: list[ClusterProject] = []

    def make(*args, **kw) -> ClusterProject:
        proj = ClusterProject(*args, **kw)
        made.append(proj)
        return proj
    yield make
    for proj in made:
        proj.cleanup()


# ---------------------------------------------------------------------- Slurm

def slurm_jobs(root: str) -> list[dict]:
    """Every Slurm job (array elements one by one) submitted from folder ``root`` (its WorkDir)
    that slurmctld still knows (finished jobs stay MinJobAge = 1 h)."""
    r = sh("squeue", "-h", "-r", "-t", "all", "-o", "%i|%A|%j|%T|%r|%Z")
    out = []
    for line in r.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 6 and parts[5] == root:
            out.append({"id": parts[0], "jobid": parts[1], "name": parts[2], "state": parts[3],
                        "reason": parts[4]})
    return out


def squeue_state(job_id: str) -> str | None:
    r = sh("squeue", "-h", "-r", "-t", "all", "-j", str(job_id).split("_")[0], "-o", "%i|%T",
           check=False)
    for line in r.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid == str(job_id):
            return state
    return None


def scontrol_job(job_id: str) -> dict[str, str]:
    """``scontrol show job -o ID`` as a dict (values without spaces are enough here)."""
    r = sh("scontrol", "show", "job", "-o", str(job_id))
    out = {}
    for word in r.stdout.split():
        key, sep, value = word.partition("=")
        if sep and key not in out:
            out[key] = value
    return out


def wait_slurm_ended(ids, timeout=120):
    """Wait until Slurm says each job id ended; return {id: state}."""
    def ended():
        states = {i: squeue_state(i) for i in ids}
        return states if all(s in TERMINAL_SLURM for s in states.values()) else None
    return wait_for(ended, timeout, 0.5, what=f"Slurm jobs {ids} to end")


# ---------------------------------------------------------------------- OAR

def oar_unfinished() -> dict[str, dict]:
    r = sh("oarstat", "-J", check=False)
    try:
        data = json.loads(r.stdout or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def oar_job(job_id: str) -> dict:
    r = sh("oarstat", "-f", "-J", "-j", str(job_id))
    return json.loads(r.stdout)[str(job_id)]


# ---------------------------------------------------------------------- cleanup

def cancel_cluster_jobs(root: str, recorded=()):
    """Cancel the Slurm and OAR jobs of the project in ``root`` still unfinished: those
    submitted from that folder, and ``recorded`` ((launcher type, id) from state.json)."""
    if shutil.which("squeue"):
        try:
            ids = {j["jobid"] for j in slurm_jobs(root) if j["state"] not in TERMINAL_SLURM}
            ids |= {lid for kind, lid in recorded if kind == "slurm"}
            if ids:
                sh("scancel", *sorted(ids), check=False)
        except Exception:
            pass
    if shutil.which("oarstat"):
        try:
            ids = [jid for jid, rec in oar_unfinished().items() if root in json.dumps(rec)]
            ids += [lid for kind, lid in recorded if kind == "oar" and lid not in ids]
            if ids:
                sh("oardel", *ids, check=False)
        except Exception:
            pass


def wait_state(proj: Project, task: str, pred, timeout=60, what=None, proc=None):
    """Wait until the state.json of ``task``'s only job satisfies ``pred``; return it.
    Fails early when the background xpmbuild ``proc`` ends."""
    def check():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"xpmbuild ended early (exit {proc.returncode})\n{out}\n{err}")
        dirs = proj.job_dirs(task)
        st = proj.state(dirs[0]) if len(dirs) == 1 else None
        return st if st and pred(st) else None
    return wait_for(check, timeout, 0.2, what=what or f"the state of {task}")


def elapsed(t0: float) -> float:
    return time.monotonic() - t0


# ---------------------------------------------------------------------- Slurm faults

SERVICES_DIR = os.path.join(HERE, "services")


def stop_slurmctld():
    """Stop the test cluster's slurmctld (by its recorded pid; the jobs stay in its state
    files and slurmd keeps running them); return once the process is gone."""
    pidfile = os.path.join(os.environ["XPM_SLURM_DIR"], "run", "slurmctld.pid")
    pid = int(read(pidfile).split()[0])
    os.kill(pid, 15)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, 0.1, what="slurmctld to stop")


def start_slurmctld():
    """Start slurmctld again (the project's up script restarts what is missing; no probe)."""
    env = dict(os.environ, XPM_SLURM_PROBE="0")
    r = subprocess.run(["bash", os.path.join(SERVICES_DIR, "slurm-up.sh")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


class slurm_outage:
    """``with slurm_outage():`` the controller is down inside the block, up again after."""

    def __enter__(self):
        stop_slurmctld()
        return self

    def __exit__(self, *exc):
        start_slurmctld()
        return False


def sacct_jobs(root: str) -> list[str]:
    """The Slurm job ids (array elements one by one) the accounting holds for the jobs
    submitted from folder ``root`` (their WorkDir)."""
    r = sh("sacct", "-n", "-P", "-X", "-a", "-S", "now-1days", "-o", "JobID,WorkDir")
    return sorted(line.split("|")[0] for line in r.stdout.splitlines()
                  if line.split("|")[1:2] == [root])


class CallLog:
    """A PATH shim in front of the real Slurm commands: each call is logged (time, argv)
    in a file and the real command exec'd. It counts calls; it fakes nothing."""

    def __init__(self, folder: str, commands=("squeue", "sacct", "sbatch", "scancel",
                                              "scontrol", "sinfo")):
        self.bin = os.path.join(folder, "shim-bin")
        self.log = os.path.join(folder, "cluster-calls.log")
        os.makedirs(self.bin, exist_ok=True)
        for c in commands:
            real = shutil.which(c)
            if real is None:
                continue
            path = os.path.join(self.bin, c)
            write(path, f'#!/bin/sh\necho "$(date +%s.%N) {c} $*" >> {self.log}\n'
                        f'exec {real} "$@"\n', dedent=False)
            os.chmod(path, 0o755)

    def env(self, env: dict) -> dict:
        return dict(env, PATH=self.bin + os.pathsep + env.get("PATH", os.environ["PATH"]))

    def calls(self, *commands) -> list[tuple[float, str, str]]:
        try:
            lines = read(self.log).splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            t, c, *rest = line.split(" ", 2)
            if not commands or c in commands:
                out.append((float(t), c, rest[0] if rest else ""))
        return out
