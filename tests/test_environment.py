"""``experiments/NAME/runs/RUN/environment.json``: what each run of an experiment ran with
(launchers.md v1), through the real CLI, in a real git repository."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, describe  # noqa: E402

EXP = """\
task t {
    n: int
    output o = "o.txt"
    shell "echo {n} > {o}"
}
t(n=N)
"""


def environments(proj):
    paths = sorted(glob.glob(os.path.join(proj.ws, "experiments", "exp", "runs", "*",
                                          "environment.json")))
    return [json.load(open(p)) for p in paths]


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e"))


def test_each_run_records_its_environment_and_git_state(tmp_path):
    proj = Project(tmp_path, EXP.replace("N", "1"))
    proj.write(".gitignore", "ws/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    proj.run()
    (env,) = environments(proj)
    import platform
    import socket
    import xpmbuild
    assert env["host"] == socket.gethostname()
    assert env["python"] == platform.python_version()
    assert env["platform"] == platform.platform()
    assert env["xpmbuild"] == xpmbuild.__version__
    assert env["user"] and isinstance(env["time"], float)
    assert "lark" in {k.lower() for k in env["packages"]}, list(env["packages"])[:20]
    assert env["git"] == {"commit": head, "dirty": False}
    # a changed tracked file: the next run says dirty
    proj.write_xpm(EXP.replace("N", "2"))
    proj.run()
    envs = environments(proj)
    assert len(envs) == 2 and envs[1]["git"] == {"commit": head, "dirty": True}, envs[1]
    assert envs[1]["platform"] == platform.platform()        # (from the cache, the same)


def test_outside_a_repository_or_without_git_the_git_key_is_omitted(tmp_path):
    proj = Project(tmp_path / "plain", EXP.replace("N", "1"))
    proj.run()
    (env,) = environments(proj)
    assert "git" not in env
    proj = Project(tmp_path / "nogit", EXP.replace("N", "1"))
    proj.env["PATH"] = str(tmp_path / "empty-bin")
    r = proj.run()
    (env,) = environments(proj)
    assert "git" not in env and env["packages"], describe(r)


def test_a_dry_run_records_no_environment(tmp_path):
    proj = Project(tmp_path, EXP.replace("N", "1"))
    proj.plan()
    assert environments(proj) == []


def latest(proj):
    return max(environments(proj), key=lambda e: e["time"])


def _dist(folder, name, version):
    info = os.path.join(folder, f"{name}-{version}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def test_packages_installed_or_upgraded_between_runs_are_seen(tmp_path):
    """The package list is cached (reading ~150 distributions' metadata costs ~0.15 s a
    run) while no folder of sys.path changed; installing, upgrading or removing one
    changes its folder, and the next run lists what is there now."""
    site = tmp_path / "site"
    site.mkdir()
    cache = tmp_path / "cache"
    from buildutil import clean_env
    proj = Project(tmp_path / "p", EXP.replace("N", "1"),
                   env=clean_env(PYTHONPATH=os.pathsep.join([str(site)] + sys.path[1:]),
                                 XDG_CACHE_HOME=str(cache)))
    proj.run()
    assert "xpm-demo-dist" not in latest(proj)["packages"]
    info = _dist(site, "xpm_demo_dist", "1.0")                  # installed
    proj.write_xpm(EXP.replace("N", "2"))
    proj.run()
    assert latest(proj)["packages"].get("xpm_demo_dist") == "1.0"
    assert list((cache / "xpmbuild" / "environments").glob("*.json"))
    import shutil
    shutil.rmtree(info)                                           # upgraded
    _dist(site, "xpm_demo_dist", "2.0")
    proj.write_xpm(EXP.replace("N", "3"))
    proj.run()
    assert latest(proj)["packages"].get("xpm_demo_dist") == "2.0"
    # a damaged cache is read past
    for entry in (cache / "xpmbuild" / "environments").glob("*.json"):
        entry.write_text("{not json")
    proj.write_xpm(EXP.replace("N", "4"))
    proj.run()
    assert latest(proj)["packages"].get("xpm_demo_dist") == "2.0"


def test_the_package_cache_survives_new_files_in_the_project_folder(tmp_path):
    """The first folder of sys.path is the project's (``python -m``: the current folder),
    whose mtime moves with every file written there: the cache's key is made of the
    distributions' metadata folders only, so a run after writing files still takes the
    list from the cache (a marker put in the cached list shows it was used)."""
    cache = tmp_path / "cache"
    from buildutil import clean_env
    proj = Project(tmp_path / "p", EXP.replace("N", "1"),
                   env=clean_env(XDG_CACHE_HOME=str(cache)))
    proj.run()
    (path,) = (cache / "xpmbuild" / "environments").glob("*.json")
    doc = json.loads(path.read_text())
    doc["packages"]["xpm-cached-marker"] = "9"
    doc["platform"] = "marked-platform"
    path.write_text(json.dumps(doc))
    for i in range(3):                          # the project's folder changes
        proj.write(f"new{i}.txt", "x\n")
    proj.write_xpm(EXP.replace("N", "2"))
    proj.run()
    env = latest(proj)
    assert env["packages"].get("xpm-cached-marker") == "9"
    assert env["platform"] == "marked-platform"
