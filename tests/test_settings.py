"""Settings (TOML): the merge order (user file, then ``xpmbuild.toml`` next to the experiment,
then ``--settings FILE``, then command-line flags), ``[env]`` reaching the jobs, errors in a
settings file (exit 2 naming the file, the key and what was expected), and ``xpmbuild
launchers`` (lists the launchers, exit 1 when one cannot be reached). No service needed:
everything runs the real command line with the local launcher."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import XPMBUILD, Project, clean_env, describe, read, write  # noqa: E402

ENV_EXPERIMENT = """\
task show {
    output o = "env.txt"
    shell "echo A=$XPM_T_A B=$XPM_T_B C=$XPM_T_C N=$XPM_T_N > {o}"
}
show()
"""


class SettingsProject(Project):
    """A project whose user settings file is ``root/user.toml`` (through XPM_SETTINGS_USER)."""

    def __init__(self, root, xpm_text=ENV_EXPERIMENT, user=None, local=None, **kw):
        self.user_file = os.path.join(str(root), "user.toml")
        super().__init__(root, xpm_text, env=clean_env(XPM_SETTINGS_USER=self.user_file), **kw)
        if user is not None:
            write(self.user_file, user)
        if local is not None:
            write(self.path("xpmbuild.toml"), local)

    def cmd(self, *args, timeout=60, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(XPMBUILD + [str(a) for a in args], cwd=self.root,
                              env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def launchers(self, *args, expect=0, timeout=60) -> dict:
        r = self.cmd("launchers", "--file", self.file, "--json", *args, timeout=timeout)
        assert r.returncode == expect, describe(r)
        return {row["name"]: row for row in json.loads(r.stdout)["launchers"]} | {
            "_files": json.loads(r.stdout)["settings_files"]}


def test_merge_order_user_then_local_then_settings_option_then_flags(tmp_path):
    ws_user, ws_local = tmp_path / "ws-user", tmp_path / "ws-local"
    proj = SettingsProject(tmp_path, user=f"""\
        workspace = "{ws_user}"
        launcher = "mine"
        [env]
        XPM_T_A = "user"
        XPM_T_B = "user"
        XPM_T_C = "user"
        XPM_T_N = 1
        [launchers.mine]
        type = "local"
        cpus = 5
        [launchers.local]
        type = "local"
        cpus = 1
        """, local=f"""\
        workspace = "{ws_local}"
        [env]
        XPM_T_B = "local"
        XPM_T_C = "local"
        [launchers.local]
        cpus = 2
        """)
    cli = tmp_path / "cli.toml"
    write(cli, """\
        [env]
        XPM_T_C = "cli"
        XPM_T_N = 3
        [launchers.local]
        cpus = 3
        """)

    # tables merge key by key, later files win; `launcher` from the user file still applies
    r = proj.cmd("run", proj.file, "--settings", cli)
    assert r.returncode == 0, describe(r)
    assert not os.path.exists(ws_user)                    # the local file's workspace won
    (job_id,) = os.listdir(ws_local / "jobs" / "show")
    job = str(ws_local / "jobs" / "show" / job_id)
    assert read(os.path.join(job, "env.txt")) == "A=user B=local C=cli N=3\n"
    assert json.loads(read(os.path.join(job, "state.json")))["launcher"] == "mine"

    # the files as `launchers` reports them: in merge order, with the merged values
    rows = proj.launchers("--settings", cli)
    assert rows["_files"] == [proj.user_file, proj.path("xpmbuild.toml"), str(cli)]
    assert rows["local"]["detail"].startswith("3 cpu slots"), rows["local"]
    assert rows["mine"]["detail"].startswith("5 cpu slots"), rows["mine"]
    # without --settings, the experiment's xpmbuild.toml wins over the user file
    rows = proj.launchers()
    assert rows["_files"] == [proj.user_file, proj.path("xpmbuild.toml")]
    assert rows["local"]["detail"].startswith("2 cpu slots"), rows["local"]

    # command-line flags win over every file: -w and -l
    ws_flag = tmp_path / "ws-flag"
    r = proj.cmd("run", proj.file, "--settings", cli, "-w", ws_flag, "-l", "local", "--json")
    assert r.returncode == 0, describe(r)
    (node,) = json.loads(r.stdout)["nodes"]
    assert node["dir"].startswith(str(ws_flag) + os.sep), node
    assert json.loads(read(os.path.join(node["dir"], "state.json")))["launcher"] == "local"


def test_user_file_is_found_in_the_user_config_dir(tmp_path):
    # without XPM_SETTINGS_USER: platformdirs' user config dir (XDG_CONFIG_HOME on Linux)
    proj = Project(tmp_path, ENV_EXPERIMENT)
    env = clean_env(XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("XPM_SETTINGS_USER")
    write(tmp_path / "config" / "xpmbuild" / "settings.toml", """\
        [env]
        XPM_T_A = "a"
        XPM_T_B = "b"
        XPM_T_C = "c"
        XPM_T_N = 7
        """)
    proj.env = env
    doc = proj.run_json()
    (node,) = doc["nodes"]
    assert read(os.path.join(node["dir"], "env.txt")) == "A=a B=b C=c N=7\n"


def test_env_values_are_passed_as_they_are(tmp_path):
    # a value with spaces, quotes, dollars and backquotes reaches the job unchanged, never
    # re-evaluated by a shell (the cluster launchers' [env] is checked in their own tests)
    proj = SettingsProject(tmp_path, xpm_text="""\
        task show {
            output o = "env.txt"
            shell "printenv XPM_T_ODD > {o}"
        }
        show()
        """, local="""\
        [env]
        XPM_T_ODD = "a b 'c' \\"d\\" $HOME `x` ;"
        """)
    doc = proj.run_json()
    (node,) = doc["nodes"]
    assert read(os.path.join(node["dir"], "env.txt")) == """a b 'c' "d" $HOME `x` ;\n"""


# ---------------------------------------------------------------------- bad files

BAD = {
    # name: (file text, words the error must contain)
    "unknown top-level key": ('workspce = "/tmp/x"\n', ["workspce", "expected one of",
                                                        "workspace"]),
    "unknown launcher key": ('[launchers.gpu]\ntype = "slurm"\npartion = "debug"\n',
                             ["launchers.gpu", "partion", "partition"]),
    "unknown connector key": ('[connectors.login]\ntype = "ssh"\nhost = "h"\nhots = "x"\n',
                              ["connectors.login", "hots", "host"]),
    "wrong type": ('[launchers.local]\ncpus = "four"\n',
                   ["launchers.local.cpus", "expected an integer", "four"]),
    "bool for an integer": ('[launchers.local]\ncpus = true\n',
                            ["launchers.local.cpus", "expected an integer"]),
    "wrong type at top level": ('launcher = 3\n', ["launcher", "expected a string"]),
    "env not a scalar": ('[env]\nXPM_T_A = [1, 2]\n', ["env.XPM_T_A", "expected a string"]),
    "unknown launcher type": ('[launchers.x]\ntype = "pbs"\n',
                              ["launchers.x.type", "'slurm'", "'pbs'"]),
    "invalid TOML": ('[launchers.local\ncpus = 2\n', ["invalid TOML", "line 1"]),
}


@pytest.mark.parametrize("where", ["user", "local", "option"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_settings_file_exits_2_naming_file_key_and_expectation(tmp_path, case, where):
    text, words = BAD[case]
    proj = SettingsProject(tmp_path, user="", local="")
    bad = {"user": proj.user_file, "local": proj.path("xpmbuild.toml"),
           "option": str(tmp_path / "option.toml")}[where]
    write(bad, text, dedent=False)
    extra = ["--settings", bad] if where == "option" else []
    for args in (["run", proj.file, "-w", tmp_path / "ws"] + extra,
                 ["plan", proj.file, "-w", tmp_path / "ws"] + extra,
                 ["launchers", "--file", proj.file] + extra):
        r = proj.cmd(*args)
        assert r.returncode == 2, f"{args}\n{describe(r)}"
        assert bad in r.stderr, f"the error does not name {bad}\n{describe(r)}"
        for w in words:
            assert w in r.stderr, f"{w!r} missing\n{describe(r)}"
        assert "Traceback" not in r.stderr, describe(r)
    assert not os.path.exists(tmp_path / "ws")         # nothing ran


def test_missing_settings_option_file_exits_2(tmp_path):
    proj = SettingsProject(tmp_path)
    missing = tmp_path / "nope.toml"
    r = proj.cmd("run", proj.file, "-w", tmp_path / "ws", "--settings", missing)
    assert r.returncode == 2, describe(r)
    assert str(missing) in r.stderr and "not found" in r.stderr, describe(r)


def test_unknown_launcher_name_exits_2(tmp_path):
    proj = SettingsProject(tmp_path, local='[launchers.gpu]\ntype = "slurm"\n')
    r = proj.cmd("run", proj.file, "-w", tmp_path / "ws", "-l", "gpus")
    assert r.returncode == 2, describe(r)
    assert "gpus" in r.stderr and "gpu" in r.stderr, describe(r)


# ---------------------------------------------------------------------- xpmbuild launchers

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]        # nothing listens once the socket is closed


def test_launchers_lists_and_checks_reachability(tmp_path):
    port = closed_port()
    proj = SettingsProject(tmp_path, local=f"""\
        [launchers.local]
        cpus = 2
        [launchers.far]
        type = "slurm"
        partition = "debug"
        connector = "nowhere"
        [connectors.nowhere]
        type = "ssh"
        host = "127.0.0.1"
        port = {port}
        retries = 0
        options = ["ConnectTimeout=5", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"]
        """)
    rows = proj.launchers(expect=1)
    assert rows["local"]["reachable"] is True and rows["local"]["type"] == "local", rows
    far = rows["far"]
    assert far["reachable"] is False and far["type"] == "slurm", far
    assert far["connector"] == "nowhere", far
    assert "127.0.0.1" in far["detail"] and (str(port) in far["detail"] or
                                              "refused" in far["detail"]), far
    # the table for people: every launcher, and exit 1
    r = proj.cmd("launchers", "--file", proj.file)
    assert r.returncode == 1, describe(r)
    for word in ("local", "far", "nowhere", "slurm"):
        assert word in r.stdout, describe(r)

    # all reachable: exit 0
    write(proj.path("xpmbuild.toml"), "[launchers.local]\ncpus = 2\n", dedent=False)
    rows = proj.launchers(expect=0)
    assert rows["local"]["reachable"] is True
    assert rows["local"]["detail"].startswith("2 cpu slots"), rows
