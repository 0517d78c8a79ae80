"""What each job records of the resources it used (launchers.md, v1): ``state.json``'s
``resources`` = {"wall": s, "cpu": s, "max_rss": bytes}, measured by the watching xpmbuild
(wait4 of the job's wrapper) or, when no xpmbuild watches, by ``xpmbuild.finish``
(RUSAGE_CHILDREN of the wrapper it replaces by ``exec``); shown by ``jobs list`` and
``status``.
"""
from __future__ import annotations

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildutil import Project, alive, kill_group, wait_for, xpmbuild  # noqa: E402

# allocates and touches ~150 MB in a child process of the command (the rusage of reaped
# descendants counts), then burns CPU for a while
HOG = """\
task hog {
    output o = "o.txt"
    shell "python3 -c 'b = bytearray(150 * 1024 * 1024); b[::4096] = b\\"x\\" * len(b[::4096])'; python3 -c 'import time; t = time.process_time(); exec(\\"while time.process_time() - t < 0.3: pass\\")'; echo ok > {o}"
}
hog()
"""


def test_watched_job_records_wall_cpu_and_max_rss(tmp_path):
    proj = Project(tmp_path, HOG)
    proj.run()
    st = proj.state(proj.job_dir("hog"))
    res = st["resources"]
    assert set(res) == {"wall", "cpu", "max_rss"}, res
    assert res["max_rss"] >= 150 * 1024 * 1024, res
    assert res["cpu"] >= 0.3, res
    assert res["wall"] >= res["cpu"] * 0.5 and res["wall"] > 0.3, res
    # shown by `jobs list` (text and JSON) and `status`
    out = xpmbuild("jobs", "list", "-w", proj.ws, cwd=proj.root, env=proj.env)
    assert out.returncode == 0, out.stderr
    assert "MB" in out.stdout and "s cpu" in out.stdout, out.stdout
    doc = json.loads(xpmbuild("jobs", "list", "-w", proj.ws, "--json", cwd=proj.root,
                              env=proj.env).stdout)
    assert doc["nodes"][0]["resources"] == res
    out = xpmbuild("status", "-w", proj.ws, cwd=proj.root, env=proj.env)
    assert out.returncode == 0 and "cpu s" in out.stdout and "max rss" in out.stdout, out.stdout


ALONE = """\
task hog {
    output o = "o.txt"
    shell "until [ -e {here}/go ]; do sleep 0.05; done; python3 -c 'b = bytearray(120 * 1024 * 1024); b[::4096] = b\\"x\\" * len(b[::4096])'; echo ok > {o}"
}
hog()
"""


def test_job_measures_itself_when_xpmbuild_is_gone(tmp_path):
    proj = Project(tmp_path, ALONE)
    p = proj.popen()
    try:
        def running():
            dirs = proj.job_dirs("hog")
            st = proj.state(dirs[0]) if dirs else None
            return st if st and st.get("status") == "running" else None
        st = wait_for(running, 30, what="the job to be running")
        kill_group(p.pid, signal.SIGKILL)
        p.wait(10)
        proj.write("go", "")
        pid = st["launcher_id"]
        wait_for(lambda: not alive(pid), 30, what="the job to finish")
        d = proj.job_dir("hog")
        st = wait_for(lambda: (proj.state(d) or {}).get("status") == "done" and proj.state(d),
                      15, what="finish to record the job")
        res = st["resources"]
        assert res["max_rss"] >= 120 * 1024 * 1024, res
        assert res["cpu"] > 0 and res["wall"] > 0, res
    finally:
        if p.poll() is None:
            kill_group(p.pid)
