"""Launchers through the SSH connector, on a real OpenSSH server (tests/services/sshd-up.sh):
the local launcher on the ssh host (``remote``), Slurm submitted from the ssh host
(``slurmssh``), and a connection lost while jobs run (retried, never a job failure).

The ssh host is this machine (root@127.0.0.1), so the workspace has the same path on both
sides. The connection-loss test stops and restarts an sshd of its own (another state
directory and port, made with the same scripts), never the shared one.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcherutil import (HERE, SMALL, cluster_project, describe, job_env, read,  # noqa: E402,F401
                          require_service, wait_for, wait_state)

pytestmark = [pytest.mark.service]

SERVICES = os.path.join(HERE, "services")


def settings_for(ssh_config: str, alias: str, workspace: str) -> str:
    return f"""\
[launchers.remote]
type = "local"
connector = "box"
cpus = 2
poll = 2

[launchers.slurmssh]
type = "slurm"
connector = "box"
poll = 2

[connectors.box]
type = "ssh"
host = "{alias}"
config = "{ssh_config}"
workspace = "{workspace}"
"""


@pytest.fixture
def sshd():
    return require_service("sshd")


@pytest.fixture
def project(sshd, cluster_project):
    def make(xpm_text, config=None, alias=None, **kw):
        proj = cluster_project(xpm_text, prefix="xpm-ssh-", **kw)
        proj.write_settings(settings_for(config or sshd["XPM_SSHD_CONFIG"],
                                         alias or sshd.get("XPM_SSHD_ALIAS", "xpm-sshd"),
                                         proj.ws))
        return proj
    return make


def control_path() -> str:
    """The ControlPath the ssh connector uses (its %C is expanded by ssh itself)."""
    return os.path.join(tempfile.gettempdir(), f"xpmbuild-ssh-{os.getuid()}", "%C")


def master_pid(config: str, alias: str) -> int | None:
    r = subprocess.run(["ssh", "-F", config, "-o", f"ControlPath={control_path()}",
                        "-O", "check", alias], capture_output=True, text=True, timeout=10)
    m = re.search(r"pid=(\d+)", r.stderr + r.stdout)
    return int(m.group(1)) if m else None


def test_local_launcher_over_ssh(project, sshd):
    proj = project(SMALL)
    doc = proj.run_json("-l", "remote", timeout=120)
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    proj.check_small_done("remote")
    alias = sshd.get("XPM_SSHD_ALIAS", "xpm-sshd")
    for d, st in proj.states().items():
        # launcher_id names the ssh host and the job's pid there
        assert re.fullmatch(rf"{re.escape(alias)}:\d+", str(st["launcher_id"])), st
    # the jobs were started through the test sshd (they inherit its session's variables)
    for d in proj.job_dirs("part"):
        conn = job_env(d).get("SSH_CONNECTION", "")
        assert conn.split()[-1:] == [sshd["XPM_SSHD_PORT"]], (d, conn)
    # a second run is a no-op
    before = proj.states()
    doc = proj.run_json("-l", "remote", timeout=60)
    assert all(not n["will_run"] for n in doc["nodes"]), doc["nodes"]
    assert proj.states() == before


def test_slurm_through_ssh(project, sshd):
    require_service("slurm")
    proj = project(SMALL)
    doc = proj.run_json("-l", "slurmssh", timeout=180)
    assert all(n["status"] == "done" for n in doc["nodes"]), doc["nodes"]
    proj.check_small_done("slurmssh")
    ids = sorted(proj.state(d)["launcher_id"] for d in proj.job_dirs("part"))
    assert len({i.split("_")[0] for i in ids}) == 1 and all("_" in i for i in ids), ids
    for d in proj.job_dirs("part"):
        env = job_env(d)
        assert env.get("SLURM_JOB_ID"), env
        # sbatch ran in the ssh session (Slurm exports the submitter's environment)
        assert env.get("SSH_CONNECTION", "").split()[-1:] == [sshd["XPM_SSHD_PORT"]], env


# ---------------------------------------------------------------------- connection loss

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateSshd:
    """An sshd of this test only (own state directory and port), made by sshd-up.sh."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xpm-sshd-outage-", dir="/tmp")
        os.rmdir(self.dir)             # sshd-up.sh makes it (mode 755)
        self.port = free_port()
        self.env = dict(os.environ, XPM_SSHD_DIR=self.dir, XPM_SSHD_PORT=str(self.port))
        self.env.pop("XPM_SSHD_FRESH", None)
        self.env.pop("XPM_SSHD_USERS", None)
        self.env.pop("XPM_SSHD_USER", None)

    def up(self):
        r = subprocess.run(["bash", os.path.join(SERVICES, "sshd-up.sh")], env=self.env,
                           capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, describe(r)
        return r

    def down(self, purge=False):
        env = dict(self.env, XPM_SSHD_PURGE="1" if purge else "0")
        subprocess.run(["bash", os.path.join(SERVICES, "sshd-down.sh")], env=env,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    @property
    def config(self):
        return os.path.join(self.dir, "ssh_config")


@pytest.fixture
def private_sshd(sshd):
    server = PrivateSshd()
    server.up()
    yield server
    try:
        if os.path.exists(server.config):
            subprocess.run(["ssh", "-F", server.config, "-o", f"ControlPath={control_path()}",
                            "-O", "exit", "xpm-sshd"], capture_output=True, timeout=10)
    finally:
        server.down(purge=True)
        shutil.rmtree(server.dir, ignore_errors=True)
        try:
            os.unlink(server.dir + ".lock")      # sshd-up.sh's lock file
        except FileNotFoundError:
            pass


@pytest.mark.slow
def test_connection_loss_while_waiting_is_retried(project, private_sshd):
    proj = project("""\
        task nap {
            output o = "o.txt"
            shell "echo ran >> runs.log; sleep 14; echo slept > {o}"
        }
        task after {
            n: nap
            output o = "o.txt"
            shell "cat {n.o} > {o}"
        }
        after(n=nap())
        """, config=private_sshd.config, alias="xpm-sshd")
    p = proj.background("-l", "remote")
    st = wait_state(proj, "nap", lambda s: s.get("launcher_id") and s["status"] == "running",
                    60, proc=p, what="the job to run on the ssh host")
    host, _, pid = str(st["launcher_id"]).rpartition(":")
    assert host == "xpm-sshd" and os.path.exists(f"/proc/{pid}"), st
    master = wait_for(lambda: master_pid(private_sshd.config, "xpm-sshd"), 10,
                      what="the connector's ssh ControlMaster")

    # the network goes away: the multiplexed connection dies, the server stops answering
    t_down = time.monotonic()
    try:
        os.kill(master, 9)
        private_sshd.down()
        with socket.socket() as s:          # really closed
            assert s.connect_ex(("127.0.0.1", private_sshd.port)) != 0
        time.sleep(6)                        # polls (every 2 s at most) fail meanwhile
        assert p.poll() is None, "xpmbuild gave up while the host was unreachable\n" + \
            "".join(p.communicate())
        assert proj.the_state("nap")["status"] == "running", proj.the_state("nap")
    finally:
        private_sshd.up()                    # the network comes back
    outage = time.monotonic() - t_down

    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    final = proj.the_state("nap")
    assert final["status"] == "done", final
    assert final["launcher_id"] == st["launcher_id"], final      # the same process, waited on
    assert read(os.path.join(proj.job_dir("nap"), "runs.log")) == "ran\n"   # ran once
    assert proj.output("after", "o.txt") == b"slept\n"
    assert proj.the_state("after")["status"] == "done"
    # it said on screen that the host did not answer, while it waited
    assert "does not answer" in out + err, f"{out}\n{err}"
    # the connection came back through a new master
    new_master = master_pid(private_sshd.config, "xpm-sshd")
    assert new_master != master, (master, new_master)
    assert outage >= 6


# ---------------------------------------------------------------------- host keys

def spoil_known_hosts(server: PrivateSshd):
    """Replace the host key the client trusts for the server by another one: to the
    client, the host now presents a key that is not the one it knows (a mismatch)."""
    kh = os.path.join(server.dir, "known_hosts")
    other = os.path.join(server.dir, "other_host_key")
    if not os.path.exists(other):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other],
                       check=True, capture_output=True, timeout=30)
    pub = read(other + ".pub").split()
    hosts = read(kh).split()[0]
    with open(kh, "w") as f:
        f.write(f"{hosts} {pub[0]} {pub[1]}\n")


NAP = """\
task nap {
    output o = "o.txt"
    shell "echo ran >> runs.log; sleep 30; echo slept > {o}"
}
nap()
"""


def test_host_key_mismatch_before_a_run_is_an_error_at_once(project, private_sshd):
    spoil_known_hosts(private_sshd)
    proj = project(NAP, config=private_sshd.config, alias="xpm-sshd")
    t0 = time.monotonic()
    r = proj.run("-l", "remote", expect=1, timeout=120)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    # OpenSSH's own words, at once (not 5 retries with back-off)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out or \
        "Host key verification failed" in out, describe(r)
    assert took < 20, f"{took:.1f} s: retried instead of failing at once\n{describe(r)}"
    assert not os.path.exists(os.path.join(proj.job_dir("nap"), "runs.log"))   # never ran


@pytest.mark.slow
def test_host_key_mismatch_during_a_run_stops_it_with_openssh_message(project,
                                                                       private_sshd):
    proj = project(NAP, config=private_sshd.config, alias="xpm-sshd")
    p = proj.background("-l", "remote")
    st = wait_state(proj, "nap", lambda s: s.get("launcher_id") and s["status"] == "running",
                    60, proc=p, what="the job to run on the ssh host")
    pid = int(str(st["launcher_id"]).rpartition(":")[2])
    try:
        master = wait_for(lambda: master_pid(private_sshd.config, "xpm-sshd"), 10,
                          what="the connector's ssh ControlMaster")
        spoil_known_hosts(private_sshd)
        os.kill(master, 9)          # the next command makes a new connection: refused
        t0 = time.monotonic()
        out, err = p.communicate(timeout=120)
        took = time.monotonic() - t0
        assert p.returncode == 1, f"exit {p.returncode}\n{out}\n{err}"
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out + err or \
            "Host key verification failed" in out + err, f"{out}\n{err}"
        assert took < 60, took
        # the job is left as it is (running there), never recorded as failed or lost
        assert proj.the_state("nap")["status"] == "running", proj.the_state("nap")
    finally:
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_connection_lost_gives_up_after_the_bound_of_the_settings(project, private_sshd):
    proj = project(NAP, config=private_sshd.config, alias="xpm-sshd")
    text = read(proj.path("xpmbuild.toml")).split("\n[env]")[0]
    proj.write_settings(text + "give_up_after = 8\n")        # [connectors.box] is last
    p = proj.background("-l", "remote")
    st = wait_state(proj, "nap", lambda s: s.get("launcher_id") and s["status"] == "running",
                    60, proc=p, what="the job to run on the ssh host")
    pid = int(str(st["launcher_id"]).rpartition(":")[2])
    try:
        master = wait_for(lambda: master_pid(private_sshd.config, "xpm-sshd"), 10,
                          what="the connector's ssh ControlMaster")
        # the bound counts from the first unanswered command, which can come no earlier
        # than the connection's loss: time from before the kill (regression: t0 taken after
        # sshd's shutdown made the bound look short on a busy machine)
        t0 = time.monotonic()
        os.kill(master, 9)
        private_sshd.down()
        out, err = p.communicate(timeout=180)
        took = time.monotonic() - t0
        assert p.returncode == 1, f"exit {p.returncode}\n{out}\n{err}"
        assert "does not answer" in err and "giving up" in out + err, f"{out}\n{err}"
        assert took >= 8, took
        # left running there, for the next run to re-attach: never recorded lost
        assert proj.the_state("nap")["status"] == "running", proj.the_state("nap")
    finally:
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass
